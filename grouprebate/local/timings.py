"""Where each date's time went: the closing line of a date and `run-timings.csv`."""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

TIMINGS_FILE = "run-timings.csv"


@dataclass
class DateResult:
    ds: dt.date
    state: str
    seconds: float
    tasks: dict[str, tuple[str, float]] = field(default_factory=dict)  # in start order

    def breakdown(self) -> str:
        """The date's closing line: its time, and each task's that took half a second or more."""
        timed = [(t, s) for t, (_, s) in self.tasks.items() if s >= 0.5]
        rest = self.seconds - sum(s for _, s in timed)
        parts = [f"{t} {s:.1f}s" for t, s in timed] + [f"other {rest:.1f}s"]
        return f"{self.state} in {self.seconds:.1f}s ({', '.join(parts)})"


def write_timings(path: Path, results: list[DateResult]) -> None:
    """One row per task instance of the dates run so far: where each date's time went."""
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["ds", "dag_run_seconds", "task", "state", "task_seconds"])
        for result in results:
            for task_id, (state, seconds) in result.tasks.items():
                writer.writerow([result.ds.isoformat(), f"{result.seconds:.2f}", task_id, state,
                                 f"{seconds:.2f}"])


def busiest_tasks(results: list[DateResult], count: int = 6) -> list[tuple[str, float]]:
    """The tasks that took the most time over all the dates, with their total seconds."""
    totals: dict[str, float] = {}
    for result in results:
        for task_id, (_, seconds) in result.tasks.items():
            totals[task_id] = totals.get(task_id, 0.0) + seconds
    return sorted(totals.items(), key=lambda kv: -kv[1])[:count]
