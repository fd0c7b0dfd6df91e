"""Offline world-model diagnostics: scripted-expert datasets and world-model-only training."""

import json

import numpy as np
import pytest

from agents import experts
from agents.config import ConfigError, make_config
from agents.envs import make_env
from agents.train import train

SMALL = ["train.mode=offline", "offline.episodes=4", "offline.heldout=1",
         "offline.updates=6", "offline.eval_every=3"]


def test_expert_solves_lever_pull_through_our_env():
    # The expert reads our env's state vector: a noiseless episode must succeed.
    env = make_env("metaworld/lever-pull", 64, 500, 1)
    try:
        ep = experts.collect_episode(env, experts.expert_policy("metaworld/lever-pull"), 0.0, 1)
    finally:
        env.close()
    assert ep["success"].max() == 1.0
    assert ep["image"].shape == (501, 64, 64, 3) and ep["state"].shape == (501, 39)


def test_dataset_is_cached_and_keyed_by_its_settings(tmp_path):
    cfg = make_config("smoke", "metaworld/lever-pull", SMALL)
    episodes = experts.load_or_collect(cfg, tmp_path, progress=False)
    assert len(episodes) == 4
    assert {experts.noise_level(cfg, i) for i in range(4)} == {0.0, 0.5, 1.0}
    files = sorted((tmp_path / experts.dataset_key(cfg)).glob("ep_*.npz"))
    stamps = [f.stat().st_mtime_ns for f in files]
    again = experts.load_or_collect(cfg, tmp_path, progress=False)
    assert [f.stat().st_mtime_ns for f in files] == stamps, "collected twice"
    for a, b in zip(episodes, again, strict=True):
        assert np.array_equal(a["image"], b["image"])
    other = make_config("smoke", "metaworld/lever-pull", [*SMALL, "offline.noise_pct=0,20"])
    assert experts.dataset_key(other) != experts.dataset_key(cfg)
    train_eps, heldout = experts.split(cfg, episodes)
    assert len(train_eps) == 3 and len(heldout) == 1


def test_offline_run_logs_heldout_metrics_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("HD_DATASETS", str(tmp_path / "datasets"))
    cfg = make_config("smoke", "metaworld/lever-pull", [*SMALL, "weighting.name=harmony"])
    result = train(cfg, tmp_path / "run", progress_bar=False)
    assert set(result) == {"reward_rmse_post", "reward_rmse_open_loop", "recon_mse"}
    assert all(np.isfinite(v) and v > 0 for v in result.values())
    rows = [json.loads(line) for line in open(tmp_path / "run" / "metrics.jsonl")]
    assert [r["step"] for r in rows if r["split"] == "eval"] == [3, 6]
    assert all("s_obs" in r for r in rows if r["split"] == "train")
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["state"] == "done"
    before = (tmp_path / "run" / "metrics.jsonl").read_text()
    train(cfg, tmp_path / "run", progress_bar=False)  # finished: nothing happens
    assert (tmp_path / "run" / "metrics.jsonl").read_text() == before


def test_offline_config_is_checked():
    with pytest.raises(ConfigError, match="Meta-world"):
        make_config("smoke", "dmc/cartpole-swingup", ["train.mode=offline"])
    with pytest.raises(ConfigError, match="heldout"):
        make_config("smoke", "metaworld/lever-pull", ["train.mode=offline", "offline.heldout=0"])
    with pytest.raises(ConfigError, match="train.mode"):
        make_config("smoke", "metaworld/lever-pull", ["train.mode=sideways"])
