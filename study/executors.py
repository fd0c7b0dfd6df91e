"""Executors: run a list of grid runs to completion. Each run resumes from its checkpoint."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

from study.grid import Run
from study.results import run_dir, write_provenance

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def execute_run(run: Run, results: str, threads: int) -> dict:
    """Run (or resume) one run in this process; the unit of work of every executor."""
    from agents.train import train

    for var in THREAD_VARS:
        os.environ[var] = str(threads)
    run.config.train.threads = threads
    directory = run_dir(Path(results), run)
    directory.mkdir(parents=True, exist_ok=True)
    write_provenance(directory, run)
    result = train(run.config, directory, progress_bar=False)
    write_provenance(directory, run, end_time=time.time())
    return result


def _worker_init(threads: int) -> None:
    for var in THREAD_VARS:
        os.environ[var] = str(threads)


def run_local(runs: list[Run], results: Path, workers: int, progress: bool = True) -> dict:
    """A pool of worker processes, one run each at a time, threads = cores / workers.

    Two runs that each take all cores slow each other down several-fold, so every worker gets
    its share of the cores. Ctrl-C stops the workers; runs resume from their checkpoints.
    """
    from tqdm import tqdm

    cores = os.cpu_count() or 1
    workers = max(1, min(workers, len(runs)))
    threads = max(1, cores // workers)
    outcome = {"done": 0, "failed": 0}
    if not runs:
        return outcome
    ctx = mp.get_context("spawn")  # fresh interpreters: no inherited GL or torch thread state
    bar = tqdm(total=len(runs), desc="runs", unit="run", disable=not progress)
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init,
                               initargs=(threads,))
    try:
        pending = {pool.submit(execute_run, run, str(results), threads): run for run in runs}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                run = pending.pop(future)
                error = future.exception()
                if error is None:
                    outcome["done"] += 1
                else:
                    outcome["failed"] += 1
                    bar.write(f"failed {run.id} ({run.task} {run.label} seed {run.seed}): "
                              f"{type(error).__name__}: {error}")
                bar.update(1)
                bar.set_postfix(outcome, refresh=False)
    except KeyboardInterrupt:
        bar.write("interrupted: stopping workers; re-run the same command to resume")
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        bar.close()
    pool.shutdown()
    return outcome
