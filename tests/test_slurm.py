"""The SLURM executor against a real single-node cluster (slurm/cluster.sh), via submitit."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]


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


def study_run(results, *args, timeout=900):
    return subprocess.run([sys.executable, "-m", "study.run", *args, "--executor", "slurm",
                           "--results", str(results), "--no-progress", "--cpus", "1"],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def runs_of(results, study):
    return json.loads((Path(results) / "studies" / f"{study}.json").read_text())["runs"]


def state_of(results, run_id):
    path = Path(results) / run_id / "status.json"
    return json.loads(path.read_text())["state"] if path.exists() else "pending"


def test_job_array_completes(tmp_path):
    # finding2 runs offline world models below paper scale; these tests train online agents.
    proc = study_run(tmp_path, "finding2", "--preset", "smoke", "--seeds", "2", "--wait",
                     "--set", "train.steps=100", "--set", "train.mode=online")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("submitted ") == 4
    for row in runs_of(tmp_path, "finding2"):
        assert state_of(tmp_path, row["run_id"]) == "done"
        evals = pd.read_json(tmp_path / row["run_id"] / "metrics.jsonl", lines=True)
        assert evals.query("split == 'eval'")["step"].tolist() == [50, 100]
    assert list((tmp_path / "slurm").glob("*_0/*_log.out")), "submitit logs kept in results"


def test_scancel_then_rerun_resumes(tmp_path):
    args = ["finding2", "--preset", "smoke", "--seeds", "1", "--tasks", "dmc/cartpole-swingup",
            "--set", "train.steps=400", "--set", "train.checkpoint_every=50",
            "--set", "train.eval_every=50", "--set", "train.mode=online"]
    proc = study_run(tmp_path, *args)  # no --wait: returns once queued
    assert proc.returncode == 0, proc.stderr
    # "submitted JOB: RUN ...": cancel the job of the run we watch, not whichever comes first.
    jobs = dict(line.split()[1:3][::-1] for line in proc.stdout.splitlines()
                if line.startswith("submitted "))
    assert len(jobs) == 2
    victim = runs_of(tmp_path, "finding2")[0]["run_id"]
    job_ids = [jobs[victim].rstrip(":"), *(j.rstrip(":") for r, j in jobs.items() if r != victim)]
    deadline = time.time() + 300
    while not (tmp_path / victim / "ckpt.pt").exists():
        assert time.time() < deadline, "no checkpoint written"
        time.sleep(0.2)
    # SIGKILL: a hard stop, as a node failure would be; the rerun must resume from the checkpoint.
    subprocess.run(["scancel", "--signal=KILL", job_ids[0]], check=True)
    while subprocess.run(["squeue", "-h", "-j", ",".join(job_ids)], capture_output=True,
                         text=True).stdout.strip():
        assert time.time() < deadline + 300, "jobs did not leave the queue"
        time.sleep(1)
    assert state_of(tmp_path, victim) != "done", "the cancelled run must not have finished"
    steps_before = json.loads((tmp_path / victim / "status.json").read_text())["step"]

    again = study_run(tmp_path, *args, "--wait")
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("submitted ") == 1, "only the cancelled run is submitted again"
    assert state_of(tmp_path, victim) == "done"
    evals = pd.read_json(tmp_path / victim / "metrics.jsonl", lines=True).query("split == 'eval'")
    assert evals["step"].tolist() == [50 * i for i in range(1, 9)]
    assert steps_before < 400


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_failing_job_is_reported(tmp_path):
    # train.device=cuda passes validation but fails at run time on a CPU-only node.
    proc = study_run(tmp_path, "finding2", "--preset", "smoke", "--seeds", "1", "--wait",
                     "--tasks", "dmc/cartpole-swingup", "--set", "train.device=cuda",
                     "--set", "train.steps=100", "--set", "train.mode=online")
    assert proc.returncode == 1
    assert proc.stdout.count("failed ") >= 2 and "CUDA" in proc.stdout
    status = subprocess.run([sys.executable, "-m", "study.status", "finding2", "--results",
                             str(tmp_path)], capture_output=True, text=True, cwd=ROOT).stdout
    assert "2 failed" in status
