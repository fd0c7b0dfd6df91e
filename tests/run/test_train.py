"""End-to-end training on real environments: metrics, eval, checkpoints, resume, NaN."""

import functools
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from agents.config import make_config
from agents.run import checkpoint
from agents.run.loop import Trainer
from agents.train import train
from agents.update.learner import NonFiniteLossError

pytestmark = pytest.mark.slow
DMC = "dmc/cartpole-swingup"  # renders ~4x faster than Meta-world: keeps the suite short
FAST = ["train.steps=200", "train.checkpoint_every=50", "train.eval_every=50", "train.threads=1"]


def read_metrics(out):
    return pd.read_json(out / "metrics.jsonl", lines=True)


def test_smoke_run_metaworld(tmp_path):
    out = tmp_path / "run"
    cfg = make_config("smoke", "metaworld/lever-pull",
                      ["weighting.name=harmony", "train.threads=1", "train.steps=150"])
    result = train(cfg, out, progress_bar=False)
    assert set(result) >= {"success", "return"} and 0 <= result["success"] <= 1
    df = read_metrics(out)
    assert set(df["split"]) == {"train", "eval", "episode"}
    train_rows = df[df["split"] == "train"].dropna(subset=["loss_obs"])
    assert len(train_rows) >= 1
    for col in ("loss_obs", "loss_rew", "loss_dyn", "weight_obs", "weight_rew", "s_obs",
                "actor_loss", "critic_loss"):
        assert np.isfinite(train_rows[col]).all(), col
    # The observation loss dominates at 64x64x3, as the paper says.
    assert (train_rows["loss_obs"] > 10 * train_rows["loss_rew"]).all()
    assert df[df["split"] == "eval"]["step"].tolist() == [50, 100, 150]
    assert json.loads((out / "status.json").read_text())["state"] == "done"
    assert json.loads((out / "config.json").read_text())["weighting"]["name"] == "harmony"
    assert checkpoint.load(out / "ckpt.pt")["progress"]["done"]
    assert len(list((out / "replay").glob("ep_*.npz"))) == 3
    # Running it again does nothing and keeps the results.
    before = (out / "metrics.jsonl").read_bytes()
    train(cfg, out, progress_bar=False)
    assert (out / "metrics.jsonl").read_bytes() == before


def cli(out, *extra, task=DMC):
    return [sys.executable, "-m", "agents.train", "--task", task, "--preset", "smoke",
            "--out", str(out), "--no-progress", *[a for s in FAST for a in ("--set", s)], *extra]


@pytest.mark.parametrize("num_envs,task,steps", [
    (1, DMC, 400), (2, DMC, 400),
    # DreamerV3 on a real Atari game (episodes cut at 400 frames at smoke).
    (1, "atari/pong", 1200)])
def test_resume_after_sigkill(tmp_path, num_envs, task, steps):
    ref, out = tmp_path / "ref", tmp_path / "killed"
    # After the first checkpoint most of the run remains, seconds of work, so the kill half
    # a second later lands mid-run.
    envs = ("--set", f"env.num_envs={num_envs}", "--set", f"train.steps={steps}")
    if task.startswith("atari/"):  # chunked (100 agent steps): evaluations on its grid
        envs += ("--agent", "dreamerv3", "--set", "train.eval_every=400")
    command = functools.partial(cli, task=task)
    subprocess.run(command(ref, *envs), check=True, capture_output=True, timeout=600)
    expected = read_metrics(ref)

    proc = subprocess.Popen(command(out, *envs), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (out / "ckpt.pt").exists():
        assert time.time() < deadline and proc.poll() is None, "no checkpoint before exit"
        time.sleep(0.05)
    time.sleep(0.5)  # let it get past the checkpoint, into work that must be redone
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert json.loads((out / "status.json").read_text())["state"] == "running"
    assert not checkpoint.load(out / "ckpt.pt")["progress"]["done"]

    again = subprocess.run(command(out, *envs), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    got = read_metrics(out)
    for split in ("eval", "episode"):
        steps = got[got["split"] == split]["step"].tolist()
        assert steps == expected[expected["split"] == split]["step"].tolist(), split
        assert len(steps) == len(set(steps)) or num_envs > 1, f"duplicated {split} rows"
        if split == "episode" and task == DMC:  # N envs: N rows per round, none lost
            assert len(steps) == 400 // 50, steps
    assert json.loads((out / "status.json").read_text())["state"] == "done"


def test_nan_stops_run_and_keeps_last_checkpoint(tmp_path, poison_after_checkpoint):
    out = tmp_path / "nan"
    cfg = make_config("smoke", DMC, FAST)
    trainer = Trainer(cfg, out, progress_bar=False)
    saved = poison_after_checkpoint(trainer)
    with pytest.raises(NonFiniteLossError, match=r"non-finite rew loss .* at step \d+"):
        trainer.run()
    state = checkpoint.load(out / "ckpt.pt")
    assert saved and state["progress"]["step"] == saved[-1]
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "failed" and "rew" in status["error"]


def test_resume_refuses_a_different_config(tmp_path):
    from agents.config import ConfigError

    out = tmp_path / "run"
    Trainer(make_config("smoke", DMC, FAST), out, progress_bar=False).envs.close()
    with pytest.raises(ConfigError, match="different config"):
        Trainer(make_config("smoke", DMC, [*FAST, "weighting.w_r=100"]), out)
    # Another thread count is the same run.
    Trainer(make_config("smoke", DMC, [*FAST[:-1], "train.threads=2"]), out).envs.close()


def test_eval_offset_puts_evaluations_on_a_shifted_grid(tmp_path):
    cfg = make_config("smoke", DMC, [*FAST, "train.eval_every=100", "train.eval_offset=50"])
    train(cfg, tmp_path / "run", progress_bar=False)
    evals = read_metrics(tmp_path / "run").query("split == 'eval'")["step"].tolist()
    assert evals == [50, 150, 200]  # offset + k * every, and the end of the run


def test_chunked_run_evaluates_on_its_grid_and_ends_at_steps(tmp_path):
    """train.chunk (DreamerV3's train_eval): evaluation between chunks, mid-episode, in envs of
    its own, so the training episodes run on through it; the run stops at exactly `steps`."""
    out = tmp_path / "run"
    cfg = make_config("smoke", DMC, [*FAST, "env.episode_length=80", "train.chunk=50",
                                     "train.eval_initial=false"])
    train(cfg, out, progress_bar=False)
    df = read_metrics(out)
    # The official schedule: checks begin after the 100-step prefill; the first (at 100) says
    # eval_initial (false), then every 50 on the grid; none at the end (200).
    assert df.query("split == 'eval'")["step"].tolist() == [150]
    episodes = df.query("split == 'episode'")
    assert episodes["step"].tolist() == [80, 160]  # the one cut at 200 is dropped
    assert (episodes["length"] == 80).all()  # evaluation did not cut them short
    assert checkpoint.load(out / "ckpt.pt")["progress"]["step"] == 200
    assert len(list((out / "replay").glob("ep_*.npz"))) == 2
    # Whole-episode runs wait for the episode to end: evaluations come late, the run overshoots.
    whole = make_config("smoke", DMC, [*FAST, "env.episode_length=80",
                                       "train.eval_initial=false"])
    train(whole, tmp_path / "whole", progress_bar=False)
    assert read_metrics(tmp_path / "whole").query("split == 'eval'")["step"].tolist() == [
        80, 160, 240]


def test_chunk_must_fit_the_schedule():
    from agents.config import ConfigError

    with pytest.raises(ConfigError, match="train.chunk"):
        make_config("smoke", DMC, [*FAST, "train.chunk=25"])  # odd at action repeat 2
