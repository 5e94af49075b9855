"""Synthetic landing zone for a campaign (docs/rules.md §3), realistic and full of edge cases.

`generate` writes `<out>/<source>/ds=YYYY-MM-DD/part-NNNNN.jsonl[.gz]` for the nine
sources. The same (groups, seed, gzip) always gives the same bytes: every random
choice comes from a `random.Random` seeded by a string naming the seed and the user
pass or group index, nothing reads the clock, and gzip headers carry no name or mtime.
Work is cut into fixed blocks of users and of groups; worker processes generate
blocks in memory and the parent appends them, in block order, to per-(source, ds)
part files, so memory stays flat at any size and the bytes do not depend on the
number of workers. Within a block each partition gets a few malformed lines and id
conflicts, never more than half of quality.max_bad_row_rate (see demo/landing_files.py).

`skew=True` adds the benchmark's skew (demo/group.py): one hot item in about a quarter
of all shares, and one (group, item) pair shared all through the peak day. Off by
default, and off it draws no extra random number, so the bytes stay those of before.
"""

from __future__ import annotations

import multiprocessing
import os
import random
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from grouprebate.config import CampaignConfig, load_config
from grouprebate.contract import SOURCES
from grouprebate.demo.emit import Emitter
from grouprebate.demo.group import Campaign, GroupSim
from grouprebate.demo.landing_files import USERS, Calendar, Chunk, LandingFiles, Sink, to_ms
from grouprebate.demo.world import World, client_versions
from grouprebate.paths import DEFAULT_CONFIG

USER_BLOCK = 50_000
GROUP_BLOCK = 500
# (kind, first index, end index, seed, groups, config, skew): one block of work for a process.
Unit = tuple[str, int, int, int, int, CampaignConfig, bool]


def default_config() -> CampaignConfig:
    """The 2018 campaign; the generator needs its calendar and rules, never the draw seed."""
    return load_config(DEFAULT_CONFIG, need_seed=False)


def generate(out: Path, groups: int, seed: int, gzip: bool = False,
             config: CampaignConfig | None = None, *, workers: int | None = None,
             skew: bool = False) -> dict[str, Any]:
    """Write a campaign of `groups` groups into the empty landing directory `out` and
    return rows and bad lines per source. `workers` processes share the work (default:
    the CPU count); the bytes written do not depend on it. `skew` turns on the
    benchmark's skew knob (module docstring)."""
    if groups < 1:
        raise ValueError(f"groups must be at least 1, got {groups}")
    out = Path(out)
    taken = [name for name in SOURCES if (out / name).exists()]
    if taken:
        raise FileExistsError(
            f"{out} already holds landing data ({', '.join(taken)}); "
            "generate into a new directory or delete the old one first"
        )
    config = config or default_config()
    units = _units(groups, seed, config, skew)
    workers = max(1, min(workers or os.cpu_count() or 1, len(units)))
    files = LandingFiles(out, Calendar(config), gzip=gzip)
    try:
        for chunks in _results(units, workers):
            for chunk in chunks:
                files.write(chunk)
    finally:
        summary = files.close()
    return {"groups": groups, "seed": seed, "users": World.sizes(groups)[0], **summary}


def _units(groups: int, seed: int, config: CampaignConfig, skew: bool) -> list[Unit]:
    """Fixed-size blocks of users and of groups, in output order. Their size is a
    constant, so the output is the same whatever the number of workers."""
    n_users = World.sizes(groups)[0]
    users = [("users", lo, min(lo + USER_BLOCK, n_users), seed, groups, config, skew)
             for lo in range(0, n_users, USER_BLOCK)]
    return users + [("groups", lo, min(lo + GROUP_BLOCK, groups), seed, groups, config, skew)
                    for lo in range(0, groups, GROUP_BLOCK)]


def _results(units: list[Unit], workers: int) -> Iterator[list[Chunk]]:
    """Run the units, yielding their chunks in unit order; at most two units per worker
    are in flight, so memory stays bounded however fast the writer is."""
    if workers == 1:
        yield from map(_run_unit, units)
        return
    with multiprocessing.Pool(workers) as pool:
        pending: deque = deque()
        for unit in units:
            pending.append(pool.apply_async(_run_unit, (unit,)))
            if len(pending) >= 2 * workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


def _run_unit(unit: Unit) -> list[Chunk]:
    """Generate one block of users or groups into memory."""
    kind, lo, hi, seed, groups, config, skew = unit
    cal = Calendar(config)
    sink = Sink(cal, config)
    world = World(seed, groups, config, cal)
    emitter = Emitter(sink, cal)
    if kind == "users":
        _emit_users(world, emitter, seed, lo, hi)
    else:
        campaign = _campaign(config, cal, world, emitter, skew)
        for gi in range(lo, hi):
            emitter.rng = random.Random(f"{seed}:g:{gi}")
            GroupSim(campaign, gi, emitter.rng).run()
    return sink.drain()


def _campaign(config: CampaignConfig, cal: Calendar, world: World,
              emitter: Emitter, skew: bool) -> Campaign:
    new_versions, old_versions = client_versions(config.min_client_version)
    return Campaign(
        world=world, emitter=emitter, new_versions=new_versions, old_versions=old_versions,
        cal_start=cal.midnights[0], acc_start=to_ms(config.accumulation_start),
        acc_end=to_ms(config.accumulation_end), draw_open=to_ms(config.draw_open),
        window=config.claim_window_hours * 3_600_000, end=cal.end,
        freeze_day=cal.index(config.freeze_ds), last_day=cal.last,
        min_members=config.group_min_members, max_members=config.group_max_members,
        skew=skew,
    )


def _emit_users(world: World, em: Emitter, seed: int, lo: int, hi: int) -> None:
    """Every profile version of users lo..hi-1; first versions predate the calendar and
    arrive as a backfill on the first run dates."""
    em.rng = random.Random(f"{seed}:users:{lo}")
    for user in range(lo, hi):
        for t, gender, naughty in world.profiles(user):
            em.emit(USERS, f'{{"user_id":"u{user:09d}","gender":"{gender}",'
                    f'"naughty_value":{naughty},"valid_from":"{em.ts(t)}"}}', t)
