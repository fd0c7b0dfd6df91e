"""Faults a run must survive, injected for real: Ctrl-C and SIGTERM to the local executor, a
killed executor, corrupt checkpoints, a full disk, and bad input on every command line.

With $HD_HOLD_FILE present a run pauses right after each checkpoint, so a fault lands at a
known point of a run that cannot have finished.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from agents.run import checkpoint
from agents.run.status import HOLD_ENV

ROOT = Path(__file__).resolve().parents[2]
DMC = "dmc/cartpole-swingup"
GRID = ["finding2", "--preset", "smoke", "--seeds", "1", "--tasks", DMC, "--workers", "2",
        "--set", "train.mode=online", "--set", "train.steps=200",
        "--set", "train.checkpoint_every=50", "--set", "train.eval_every=50"]


def env_with(hold=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop(HOLD_ENV, None)
    if hold:
        env[HOLD_ENV] = str(hold)
    return env


def study(*args, results, hold=None, **kw):
    cmd = [sys.executable, "-m", "study.run", *args, "--results", str(results), "--no-progress"]
    return subprocess.Popen(cmd, cwd=ROOT, env=env_with(hold), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def statuses(results):
    runs = json.loads((results / "studies" / "finding2.json").read_text())["runs"]
    out = {}
    for r in runs:
        path = results / r["run_id"] / "status.json"
        out[r["run_id"]] = json.loads(path.read_text()) if path.exists() else {}
    return out


def wait_for(condition, what, timeout=300):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is a dead process its parent has not reaped yet
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def held_at_first_checkpoint(results):
    def ready():
        st = statuses(results) if (results / "studies" / "finding2.json").exists() else {}
        return len(st) == 2 and all(s.get("step") == 50 for s in st.values())
    wait_for(ready, "both runs to reach their first checkpoint")
    return {run: s["pid"] for run, s in statuses(results).items()}


def eval_steps(results, run_id):
    df = pd.read_json(results / run_id / "metrics.jsonl", lines=True)
    return df[df["split"] == "eval"]["step"].tolist()


def finish_and_check(results):
    proc = study(*GRID, results=results)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, out + err
    assert "2 to run" in out
    for run_id, st in statuses(results).items():
        assert st["state"] == "done"
        assert eval_steps(results, run_id) == [50, 100, 150, 200], "rows lost or duplicated"


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_to_local_executor_interrupts_and_resumes(tmp_path, sig):
    hold = tmp_path / "hold"
    hold.touch()
    proc = study(*GRID, results=tmp_path, hold=hold)
    pids = held_at_first_checkpoint(tmp_path)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert not [p for p in pids.values() if alive(p)], "no run process outlives the executor"
    for st in statuses(tmp_path).values():
        assert st["state"] == "interrupted" and st["step"] == 50
    status = subprocess.run([sys.executable, "-m", "study.status", "finding2", "--results",
                             str(tmp_path)], capture_output=True, text=True, cwd=ROOT).stdout
    assert "2 runs: 2 interrupted" in status
    hold.unlink()
    finish_and_check(tmp_path)


@pytest.mark.slow
def test_killed_executor_shows_as_interrupted_and_resumes(tmp_path):
    """SIGKILL to the whole executor (as the OOM killer or a lost session would): the runs'
    status.json still says running; study.status must not, and a re-run resumes them."""
    hold = tmp_path / "hold"
    hold.touch()
    proc = study(*GRID, results=tmp_path, hold=hold, start_new_session=True)
    pids = held_at_first_checkpoint(tmp_path)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    wait_for(lambda: not [p for p in pids.values() if alive(p)], "the run processes to die", 60)
    assert {s["state"] for s in statuses(tmp_path).values()} == {"running"}
    status = subprocess.run([sys.executable, "-m", "study.status", "finding2", "--results",
                             str(tmp_path)], capture_output=True, text=True, cwd=ROOT).stdout
    assert "2 runs: 2 interrupted" in status and "vanished" in status, status
    hold.unlink()
    finish_and_check(tmp_path)


@pytest.mark.slow
def test_killed_worker_is_recorded_and_the_others_go_on(tmp_path):
    hold = tmp_path / "hold"
    hold.touch()
    proc = study(*GRID, results=tmp_path, hold=hold)
    pids = held_at_first_checkpoint(tmp_path)
    victim, pid = sorted(pids.items())[0]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: statuses(tmp_path)[victim]["state"] == "interrupted", "the executor")
    assert "SIGKILL" in statuses(tmp_path)[victim]["error"]
    hold.unlink()
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 1 and "1 finished, 0 failed, 1 interrupted" in out, out + err
    finish_and_check_one = study(*GRID, results=tmp_path)
    out, _ = finish_and_check_one.communicate(timeout=600)
    assert "1 to run" in out
    for run_id in pids:
        assert eval_steps(tmp_path, run_id) == [50, 100, 150, 200]


def train_cli(out, *extra, hold=None):
    cmd = [sys.executable, "-m", "agents.train", "--task", DMC, "--preset", "smoke", "--out",
           str(out), "--no-progress", "--set", "train.steps=200", "--set", "train.threads=1",
           "--set", "train.checkpoint_every=50", "--set", "train.eval_every=50", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env_with(hold),
                          timeout=600)


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncate", "garbage", "both"])
def test_corrupt_checkpoint_falls_back(tmp_path, damage):
    out = tmp_path / "run"
    ref = train_cli(out)
    assert ref.returncode == 0, ref.stderr
    expected = eval_steps(tmp_path, "run")
    latest, prev = out / "ckpt.pt", checkpoint.previous(out / "ckpt.pt")
    assert checkpoint.load(prev)["progress"]["step"] == 150, "the previous checkpoint is kept"
    data = latest.read_bytes()
    latest.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x00junk" * 100)
    rows = (out / "metrics.jsonl").read_bytes()
    if damage == "both":
        prev.write_bytes(prev.read_bytes()[:100])
    else:  # killed after its last rows, before "done": the older checkpoint resumes it
        (out / "status.json").write_text(json.dumps({"state": "interrupted", "step": 200}))
    again = train_cli(out)
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr
    if damage == "both":  # a finished run is never retrained, whatever its checkpoints (#43)
        assert again.stderr.strip().endswith("nothing to do (--retrain trains it again, "
                                             "keeping the old record aside)"), again.stderr
        assert (out / "metrics.jsonl").read_bytes() == rows
    else:
        warnings = [ln for ln in again.stderr.splitlines() if ln.startswith("warning:")]
        assert warnings and all(str(out) in ln for ln in warnings)
        assert "previous checkpoint" in again.stderr
    assert eval_steps(tmp_path, "run") == expected
    assert json.loads((out / "status.json").read_text())["state"] == "done"


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_full_disk_fails_cleanly_and_keeps_the_checkpoint(small_disk):
    out = small_disk / "run"
    proc = train_cli(out, "--set", "train.steps=5000", "--set", "train.eval_every=5000")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no space left on device" in lines[0] and str(out) in lines[0]
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "failed" and "no space left" in status["error"]
    state = checkpoint.load(out / "ckpt.pt")  # the last good checkpoint is whole
    assert state["progress"]["step"] > 0 and not state["progress"]["done"]
    assert not [p for p in out.rglob("*") if ".tmp" in p.name], "no half-written files"


@pytest.mark.slow
def test_a_run_held_by_another_process_is_left_to_it(tmp_path):
    """Two study.run commands that share a run: only the one holding its lock trains it."""
    import fcntl

    from study.grid import expand

    runs = expand(*GRID[:1], preset="smoke", seeds=1, tasks=[DMC],
                  overrides=[GRID[i + 1] for i, a in enumerate(GRID) if a == "--set"])
    busy = tmp_path / runs[0].id
    busy.mkdir(parents=True)
    with open(busy / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a concurrent study.run would
        out, err = study(*GRID, results=tmp_path).communicate(timeout=600)
    assert "1 finished, 0 failed, 1 left to another process" in out, out + err
    assert "another process is training it" in out
    # Only its log (which says why) is written: no status, config, metrics or checkpoint.
    assert sorted(p.name for p in busy.iterdir()) == [".lock", "log.txt"]
    assert "another process" in (busy / "log.txt").read_text()
    assert statuses(tmp_path)[runs[1].id]["state"] == "done"


def test_replay_restore_survives_an_episode_write_cut_short(tmp_path):
    """A SIGKILL during an episode's write leaves ep_N.tmp.npz; resuming must not trip on it."""
    import numpy as np

    from agents.data.replay import Replay

    replay = Replay(tmp_path, 10_000, 5, True, np.random.default_rng(0))
    ep = {"image": np.zeros((6, 4, 4, 3), np.uint8), "state": np.zeros((6, 2), np.float32),
          "action": np.zeros((6, 1), np.float32), "reward": np.zeros(6, np.float32),
          "success": np.zeros(6, np.float32)}
    replay.add(ep)
    replay.add(ep)
    (tmp_path / "ep_000002.tmp.npz").write_bytes(b"PK\x03\x04 half a zip")
    again = Replay(tmp_path, 10_000, 5, True, np.random.default_rng(0))
    again.restore(1)
    assert len(again) == 1 and sorted(p.name for p in tmp_path.iterdir()) == ["ep_000000.npz"]
