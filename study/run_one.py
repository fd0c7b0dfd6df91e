"""The unit of work of every executor: run (or resume) one grid run in this process.

Studies share runs (equal configs are one run), so two `study.run` commands started at once
may both want the same run. A lock file in the run directory (flock) lets only one process
train it; the other is told so (with the holder's pid and host) and leaves the run alone; it
is the lock agents.train and agents.evaluate take (agents/run/lock.py). The run's state is
read again once the lock is held: a run another process finished meanwhile is not started
again (its status would say "running" for a moment, and the report would count it twice),
and a run whose checkpoint says done gets its lost or damaged status.json back without
training.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from agents.run import RunBusyError, RunFinishedError, run_lock
from study.grid import Run
from study.results import run_dir, write_provenance
from study.state import run_state

__all__ = ["THREAD_VARS", "RunBusyError", "RunFinishedError", "execute_run"]

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def execute_run(run: Run, results: str, threads: int) -> dict:
    """Run (or resume) one run; its status.json records how it ended."""
    from agents.run import describe, last_eval, read_status, repair, write_status
    from agents.train import train

    for var in THREAD_VARS:
        os.environ[var] = str(threads)
    os.environ["HD_STUDY"] = run.study  # W&B groups a study's runs (agents/run/outputs.py)
    run.config.train.threads = threads
    directory = run_dir(Path(results), run)
    directory.mkdir(parents=True, exist_ok=True)
    with run_lock(directory):
        if (read_status(directory) or {}).get("state") == "done":
            raise RunFinishedError(f"run {directory.name} was finished by another process; "
                                   "left as it is")
        repaired = repair(directory)
        if repaired and repaired["state"] == "done":  # status.json lost; the run was done
            print(f"run {directory.name} was already finished; status.json written back "
                  "from its checkpoint")
            return last_eval(directory)
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
