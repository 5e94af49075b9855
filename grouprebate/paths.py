"""Where a run keeps its state: one work directory, laid out the same everywhere."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO_ROOT / "config" / "xhq-2018.yaml"


@dataclass(frozen=True)
class RunPaths:
    landing: Path
    workdir: Path

    @property
    def lake(self) -> Path:
        return self.workdir / "lake"

    @property
    def warehouse(self) -> Path:
        return self.workdir / "warehouse.duckdb"

    @property
    def exports(self) -> Path:
        return self.workdir / "exports"

    @property
    def staging(self) -> Path:
        """Files built for publishing that a quality gate has yet to pass."""
        return self.workdir / "staging"

    @property
    def airflow_home(self) -> Path:
        return self.workdir / "airflow"

    @classmethod
    def from_env(cls) -> RunPaths:
        """The paths the DAG's tasks use: $GROUPREBATE_LANDING and $GROUPREBATE_WORKDIR."""
        missing = [n for n in ("GROUPREBATE_LANDING", "GROUPREBATE_WORKDIR") if n not in os.environ]
        if missing:
            raise RuntimeError(
                f"set {' and '.join(missing)} to the landing zone and the work directory"
            )
        return cls(Path(os.environ["GROUPREBATE_LANDING"]), Path(os.environ["GROUPREBATE_WORKDIR"]))


def config_path() -> Path:
    return Path(os.environ.get("GROUPREBATE_CONFIG", DEFAULT_CONFIG))
