"""Run states only move forward: a finished run stays "done" whoever starts it again, whatever
happened to its status.json, and however many commands race on it (issue 25, part 1)."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from agents.config import make_config
from agents.run.status import HOLD_ENV

ROOT = Path(__file__).resolve().parents[2]
DMC = "dmc/cartpole-swingup"
OFFLINE = ["train.mode=offline", "offline.episodes=4", "offline.heldout=1",
           "offline.updates=6", "offline.eval_every=3"]
ONLINE = ["train.steps=100", "train.checkpoint_every=50", "train.eval_every=50",
          "train.threads=1"]


def status_of(directory: Path) -> dict:
    path = directory / "status.json"
    return json.loads(path.read_text()) if path.exists() else {}


def damage(directory: Path, how: str) -> None:
    path = directory / "status.json"
    if how == "missing":
        path.unlink()
    elif how == "garbage":
        path.write_text('{"state": "do')
    elif how == "running":  # a process that vanished after the last checkpoint
        path.write_text(json.dumps({"state": "running", "step": 0, "pid": dead_pid(),
                                    "host": socket.gethostname()}))
    elif how == "interrupted":
        path.write_text(json.dumps({"state": "interrupted", "step": 0,
                                    "error": "worker process exit code 130"}))


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def record_writes(monkeypatch, module) -> list[str]:
    """The states `module` writes to status.json from now on."""
    import agents.run.status

    states: list[str] = []
    original = agents.run.status.write_status

    def spy(out, state, **extra):
        states.append(state)
        original(out, state, **extra)

    monkeypatch.setattr(module, "write_status", spy)
    monkeypatch.setattr(agents.run.status, "write_status", spy)
    return states


@pytest.fixture(scope="module")
def offline_done(tmp_path_factory):
    """A finished offline run (copied by each test that damages it)."""
    from agents.train import train

    root = tmp_path_factory.mktemp("offline")
    os.environ["HD_DATASETS"] = str(root / "datasets")
    try:
        train(make_config("smoke", "metaworld/lever-pull", OFFLINE), root / "run",
              progress_bar=False)
    finally:
        del os.environ["HD_DATASETS"]
    assert status_of(root / "run")["state"] == "done"
    return root


@pytest.mark.slow
@pytest.mark.parametrize("how", [None, "missing", "garbage", "running", "interrupted"])
def test_offline_done_run_started_again_stays_done(offline_done, tmp_path, monkeypatch, how):
    """Starting a finished offline run again never writes "running"; it leaves "done" alone,
    or writes it back where status.json was lost, damaged or knocked back."""
    import agents.run.offline
    from agents.train import train

    shutil.copytree(offline_done, tmp_path, dirs_exist_ok=True)
    run = tmp_path / "run"
    monkeypatch.setenv("HD_DATASETS", str(tmp_path / "datasets"))
    before = status_of(run)
    if how:
        damage(run, how)
    metrics = (run / "metrics.jsonl").read_text()
    states = record_writes(monkeypatch, agents.run.offline)
    train(make_config("smoke", "metaworld/lever-pull", OFFLINE), run, progress_bar=False)
    assert "running" not in states
    after = status_of(run)
    assert after["state"] == "done" and after["step"] == 6
    assert after["reward_rmse_horizon"] == before["reward_rmse_horizon"]
    if how is None:
        assert after == before, "a done run's status is left alone"
    assert (run / "metrics.jsonl").read_text() == metrics


@pytest.fixture(scope="module")
def online_done(tmp_path_factory):
    from agents.train import train

    root = tmp_path_factory.mktemp("online")
    train(make_config("smoke", DMC, ONLINE), root / "run", progress_bar=False)
    assert status_of(root / "run")["state"] == "done"
    return root


@pytest.mark.slow
@pytest.mark.parametrize("how", [None, "missing", "garbage", "running"])
def test_online_done_run_started_again_stays_done(online_done, tmp_path, monkeypatch, how):
    import agents.run.loop
    import agents.train

    shutil.copytree(online_done, tmp_path, dirs_exist_ok=True)
    run = tmp_path / "run"
    before = status_of(run)
    if how:
        damage(run, how)
    states = record_writes(monkeypatch, agents.run.loop)
    agents.train.train(make_config("smoke", DMC, ONLINE), run, progress_bar=False)
    assert "running" not in states
    after = status_of(run)
    assert after["state"] == "done" and after["step"] == 100
    assert after["return"] == before["return"]
    if how is None:
        assert after == before


@pytest.mark.slow
def test_the_same_train_command_twice_leaves_it_done(offline_done, tmp_path):
    """The README's promise: starting the same agents.train command again does nothing."""
    shutil.copytree(offline_done, tmp_path, dirs_exist_ok=True)
    run = tmp_path / "run"
    before = status_of(run)
    cmd = [sys.executable, "-m", "agents.train", "--task", "metaworld/lever-pull", "--preset",
           "smoke", "--out", str(run), "--no-progress",
           *[a for s in OFFLINE for a in ("--set", s)]]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HD_DATASETS": str(tmp_path / "datasets")}
    env.pop(HOLD_ENV, None)
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert status_of(run) == before
    assert json.loads(proc.stdout)["reward_rmse_horizon"] == before["reward_rmse_horizon"]


# --- study.status and the executors -----------------------------------------------------------

# Two seeds of finding2 (w_r = 1, 100): four small offline runs that share one dataset.
RACE = ["finding2", "--preset", "smoke", "--seeds", "2", "--workers", "2",
        *[a for s in OFFLINE for a in ("--set", s)]]


def study_cmd(module, *args, results):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HD_DATASETS": str(results / "datasets")}
    env.pop(HOLD_ENV, None)
    return subprocess.Popen([sys.executable, "-m", module, *args, "--results", str(results),
                             *(["--no-progress"] if module == "study.run" else [])],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def index_runs(results):
    return [r["run_id"] for r in
            json.loads((results / "studies" / "finding2.json").read_text())["runs"]]


def eval_steps(directory):
    rows = [json.loads(line) for line in open(directory / "metrics.jsonl")]
    return [r["step"] for r in rows if r["split"] == "eval"]


def summary(out: str) -> dict[str, int]:
    """study.run's plan ('..., N running elsewhere ...') and last line ('<study>: N finished,
    M failed[, K left to another process training them]')."""
    line = out.strip().splitlines()[-1]
    counts = {"finished": 0, "failed": 0, "interrupted": 0, "left": 0}
    for part in line.split(":", 1)[1].split(","):
        n, word = part.split()[:2]
        counts[word] = int(n)
    for key, pattern in (("alive", r"(\d+) running elsewhere"), ("skipped", r"(\d+) done or")):
        found = re.search(pattern, out)
        counts[key] = int(found.group(1)) if found else 0
    return counts


@pytest.fixture(scope="module")
def raced(tmp_path_factory):
    """Two study.run commands started together on one results directory."""
    results = tmp_path_factory.mktemp("race")
    procs = [study_cmd("study.run", *RACE, results=results) for _ in range(2)]
    outputs = [p.communicate(timeout=900) for p in procs]
    return results, [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs,
                                                                         strict=True)]


@pytest.mark.slow
def test_two_study_runs_at_once_train_each_run_once_and_leave_it_done(raced):
    results, outputs = raced
    for code, out, err in outputs:
        assert code == 0, out + err
        assert "Traceback" not in err, err
    runs = index_runs(results)
    assert len(runs) == 4
    for run in runs:
        assert status_of(results / run)["state"] == "done", (run, status_of(results / run))
        assert eval_steps(results / run) == [3, 6], "trained once: no row twice"
    # Between them the two commands finished each run once, and each says what it did.
    counts = [summary(out) for _, out, _ in outputs]
    assert sum(c["finished"] for c in counts) == 4, [out for _, out, _ in outputs]
    assert all(c["finished"] + c["left"] + c["alive"] + c["skipped"] == 4 and not c["failed"]
               for c in counts)
    status = study_cmd("study.status", "finding2", results=results)
    out, err = status.communicate(timeout=300)
    assert "4 runs: 4 done" in out, out + err


@pytest.mark.slow
@pytest.mark.parametrize("how", ["missing", "garbage", "running", "interrupted"])
def test_study_status_repairs_a_done_run_from_its_record(raced, tmp_path, how):
    """A finished run whose status.json is lost, unreadable or knocked back (a process that
    vanished after its last checkpoint) shows as done, and its status.json is written back."""
    results, _ = raced
    shutil.copytree(results, tmp_path, dirs_exist_ok=True)
    victim = index_runs(tmp_path)[0]
    damage(tmp_path / victim, how)
    out, err = study_cmd("study.status", "finding2", results=tmp_path).communicate(timeout=300)
    assert "4 runs: 4 done" in out, out + err
    assert status_of(tmp_path / victim)["state"] == "done"
    again = study_cmd("study.run", *RACE, results=tmp_path)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0 and "0 to run" in out, out + err


@pytest.mark.slow
@pytest.mark.parametrize("how", ["missing", "garbage"])
def test_study_run_repairs_a_done_run_without_training_it(raced, tmp_path, how):
    """study.run (before study.status has looked) finds the run finished by its checkpoint:
    it writes "done" back and trains nothing."""
    results, _ = raced
    shutil.copytree(results, tmp_path, dirs_exist_ok=True)
    victim = index_runs(tmp_path)[0]
    damage(tmp_path / victim, how)
    metrics = (tmp_path / victim / "metrics.jsonl").read_text()
    again = study_cmd("study.run", *RACE, results=tmp_path)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, out + err
    assert status_of(tmp_path / victim)["state"] == "done"
    assert (tmp_path / victim / "metrics.jsonl").read_text() == metrics


def test_a_vanished_process_never_downgrades_a_done_run(tmp_path):
    """study.state.reconcile and the local executor's record of a dead worker: a run whose
    checkpoint says done is done, whatever its status.json says."""
    from agents.run import checkpoint
    from study.state import reconcile

    checkpoint.save(tmp_path / "ckpt.pt", {"progress": {"updates": 6, "done": True}})
    status = {"state": "running", "step": 3, "pid": dead_pid(), "host": socket.gethostname()}
    assert reconcile(tmp_path, status, {}).state == "done"
    assert reconcile(tmp_path, {**status, "state": "interrupted"}, {}).state == "done"
    slurm = {**status, "slurm_job_id": "77"}
    assert reconcile(tmp_path, slurm, {"77": "CANCELLED"}).state == "done"
    assert reconcile(tmp_path, slurm, {}).state == "done"
    assert reconcile(tmp_path, slurm, {"77": "RUNNING"}).state == "running"

    from study.grid import expand
    from study.local import _record_death

    run = expand("finding2", "smoke", 1, None, [])[0]
    directory = tmp_path / run.id
    directory.mkdir()
    shutil.copy(tmp_path / "ckpt.pt", directory / "ckpt.pt")
    (directory / "status.json").write_text(json.dumps(status))
    _record_death(run, tmp_path, SimpleNamespace(exitcode=130, pid=status["pid"]))
    assert status_of(directory)["state"] == "done"


def test_a_lost_status_is_rebuilt_from_the_checkpoint(tmp_path):
    """status.json lost beside an unfinished checkpoint: interrupted at its step (a re-run
    resumes it); beside a finished one: done with its last evaluation; no checkpoint: left."""
    from agents.run import checkpoint
    from agents.run.status import repair

    assert repair(tmp_path) is None and not (tmp_path / "status.json").exists()
    checkpoint.save(tmp_path / "ckpt.pt", {"progress": {"step": 50, "done": False}})
    assert repair(tmp_path)["state"] == "interrupted"
    assert status_of(tmp_path)["state"] == "interrupted" and status_of(tmp_path)["step"] == 50
    (tmp_path / "metrics.jsonl").write_text(
        '{"step": 100, "split": "eval", "return": 7.5}\n{"step": 100, "split": "train"}\n')
    checkpoint.save(tmp_path / "ckpt.pt", {"progress": {"step": 100, "done": True}})
    assert repair(tmp_path)["state"] == "done"
    assert status_of(tmp_path)["step"] == 100 and status_of(tmp_path)["return"] == 7.5
    assert repair(tmp_path) is None, "a done status is left alone"
