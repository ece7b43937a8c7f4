"""One process per folder: the OS lock of a run, study or sweep folder, naming its holder when refused."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import Timeout, UnixFileLock

from optical.errors import OpticalError
from optical.store._atomic import atomic_write_json

_LOCK = ".lock"
_LOCK_OWNER = ".lock-owner.json"


class RunBusyError(OpticalError):
    """Another live process holds the run folder's lock."""


@contextmanager
def lock_run(path: Path) -> Iterator[None]:
    """Hold the OS lock of run (study, sweep) folder ``path`` (made if missing) for the ``with`` block.

    An fcntl lock: the kernel releases it when the holder exits, even on SIGKILL, so a killed run's leftover
    ``.lock`` file never blocks ``--resume``. A lock held by a live process raises RunBusyError at once, naming it.
    """
    path.mkdir(parents=True, exist_ok=True)
    lock = UnixFileLock(str(path / _LOCK), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise RunBusyError(
            f"{path}: in use by {_lock_owner(path)}; wait for it to finish or stop it, or pass another --run-id"
        ) from None
    try:
        atomic_write_json(path / _LOCK_OWNER, {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()})
        yield
    finally:
        lock.release()


def _lock_owner(path: Path) -> str:
    try:
        owner = json.loads((path / _LOCK_OWNER).read_text(encoding="utf-8"))
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(owner["since"]))
        return f"pid {owner['pid']} on {owner['host']} (since {since})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (its pid is not recorded yet)"
