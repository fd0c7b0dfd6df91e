"""One writer per run (issue 43, class 2): agents.train, agents.evaluate (writing into the run)
and the executors take the same per-run lock; a second writer is refused at once, in one line
that names the holder's pid and host, and writes nothing."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agents.run.status import HOLD_ENV

ROOT = Path(__file__).resolve().parents[2]
DMC = "dmc/cartpole-swingup"
ONLINE = ["train.steps=100", "train.checkpoint_every=50", "train.eval_every=50",
          "train.threads=1"]
HOLDER = ("import sys, time\nfrom agents.run import run_lock\n"
          "with run_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(600)\n")


def env_with(hold=None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop(HOLD_ENV, None)
    if hold:
        env[HOLD_ENV] = str(hold)
    return env


def train_cmd(out: Path) -> list[str]:
    return [sys.executable, "-m", "agents.train", "--task", DMC, "--preset", "smoke", "--out",
            str(out), "--no-progress", *[a for s in ONLINE for a in ("--set", s)]]


@pytest.fixture
def holding():
    """holding(directory): a process that holds the run's lock until the test ends."""
    procs = []

    def hold(directory: Path) -> int:
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(directory)], cwd=ROOT,
                                env=env_with(), stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return proc.pid

    yield hold
    for proc in procs:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def online_done(tmp_path_factory):
    root = tmp_path_factory.mktemp("online")
    proc = subprocess.run(train_cmd(root / "run"), capture_output=True, text=True, cwd=ROOT,
                          env=env_with(), timeout=600)
    assert proc.returncode == 0, proc.stderr
    return root / "run"


def refused_naming(proc, pid: int) -> None:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 75, (proc.returncode, proc.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert f"pid {pid} on {socket.gethostname()}" in lines[0], lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("writer", ["train", "evaluate"])
def test_a_second_writer_is_refused_naming_the_holder(online_done, tmp_path, holding, writer):
    run = tmp_path / "run"
    shutil.copytree(online_done, run)
    (run / "status.json").write_text(json.dumps({"state": "interrupted", "step": 50}))
    before = sorted(p.name for p in run.iterdir())
    pid = holding(run)
    if writer == "train":
        cmd = train_cmd(run)
    else:
        cmd = [sys.executable, "-m", "agents.evaluate", str(run)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env_with(),
                          timeout=300)
    refused_naming(proc, pid)
    assert sorted(p.name for p in run.iterdir()) == before, "nothing written"
    assert json.loads((run / "status.json").read_text())["state"] == "interrupted"


@pytest.mark.slow
def test_evaluate_elsewhere_needs_no_lock(online_done, tmp_path, holding):
    """agents.evaluate --out outside the run writes nothing into it: no lock needed."""
    run = tmp_path / "run"
    shutil.copytree(online_done, run)
    holding(run)
    proc = subprocess.run([sys.executable, "-m", "agents.evaluate", str(run), "--out",
                           str(tmp_path / "table")], capture_output=True, text=True, cwd=ROOT,
                          env=env_with(), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert list((tmp_path / "table").glob("step_*.csv"))


def test_an_executor_is_refused_naming_the_holder(tmp_path, holding):
    """execute_run, which the local and SLURM executors call, takes the same lock."""
    from study.grid import expand
    from study.run_one import RunBusyError, execute_run

    run = expand("finding2", "smoke", 1, [DMC], ["train.mode=online", *ONLINE])[0]
    directory = tmp_path / run.id
    pid = holding(directory)
    with pytest.raises(RunBusyError, match=f"pid {pid} on {socket.gethostname()}"):
        execute_run(run, str(tmp_path), threads=1)
    assert not (directory / "status.json").exists() and not (directory / "config.json").exists()


@pytest.mark.slow
def test_two_train_commands_on_one_run_write_each_row_once(tmp_path):
    """Two agents.train on one --out: the second is refused while the first trains (held
    after its first checkpoint); the first finishes with every row once."""
    run, hold = tmp_path / "run", tmp_path / "hold"
    hold.touch()
    first = subprocess.Popen(train_cmd(run), cwd=ROOT, env=env_with(hold),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        while not (run / "ckpt.pt").exists():
            assert first.poll() is None and time.time() < deadline, first.communicate()
            time.sleep(0.2)
        second = subprocess.run(train_cmd(run), capture_output=True, text=True, cwd=ROOT,
                                env=env_with(), timeout=300)
        refused_naming(second, first.pid)
    finally:
        hold.unlink()
        out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    keys = [(r["step"], r["split"]) for r in rows]
    assert len(keys) == len(set(keys)), "no row written twice"
    assert [s for s, split in keys if split == "eval"] == [50, 100]
