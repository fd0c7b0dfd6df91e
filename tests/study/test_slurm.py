"""The SLURM executor against a real single-node cluster (slurm/cluster.sh), via submitit:
job arrays, scancel, time limits, preemption by requeue, failures, and many writers at once.

Faults are injected at known points: with $HD_HOLD_FILE present, a run pauses right after
each checkpoint, so a test cancels, requeues or times out a job that cannot have finished.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from agents.run.status import HOLD_ENV

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
ONLINE = ["--set", "train.mode=online", "--set", "train.checkpoint_every=50",
          "--set", "train.eval_every=50"]


@pytest.fixture(scope="module", autouse=True)
def cluster():
    script = ROOT / "slurm" / "cluster.sh"
    if shutil.which("sinfo") and subprocess.run(["bash", script, "status"],
                                                capture_output=True).returncode == 0:
        return
    if os.geteuid() != 0:
        pytest.skip("local SLURM cluster is not up and starting it needs root")
    proc = subprocess.run(["bash", script, "start"], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.skip(f"local SLURM cluster could not start: {proc.stderr.strip()[-300:]}")


def study_run(results, *args, timeout=900, hold=None):
    env = dict(os.environ)
    env.pop(HOLD_ENV, None)
    if hold:
        env[HOLD_ENV] = str(hold)
    return subprocess.run([sys.executable, "-m", "study.run", *args, "--executor", "slurm",
                           "--results", str(results), "--no-progress", "--cpus", "1"],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)


def study_status(results, study):
    return subprocess.run([sys.executable, "-m", "study.status", study, "--results",
                           str(results)], capture_output=True, text=True, cwd=ROOT).stdout


def runs_of(results, study):
    return json.loads((Path(results) / "studies" / f"{study}.json").read_text())["runs"]


def status_of(results, run_id):
    path = Path(results) / run_id / "status.json"
    return json.loads(path.read_text()) if path.exists() else {"state": "pending"}


def submitted(stdout):
    """{run id: job id} from the "submitted JOB: RUN ..." lines."""
    return {line.split()[2]: line.split()[1].rstrip(":") for line in stdout.splitlines()
            if line.startswith("submitted ")}


def wait_for(condition, what, timeout=300, every=0.2):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


def queue_empty(job_ids):
    return not subprocess.run(["squeue", "-h", "-j", ",".join(job_ids)], capture_output=True,
                              text=True).stdout.strip()


def start_if_requeued(job_id):
    """A requeued job waits ~2 minutes (BeginTime) before it may start again; let it start
    now, as an administrator would (the requeue itself is SLURM's and submitit's)."""
    out = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T %r"], capture_output=True,
                         text=True).stdout
    if "BeginTime" in out:
        subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"],
                       capture_output=True)
    return out


def eval_steps(results, run_id):
    df = pd.read_json(Path(results) / run_id / "metrics.jsonl", lines=True)
    return df[df["split"] == "eval"]["step"].tolist()


def test_job_array_completes(tmp_path):
    # finding2 runs offline world models below paper scale; these tests train online agents.
    proc = study_run(tmp_path, "finding2", "--preset", "smoke", "--seeds", "2", "--wait",
                     "--set", "train.steps=100", "--set", "train.mode=online")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("submitted ") == 4
    for row in runs_of(tmp_path, "finding2"):
        assert status_of(tmp_path, row["run_id"])["state"] == "done"
        assert eval_steps(tmp_path, row["run_id"]) == [50, 100]
    assert list((tmp_path / "slurm").glob("*_0/*_log.out")), "submitit logs kept in results"


def test_scancel_then_rerun_resumes(tmp_path):
    hold = tmp_path / "hold"
    hold.touch()
    args = ["finding2", "--preset", "smoke", "--seeds", "1", "--tasks", "dmc/cartpole-swingup",
            "--set", "train.steps=200", *ONLINE]
    proc = study_run(tmp_path, *args, hold=hold)  # no --wait: returns once queued
    assert proc.returncode == 0, proc.stderr
    jobs = submitted(proc.stdout)
    assert len(jobs) == 2
    victim = runs_of(tmp_path, "finding2")[0]["run_id"]
    # Held after its first checkpoint: it cannot finish before the cancel lands.
    wait_for(lambda: status_of(tmp_path, victim).get("step") == 50, "the first checkpoint")
    # SIGKILL: a hard stop, as a node failure would be; the rerun must resume from the checkpoint.
    subprocess.run(["scancel", "--signal=KILL", jobs[victim]], check=True)
    wait_for(lambda: queue_empty([jobs[victim]]), "the cancelled job to leave the queue")
    assert status_of(tmp_path, victim)["state"] == "running", "killed runs cannot say otherwise"
    status = study_status(tmp_path, "finding2")
    line = next(ln for ln in status.splitlines() if ln.startswith(victim))
    assert " interrupted " in line and "CANCELLED" in line, status
    hold.unlink()
    wait_for(lambda: queue_empty(list(jobs.values())), "the other job to finish")

    again = study_run(tmp_path, *args, "--wait")
    assert again.returncode == 0, again.stdout + again.stderr
    assert list(submitted(again.stdout)) == [victim], "only the cancelled run is submitted again"
    assert status_of(tmp_path, victim)["state"] == "done"
    assert eval_steps(tmp_path, victim) == [50, 100, 150, 200]
    assert "2 done" in study_status(tmp_path, "finding2")


def test_time_limit_signal_requeues_and_resumes(tmp_path):
    """A 1-minute job: SLURM sends --signal before the limit, submitit checkpoints and
    requeues, and the run resumes with exactly the evaluation rows of an uninterrupted run."""
    hold = tmp_path / "hold"
    hold.touch()
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"time": 1, "signal_delay": 30, "max_timeouts": 6}))
    args = ["finding2", "--preset", "smoke", "--seeds", "1", "--tasks", "dmc/cartpole-swingup",
            "--set", "train.steps=200", *ONLINE, "--profile", str(profile)]
    proc = study_run(tmp_path, *args, hold=hold)
    assert proc.returncode == 0, proc.stderr
    jobs = submitted(proc.stdout)
    # Held, the run outlives its time limit; the signal arrives, it records "interrupted"
    # (submitit's exit) and the job goes back to the queue.
    # (A signal that lands while a run is still starting leaves no status; its job is then
    # seen back in the queue, waiting for its begin time.)
    def signalled(run_id: str) -> bool:
        requeued = subprocess.run(["squeue", "-h", "-j", jobs[run_id], "-o", "%r"],
                                  capture_output=True, text=True).stdout
        return status_of(tmp_path, run_id)["state"] == "interrupted" or "BeginTime" in requeued

    wait_for(lambda: all(signalled(r) for r in jobs), "the time-limit signal", timeout=240,
             every=1)
    hold.unlink()

    def finished():
        for job in jobs.values():
            start_if_requeued(job)
        # The queue alone can read empty for a moment while a job is being requeued (its step
        # cancelled, the job not yet pending again): done also needs every run's own record.
        return queue_empty(list(jobs.values())) and all(
            status_of(tmp_path, r)["state"] in ("done", "failed") for r in jobs)

    wait_for(finished, "the requeued jobs to finish", timeout=400, every=1)
    logs = "".join(p.read_text() for p in (tmp_path / "slurm").rglob("*_log.err"))
    # The requeue shows in submitit's line or, when the requeue kills the step before that
    # line is flushed, in slurmstepd's; either way the job went back to the queue.
    requeued = "Requeued job" in logs or "DUE TO JOB REQUEUE" in logs
    assert "this job is timed-out" in logs and requeued, logs[-2000:]
    for run_id in jobs:
        assert status_of(tmp_path, run_id)["state"] == "done"
        assert eval_steps(tmp_path, run_id) == [50, 100, 150, 200]


def requeued_at_first_checkpoint(tmp_path, hold):
    """One finding2 run's job, held at its checkpoints (`hold`), requeued once its first
    checkpoint (step 50) is written: (jobs, the requeued run's id, its first process's pid)."""
    hold.touch()
    args = ["finding2", "--preset", "smoke", "--seeds", "1", "--tasks", "dmc/cartpole-swingup",
            "--set", "train.steps=200", *ONLINE]
    proc = study_run(tmp_path, *args, hold=hold)
    assert proc.returncode == 0, proc.stderr
    jobs = submitted(proc.stdout)
    victim = runs_of(tmp_path, "finding2")[0]["run_id"]
    wait_for(lambda: status_of(tmp_path, victim).get("step") == 50, "the first checkpoint")
    first_pid = status_of(tmp_path, victim)["pid"]
    subprocess.run(["scontrol", "requeue", jobs[victim]], check=True)
    return jobs, victim, first_pid


def test_requeue_preempts_and_resumes(tmp_path):
    """`scontrol requeue` on a running job (what preemption does): the job is killed and
    queued again, and the run resumes from its checkpoint with nothing duplicated or lost."""
    hold = tmp_path / "hold"
    jobs, victim, first_pid = requeued_at_first_checkpoint(tmp_path, hold)

    def restarted():
        start_if_requeued(jobs[victim])
        return status_of(tmp_path, victim)["pid"] != first_pid

    # Still held: the new instance resumes at step 50 and holds at its next checkpoint.
    wait_for(restarted, "the requeued job to start again", every=0.5)
    assert status_of(tmp_path, victim).get("step", 0) >= 50
    hold.unlink()
    wait_for(lambda: queue_empty(list(jobs.values())), "the jobs to finish", every=1)
    for run_id in jobs:
        assert status_of(tmp_path, run_id)["state"] == "done"
        assert eval_steps(tmp_path, run_id) == [50, 100, 150, 200]
    episodes = pd.read_json(tmp_path / victim / "metrics.jsonl", lines=True).query(
        "split == 'episode'")["step"].tolist()
    assert episodes == [50, 100, 150, 200], "no episode row duplicated or lost"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_failing_job_is_reported(tmp_path):
    # train.device=cuda passes validation but fails at run time on a CPU-only node.
    proc = study_run(tmp_path, "finding2", "--preset", "smoke", "--seeds", "1", "--wait",
                     "--tasks", "dmc/cartpole-swingup", "--set", "train.device=cuda",
                     "--set", "train.steps=100", "--set", "train.mode=online")
    assert proc.returncode == 1
    assert proc.stdout.count("failed ") >= 2 and "CUDA" in proc.stdout
    assert "2 failed" in study_status(tmp_path, "finding2")
    again = study_run(tmp_path, "finding2", "--preset", "smoke", "--seeds", "1",
                      "--tasks", "dmc/cartpole-swingup", "--set", "train.device=cuda",
                      "--set", "train.steps=100", "--set", "train.mode=online")
    assert "0 to run" in again.stdout, "failed runs wait for --retry-failed"


def test_sixteen_jobs_write_one_results_tree(tmp_path):
    """16 runs at once into one results tree: the study index, the statuses and
    analyses.load agree afterwards."""
    from analyses.load import load_study

    proc = study_run(tmp_path, "finding1", "--preset", "smoke", "--seeds", "4", "--wait",
                     "--tasks", "dmc/cartpole-swingup", "--set", "train.steps=50",
                     "--set", "train.prefill=20", "--set", "train.eval_every=50",
                     "--set", "train.mode=online")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = runs_of(tmp_path, "finding1")
    assert len(runs) == 16 and len(submitted(proc.stdout)) == 16
    assert "16 runs: 16 done" in study_status(tmp_path, "finding1")
    df = load_study(tmp_path, "finding1")
    assert set(df["run_id"]) == {r["run_id"] for r in runs}
    evals = df.query("split == 'eval' and metric == 'return'").groupby("run_id")["step"]
    assert evals.apply(list).tolist() == [[50]] * 16
    assert not list(tmp_path.rglob(".*.tmp")), "no temporary files left behind"


def test_a_requeued_job_is_refused_while_a_local_command_holds_its_run(tmp_path):
    """One writer per run (issue 43): a job requeued while a local command holds the run's
    lock does not train it; the refusal names the local holder, and the run is untouched."""
    hold = tmp_path / "hold"
    jobs, victim, first_pid = requeued_at_first_checkpoint(tmp_path, hold)

    holder_code = ("import sys, time\nfrom agents.run import run_lock\n"
                   "with run_lock(sys.argv[1]):\n    print('held', flush=True)\n"
                   "    time.sleep(600)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    local = None
    deadline = time.time() + 120
    while local is None:  # the killed instance lets go of the lock; the local command takes it
        probe = subprocess.Popen([sys.executable, "-c", holder_code, str(tmp_path / victim)],
                                 cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        if probe.stdout.readline().strip() == "held":
            local = probe
        else:
            probe.wait()
            assert time.time() < deadline, "the requeued job's lock was never released"
            time.sleep(0.5)
    try:
        rows = (tmp_path / victim / "metrics.jsonl").read_bytes()
        wait_for(lambda: (start_if_requeued(jobs[victim]) or True)
                 and queue_empty([jobs[victim]]), "the requeued job to be refused", every=1)
        logs = "".join(p.read_text() for p in (tmp_path / "slurm").rglob("*_log.err"))
        assert f"pid {local.pid} on {socket.gethostname()}" in logs, logs[-2000:]
        assert (tmp_path / victim / "metrics.jsonl").read_bytes() == rows, "nothing written"
        assert status_of(tmp_path, victim)["pid"] == first_pid
    finally:
        local.kill()
        local.wait()
        hold.unlink()
