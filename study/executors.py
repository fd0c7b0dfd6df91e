"""The unit of work of every executor: run (or resume) one grid run in this process.

Studies share runs (equal configs are one run), so two `study.run` commands started at once
may both want the same run. A lock file in the run directory (flock) lets only one process
train it; the other is told so and leaves the run alone.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from study.grid import Run
from study.results import run_dir, run_state, write_provenance

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


class RunBusyError(RuntimeError):
    """Another process holds this run; nothing was started or written."""


@contextmanager
def run_lock(directory: Path) -> Iterator[None]:
    """Hold the run's lock for the block, or raise RunBusyError at once."""
    with open(directory / ".lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunBusyError(f"run {directory.name} is being trained by another process; "
                               "left to it") from None
        yield


def execute_run(run: Run, results: str, threads: int) -> dict:
    """Run (or resume) one run; its status.json records how it ended."""
    from agents.status import describe, write_status
    from agents.train import train

    for var in THREAD_VARS:
        os.environ[var] = str(threads)
    run.config.train.threads = threads
    directory = run_dir(Path(results), run)
    directory.mkdir(parents=True, exist_ok=True)
    with run_lock(directory):
        write_provenance(directory, run)
        try:
            result = train(run.config, directory, progress_bar=False)
        except Exception as exc:
            # Failures before the training loop (bad device, env errors) must show up too.
            if run_state(directory)[0] != "failed":
                write_status(directory, "failed", error=describe(exc))
            raise
        write_provenance(directory, run, end_time=time.time())
    return result
