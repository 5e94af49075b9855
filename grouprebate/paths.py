"""Where a run keeps its state: one work directory, laid out the same everywhere."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO_ROOT / "config" / "xhq-2018.yaml"


class PathError(ValueError):
    """A landing zone or work directory a run must not use; the message says why."""


@dataclass(frozen=True)
class RunPaths:
    landing: Path
    workdir: Path

    @classmethod
    def checked(cls, landing: Path | str, workdir: Path | str) -> RunPaths:
        """Both resolved (symlinks and `..` followed), the landing zone an existing folder,
        and neither inside the other: a work directory in the landing zone would have its
        own files read as arrivals, a landing zone in the lake would be rewritten by it."""
        landing, workdir = Path(landing).resolve(), Path(workdir).resolve()
        if not landing.is_dir():
            raise PathError(f"{landing}: landing zone not found (or not a folder)")
        if workdir.exists() and not workdir.is_dir():
            raise PathError(f"{workdir}: the work directory is a file")
        if workdir == landing or workdir.is_relative_to(landing):
            raise PathError(f"{workdir}: the work directory must not be inside the landing "
                            f"zone {landing}")
        if landing.is_relative_to(workdir):
            raise PathError(f"{landing}: the landing zone must not be inside the work "
                            f"directory {workdir}")
        return cls(landing, workdir)

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
        return cls.checked(os.environ["GROUPREBATE_LANDING"], os.environ["GROUPREBATE_WORKDIR"])


def config_path() -> Path:
    return Path(os.environ.get("GROUPREBATE_CONFIG", DEFAULT_CONFIG))
