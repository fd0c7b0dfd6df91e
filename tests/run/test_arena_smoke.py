"""Every arena method (docs/arena.md) as a whole run: offline diagnostics and online RL with
DreamerV2, online RL with DreamerV3 (Atari; the offline diagnostics are Meta-world's, which the
discrete-action DreamerV3 here does not play: its world-model step is covered by
tests/algorithm/test_arena.py). Tiny runs, a few updates each; slow-marked (about 2 min)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agents.config import make_config
from agents.train import train
from study.specs import ARENA_METHODS

pytest.importorskip("torchjd", reason='the arena extra (pip install -e ".[arena]")')
pytestmark = pytest.mark.slow
METHODS = [name for _, name, _ in ARENA_METHODS]
OFFLINE = ["train.mode=offline", "offline.episodes=2", "offline.heldout=1",
           "offline.updates=2", "offline.eval_every=2", "env.episode_length=100"]
ONLINE_V2 = ["train.steps=60", "train.prefill=20", "train.pretrain=1", "train.train_every=20",
             "train.eval_every=60", "train.checkpoint_every=60"]
ONLINE_V3 = ["model.agent=dreamerv3", "train.steps=400", "train.prefill=100",
             "train.pretrain=1", "train.train_every=40"]
RUNS = {"dreamerv2-offline": ("metaworld/lever-pull", OFFLINE),
        "dreamerv2-online": ("dmc/cartpole-swingup", ONLINE_V2),
        "dreamerv3-online": ("atari/pong", ONLINE_V3)}


@pytest.mark.parametrize("run", list(RUNS))
def test_every_method_runs(run, tmp_path, monkeypatch):
    monkeypatch.setenv("HD_DATASETS", str(tmp_path / "datasets"))  # one dataset for all
    task, overrides = RUNS[run]
    for method in METHODS:
        cfg = make_config("smoke", task, [*overrides, f"weighting.name={method}",
                                          "train.threads=1"])
        out = tmp_path / method
        train(cfg, out, progress_bar=False)
        rows = pd.read_json(out / "metrics.jsonl", lines=True)
        updates = rows[rows["split"] == "train"].dropna(subset=["loss_obs"])
        assert len(updates) >= 1, method
        for col in ("loss_obs", "loss_rew", "loss_dyn", "weight_obs", "weight_rew"):
            assert np.isfinite(updates[col]).all(), (method, col)
