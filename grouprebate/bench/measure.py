"""What the benchmark records of a stage: wall time, rows, peak resident memory of this
process and of the Spark JVM, and Spark's spill read back from its event log.

A stage may be measured in several windows (the calendar's ingest is one window per
date, with the landing gates between them); its figures add up (time, rows, spill) or
take the largest (memory) over its windows.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

GIB = 2**30


class PeakMemory:
    """Samples, in a thread, the RSS of this process and of its direct children (the Spark
    JVM, whose local executors are threads of the driver) and keeps the largest values.

    Grandchildren are left out: a process the JVM forks shares its pages until it execs,
    and a sample at that instant would count the JVM's memory twice.
    """

    INTERVAL_S = 0.2

    def __init__(self) -> None:
        self.python = self.jvm = self.total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self, me: psutil.Process) -> None:
        python = me.memory_info().rss
        jvm = 0
        for child in me.children():
            try:
                jvm += child.memory_info().rss
            except psutil.Error:  # a child that ended between the listing and the read
                pass
        self.python, self.jvm = max(self.python, python), max(self.jvm, jvm)
        self.total = max(self.total, python + jvm)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            self._sample(me)
            self._stop.wait(self.INTERVAL_S)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample(psutil.Process())  # a stage shorter than one interval still counts


@dataclass
class Stage:
    """One measured stage; `rows_of` says what its rows count (for rows per second)."""

    name: str
    rows_of: str = ""
    seconds: float = 0.0
    rows: int = 0
    python_rss: int = 0
    jvm_rss: int = 0
    total_rss: int = 0
    spill_disk: int = 0
    spill_memory: int = 0
    shuffle_write: int = 0
    windows: list[tuple[float, float]] = field(default_factory=list)

    def report(self, cores: int) -> dict:
        """The stage as it is written in the results (GiB, rates per core)."""
        return {
            "seconds": round(self.seconds, 2),
            "rows": self.rows,
            "rows_of": self.rows_of,
            "rows_per_s_per_core": (round(self.rows / self.seconds / cores)
                                    if self.seconds and self.rows else None),
            "peak_rss_gib": {"jvm": _gib(self.jvm_rss), "python": _gib(self.python_rss),
                             "total": _gib(self.total_rss)},
            "spill_gib": _gib(self.spill_disk),
            "spill_memory_gib": _gib(self.spill_memory),
            "shuffle_write_gib": _gib(self.shuffle_write),
            "windows": len(self.windows),
        }


def _gib(n: int) -> float:
    return round(n / GIB, 3)


@dataclass
class Window:
    """One measured block; its seconds are known once the block has ended."""

    seconds: float = 0.0


class Recorder:
    """The stages of one tier, by name, in the order they were first measured."""

    def __init__(self) -> None:
        self.stages: dict[str, Stage] = {}
        self.spill_disk = 0  # every task's, whichever stage it ran in

    def stage(self, name: str) -> Stage:
        if name not in self.stages:
            self.stages[name] = Stage(name)
        return self.stages[name]

    @contextmanager
    def measure(self, *names: str) -> Iterator[Window]:
        """Time the block and sample memory during it, for every named stage."""
        window = Window()
        with PeakMemory() as peak:
            started_wall, started = time.time(), time.perf_counter()
            yield window
            elapsed = window.seconds = time.perf_counter() - started
            ended_wall = time.time()
        for name in names:
            stage = self.stage(name)
            stage.seconds += elapsed
            stage.windows.append((started_wall, ended_wall))
            stage.python_rss = max(stage.python_rss, peak.python)
            stage.jvm_rss = max(stage.jvm_rss, peak.jvm)
            stage.total_rss = max(stage.total_rss, peak.total)

    def repeated(self, name: str) -> list[float]:
        """The stage's windows were runs of the same work: its time is their median.
        Returns each run's seconds."""
        stage = self.stage(name)
        runs = [end - start for start, end in stage.windows]
        stage.seconds = statistics.median(runs)
        return [round(run, 2) for run in runs]

    def add_rows(self, rows_of: str, rows: int, *names: str) -> None:
        for name in names:
            self.stage(name).rows_of = rows_of
            self.stage(name).rows += rows

    def add_spill(self, event_log: Path) -> None:
        """Spill and shuffle writes of every Spark task, credited to the stages whose
        windows hold the task's finish time."""
        for finished, spill_disk, spill_memory, written in task_metrics(event_log):
            self.spill_disk += spill_disk
            for stage in self.stages.values():
                if any(start <= finished <= end for start, end in stage.windows):
                    stage.spill_disk += spill_disk
                    stage.spill_memory += spill_memory
                    stage.shuffle_write += written


def task_metrics(event_log: Path) -> Iterator[tuple[float, int, int, int]]:
    """(finish time in epoch seconds, disk bytes spilled, memory bytes spilled, shuffle
    bytes written) of each finished task in a Spark event log (JSON lines, the format of
    Spark's history server)."""
    with event_log.open(encoding="utf-8") as lines:
        for line in lines:
            if '"SparkListenerTaskEnd"' not in line:
                continue
            event = json.loads(line)
            metrics = event.get("Task Metrics") or {}
            shuffle = metrics.get("Shuffle Write Metrics") or {}
            yield (event["Task Info"]["Finish Time"] / 1000,
                   metrics.get("Disk Bytes Spilled", 0), metrics.get("Memory Bytes Spilled", 0),
                   shuffle.get("Shuffle Bytes Written", 0))


def event_log_of(folder: Path) -> Path:
    """The one finished event log a bench process's Spark application wrote in folder."""
    logs = [p for p in folder.iterdir() if p.is_file() and not p.name.endswith(".inprogress")]
    if len(logs) != 1:
        raise RuntimeError(f"{folder}: expected one finished Spark event log, found "
                           f"{sorted(p.name for p in folder.iterdir())}; was the session "
                           "stopped before its spill was read?")
    return logs[0]
