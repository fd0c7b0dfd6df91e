"""The unit of work of every executor: run (or resume) one grid run in this process."""

from __future__ import annotations

import os
import time
from pathlib import Path

from study.grid import Run
from study.results import run_dir, run_state, write_provenance

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def execute_run(run: Run, results: str, threads: int) -> dict:
    """Run (or resume) one run; its status.json records how it ended."""
    from agents.status import describe, write_status
    from agents.train import train

    for var in THREAD_VARS:
        os.environ[var] = str(threads)
    run.config.train.threads = threads
    directory = run_dir(Path(results), run)
    directory.mkdir(parents=True, exist_ok=True)
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
