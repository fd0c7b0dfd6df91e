"""Executors: run a list of grid runs to completion. Each run resumes from its checkpoint."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

from study.grid import Run
from study.results import run_dir, run_state, write_provenance

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def execute_run(run: Run, results: str, threads: int) -> dict:
    """Run (or resume) one run in this process; the unit of work of every executor."""
    from agents.train import train, write_status

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
            write_status(directory, "failed", error=f"{type(exc).__name__}: {exc}")
        raise
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


def _submitit_job():
    import submitit

    class SlurmRun(submitit.helpers.Checkpointable):
        """On timeout or preemption submitit calls checkpoint(), which (by default) requeues
        this same call; the run then resumes from its own last checkpoint on disk."""

        def __call__(self, run: Run, results: str, threads: int) -> dict:
            return execute_run(run, results, threads)

    return SlurmRun()


def run_slurm(runs: list[Run], results: Path, options: dict, wait: bool,
              progress: bool = True) -> dict:
    """Submit the runs as one SLURM job array through submitit; optionally wait for them."""
    import submitit

    folder = Path(results).resolve() / "slurm" / "%j"  # %j = <array>_<task> for arrays
    executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
    cpus = int(options.get("cpus", 2))
    params = {"timeout_min": int(options.get("time", 60 * 24)), "cpus_per_task": cpus,
              "slurm_signal_delay_s": int(options.get("signal_delay", 90)),
              "slurm_array_parallelism": int(options.get("parallel", 64)),
              "name": options.get("name", "harmonydream")}
    for key, param in (("partition", "slurm_partition"), ("account", "slurm_account"),
                       ("mem_gb", "mem_gb"), ("gpus", "gpus_per_node")):
        if options.get(key) not in (None, ""):
            params[param] = options[key]
    executor.update_parameters(**params)
    job = _submitit_job()
    jobs = executor.map_array(job, runs, [str(Path(results).resolve())] * len(runs),
                              [cpus] * len(runs))
    for run, j in zip(runs, jobs, strict=True):
        print(f"submitted {j.job_id}: {run.id} {run.task} {run.label} seed {run.seed}")
    outcome = {"done": 0, "failed": 0, "job_ids": [j.job_id for j in jobs]}
    if not wait:
        return outcome
    from tqdm import tqdm

    for run, j in tqdm(list(zip(runs, jobs, strict=True)), desc="jobs", unit="job",
                       disable=not progress):
        try:
            j.result()
            outcome["done"] += 1
        except Exception as exc:  # submitit: FailedJobError, UncompletedJobError
            outcome["failed"] += 1
            # The run's own status names the error; submitit's message ends with a log path.
            state, detail = run_state(run_dir(Path(results), run))
            if state != "failed":
                detail = f"{type(exc).__name__} ({state}): {str(exc).strip()[:200]}"
            print(f"failed {j.job_id} ({run.id} {run.task} {run.label} seed {run.seed}): "
                  f"{detail}")
    return outcome
