"""The locks that keep two `grouprebate run`s apart: one per work directory, one per port.

Both are `flock` locks: the kernel drops them when the last process holding the file
open ends, however it ends, so a killed run never leaves a stale lock to clear by hand.
"""

from __future__ import annotations

import fcntl
import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

RUN_LOCK = ".run.lock"
PORT_TRIES = 50


class WorkdirInUse(RuntimeError):
    """Another `grouprebate run` holds the work directory."""


class NoFreePort(RuntimeError):
    """Every port tried for a Spark Connect server is reserved or in use."""


def _try_flock(path: Path, flags: int = os.O_RDWR) -> int | None:
    """An open file descriptor of path holding its exclusive lock, or None if it is held."""
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        fd = os.open(path, flags | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


@contextmanager
def workdir_locked(workdir: Path) -> Iterator[None]:
    """Hold WORKDIR/.run.lock for the whole run; refuse at once if another run holds it."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / RUN_LOCK
    fd = _try_flock(path)
    if fd is None:
        holder = path.read_text().strip() or "unknown"
        raise WorkdirInUse(
            f"{workdir} is in use by another grouprebate run (pid {holder}); wait for it to "
            "end, or give this run another --workdir")
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)


def port_lock_dir() -> Path:
    """Machine-wide, so runs of every work directory (and every user) see each other."""
    return Path(os.environ.get("GROUPREBATE_PORT_LOCK_DIR", tempfile.gettempdir()))


def _bindable(port: int) -> bool:
    """Nothing listens on the port (Spark Connect binds every interface)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("", port))
        except OSError:
            return False
    return True


@dataclass
class PortReservation:
    """A port held through `<port lock dir>/grouprebate-connect-<port>.lock`.

    `fd` is passed to the server, so the lock lives as long as the server does, even if
    the run that started it is killed.
    """

    port: int
    fd: int

    def release(self) -> None:
        os.close(self.fd)


def reserve_port(first: int, tries: int = PORT_TRIES) -> PortReservation:
    """The first port from `first` on that no other run has reserved and nothing listens on.

    Taking the lock before looking at the port makes check-then-start atomic between
    runs: a second run started a moment later finds the lock taken and moves on.
    """
    folder = port_lock_dir()
    for port in range(first, first + tries):
        # read-only: another user's lock file in /tmp can still be locked
        fd = _try_flock(folder / f"grouprebate-connect-{port}.lock", os.O_RDONLY)
        if fd is None:
            continue
        if _bindable(port):
            return PortReservation(port, fd)
        os.close(fd)
    raise NoFreePort(f"ports {first}-{first + tries - 1} are all reserved or in use; set "
                     "GROUPREBATE_CONNECT_PORT to the first port of a free range")
