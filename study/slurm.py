"""The SLURM executor: one submitit job array; timeouts and preemption requeue and resume."""

from __future__ import annotations

from pathlib import Path

from agents.run import holder
from study.grid import Run
from study.results import run_dir
from study.run_one import RunFinishedError, execute_run
from study.state import run_state


def _submitit_job():
    import submitit

    class SlurmRun(submitit.helpers.Checkpointable):
        """On the time-limit signal submitit calls checkpoint(), which (by default) requeues
        this same call; the run then resumes from its own last checkpoint on disk. A run
        killed without the signal (scancel, preemption by requeue) resumes the same way."""

        def __call__(self, run: Run, results: str, threads: int) -> dict:
            try:
                return execute_run(run, results, threads)
            except RunFinishedError:  # a requeued job, or another command, finished it
                return {}

    return SlurmRun()


def run_slurm(runs: list[Run], results: Path, options: dict, wait: bool,
              progress: bool = True) -> dict:
    """Submit the runs as one SLURM job array through submitit; optionally wait for them."""
    import submitit

    folder = Path(results).resolve() / "slurm" / "%j"  # %j = <array>_<task> for arrays
    # Requeues after the time-limit signal before giving up (preemptions are not counted).
    executor = submitit.AutoExecutor(folder=folder, cluster="slurm",
                                     slurm_max_num_timeout=int(options.get("max_timeouts", 3)))
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
    outcome = {"done": 0, "failed": 0, "elsewhere": 0, "job_ids": [j.job_id for j in jobs]}
    if not wait:
        return outcome
    from tqdm import tqdm

    for run, j in tqdm(list(zip(runs, jobs, strict=True)), desc="jobs", unit="job",
                       disable=not progress):
        try:
            j.result()
            outcome["done"] += 1
        except Exception as exc:  # submitit: FailedJobError, UncompletedJobError
            if "RunBusyError" in str(exc):  # another process trains it: not a failure
                outcome["elsewhere"] += 1
                who = holder(run_dir(Path(results), run))
                print(f"skipped {j.job_id} ({run.id}): {who} is training it")
                continue
            outcome["failed"] += 1
            # The run's own status names the error; submitit's message ends with a log path.
            state, detail = run_state(run_dir(Path(results), run))
            if state != "failed":
                detail = f"{type(exc).__name__} ({state}): {str(exc).strip()[:200]}"
            print(f"failed {j.job_id} ({run.id} {run.task} {run.label} seed {run.seed}): "
                  f"{detail}")
    return outcome
