"""One writer per run: a lock file in the run directory (flock), which agents.train,
agents.evaluate (when it writes into the run) and every executor take. A second writer is
refused at once, in one line naming the holder's pid and host (written into the lock file).

The lock is re-entrant within a process: an executor holds it and then calls agents.train's
`train`, which takes it again (flock locks belong to an open file, so a second open in the
same process would otherwise wait on itself).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_NAME = ".lock"
_held: dict[Path, int] = {}  # run directories this process holds: how many times


class RunBusyError(RuntimeError):
    """Another process holds this run; nothing was started or written."""


class RunFinishedError(RunBusyError):
    """Another process finished this run after this command planned it; nothing was written."""


def holder(directory: Path) -> str:
    """Who holds the run's lock, as written by the holder ("pid 12 on node1")."""
    try:
        who = json.loads((Path(directory) / LOCK_NAME).read_text())
        return f"pid {int(who['pid'])} on {who['host']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextmanager
def run_lock(directory: str | Path) -> Iterator[None]:
    """Hold the run's lock for the block (making the directory), or raise RunBusyError at
    once."""
    directory = Path(directory).absolute()
    if directory in _held:
        _held[directory] += 1
        try:
            yield
        finally:
            _held[directory] -= 1
        return
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK_NAME, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunBusyError(f"run {directory} is being written by {holder(directory)}; "
                               "left to it") from None
        lock.seek(0)
        lock.truncate()
        lock.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
        lock.flush()
        _held[directory] = 1
        try:
            yield
        finally:
            del _held[directory]
