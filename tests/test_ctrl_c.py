"""Ctrl-C anywhere (issue 43, class 7): study.report (and its notebook kernel), agents.evaluate
and agents.bench print one line, exit 130 and leave no half-written report or file.

Each command runs in its own session; the test sends SIGINT to its whole process group, as a
terminal's Ctrl-C does, once the command is past its imports and at work."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agents.run.status import HOLD_ENV

ROOT = Path(__file__).resolve().parents[1]
OFFLINE = ["train.mode=offline", "offline.episodes=4", "offline.heldout=1",
           "offline.updates=6", "offline.eval_every=3"]
ONLINE = ["train.steps=100", "train.checkpoint_every=50", "train.eval_every=50",
          "train.threads=1"]


def env() -> dict:
    environ = {**os.environ, "PYTHONPATH": str(ROOT)}
    environ.pop(HOLD_ENV, None)
    return environ


def start(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=kw.get("env", env()),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def wait_until(condition, proc, what: str, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert proc.poll() is None, f"ended before {what}: {proc.communicate()}"
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def interrupted_in_one_line(proc: subprocess.Popen, sig_target: int | None = None) -> str:
    """SIGINT to the process group (or to `sig_target` alone, again until it ends); the
    command's stderr, checked to be one line and exit 130."""
    if sig_target is None:
        os.killpg(proc.pid, signal.SIGINT)
    else:
        while proc.poll() is None:
            try:
                os.kill(sig_target, signal.SIGINT)
            except ProcessLookupError:
                break
            time.sleep(0.5)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (proc.returncode, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted"), err
    return err


@pytest.fixture(scope="module")
def online_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("online") / "run"
    proc = subprocess.run([sys.executable, "-m", "agents.train", "--task",
                           "dmc/cartpole-swingup", "--preset", "smoke", "--out", str(run),
                           "--no-progress", *[a for s in ONLINE for a in ("--set", s)]],
                          cwd=ROOT, env=env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return run


@pytest.mark.slow
def test_ctrl_c_in_evaluate_is_one_line_and_writes_nothing(online_run):
    proc = start("agents.evaluate", str(online_run), "--episodes", "40", "--set",
                 "env.num_envs=2")
    wait_until(lambda: children(proc.pid), proc, "the env workers")  # past the imports
    time.sleep(1)
    interrupted_in_one_line(proc)
    assert not (online_run / "evaluate").exists() or not list(
        (online_run / "evaluate").iterdir()), "no table, no half-written file"


@pytest.mark.slow
def test_ctrl_c_in_bench_is_one_line_and_writes_no_json(tmp_path):
    proc = start("agents.bench", "--rows", "env", "--env-steps", "100000", "--json",
                 str(tmp_path / "bench.json"))
    assert proc.stdout.readline().startswith("date "), "the header: past the imports"
    time.sleep(1)
    interrupted_in_one_line(proc)
    assert not list(tmp_path.iterdir()), "no --json, no temporary file"


@pytest.fixture(scope="module")
def finding2_results(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    environ = {**env(), "HD_DATASETS": str(results / "datasets")}
    proc = subprocess.run([sys.executable, "-m", "study.run", "finding2", "--preset", "smoke",
                           "--seeds", "1", "--results", str(results), "--no-progress",
                           *[a for s in OFFLINE for a in ("--set", s)]],
                          cwd=ROOT, env=environ, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return results


@pytest.mark.slow
@pytest.mark.parametrize("who", ["terminal", "kernel"])
def test_ctrl_c_in_report_is_one_line_and_leaves_no_report(finding2_results, tmp_path, who):
    """Ctrl-C at the terminal (the command and its kernel), or an interrupt of the notebook
    kernel alone: one line, exit 130, and neither a report nor a half-written file."""
    out = tmp_path / "report"
    earlier = out / "finding2.html"
    out.mkdir()
    earlier.write_text("an earlier report")
    proc = start("study.report", "finding2", "--results", str(finding2_results), "--out",
                 str(out), "--reps", "100", "--no-progress")

    def kernel() -> list[int]:
        return [c for c in children(proc.pid)
                if b"ipykernel" in Path(f"/proc/{c}/cmdline").read_bytes()]

    wait_until(kernel, proc, "the notebook kernel")
    time.sleep(2)
    interrupted_in_one_line(proc, kernel()[0] if who == "kernel" else None)
    assert earlier.read_text() == "an earlier report", "the earlier report is left as it was"
    assert sorted(p.name for p in out.iterdir()) == ["finding2.html"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no staging left"
