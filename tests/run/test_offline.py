"""Offline world-model diagnostics: scripted-expert datasets and world-model-only training."""

import json

import numpy as np
import pytest
import torch

from agents.config import ConfigError, make_config
from agents.data import experts
from agents.dreamerv2.world_model import WorldModel
from agents.envs import make_env
from agents.run.offline import heldout_metrics, mean_reward
from agents.train import train
from analyses.checkpoints import load_world_model, snapshot_updates

SMALL = ["train.mode=offline", "offline.episodes=4", "offline.heldout=1",
         "offline.updates=6", "offline.eval_every=3"]


def test_expert_solves_lever_pull_through_our_env():
    # The expert reads our env's state vector: a noiseless episode must succeed.
    env = make_env("metaworld/lever-pull", 64, 500, 1)
    try:
        policy = experts.expert_policy("metaworld/lever-pull")
        ep = experts.collect_episode(env, policy, "expert", 1)
    finally:
        env.close()
    assert ep["success"].max() == 1.0
    assert ep["image"].shape == (501, 64, 64, 3) and ep["state"].shape == (501, 39)


def test_dataset_is_cached_and_keyed_by_its_settings(tmp_path):
    cfg = make_config("smoke", "metaworld/lever-pull", SMALL)
    episodes = experts.load_or_collect(cfg, tmp_path, progress=False)
    assert len(episodes) == 4
    assert experts.behaviours(cfg) == ["noise0", "noise50", "noise100", "noise0"]
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
    assert set(result) == {"reward_rmse_horizon", "reward_rmse_baseline", "reward_skill_horizon",
                           "reward_rmse_post", "reward_rmse_open_loop", "recon_mse"}
    assert all(np.isfinite(v) for v in result.values())
    assert result["reward_skill_horizon"] == pytest.approx(
        1 - result["reward_rmse_horizon"] / result["reward_rmse_baseline"])
    rows = [json.loads(line) for line in open(tmp_path / "run" / "metrics.jsonl")]
    assert [r["step"] for r in rows if r["split"] == "eval"] == [3, 6]
    assert all("s_obs" in r for r in rows if r["split"] == "train")
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["state"] == "done"
    # Each evaluation kept its world model: the last is the checkpoint's, the first differs.
    assert snapshot_updates(tmp_path / "run") == [3, 6]
    final, _ = load_world_model(tmp_path / "run")
    last, _ = load_world_model(tmp_path / "run", 6)
    first, _ = load_world_model(tmp_path / "run", 3)
    for (name, a), b in zip(final.state_dict().items(), last.state_dict().values(),
                            strict=True):
        assert torch.equal(a, b), name
    assert any(not torch.equal(a, c) for a, c in zip(final.state_dict().values(),
                                                     first.state_dict().values(), strict=True))
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


class ClockRSSM:
    """A latent state that counts time: observe gives h_t = t, each imagined step adds 1."""

    def observe(self, embed, action):
        n, t = embed.shape[:2]
        deter = torch.arange(t, dtype=torch.float32).expand(n, t)[..., None]
        return deter, torch.zeros(n, t, 1), None, None

    def img_step(self, h, z, action):
        return h + 1, torch.zeros_like(h)

    def mode(self, logits):
        return logits


class ClockModel:
    """A world model whose reward head reads the true reward at the time its state counts
    (shifted by `lag`): exact with lag 0."""

    imagine_rewards = WorldModel.imagine_rewards
    open_loop = WorldModel.open_loop

    def __init__(self, rewards, lag=0):
        self.rssm, self.rewards, self.lag = ClockRSSM(), torch.as_tensor(rewards), lag

    def encoder(self, image):
        return image

    def reward_mean(self, feat):
        t = (feat[..., -1].long() + self.lag).clamp(max=len(self.rewards) - 1)
        return self.rewards[t]


def test_horizon_metric_is_zero_for_an_exact_reward_head():
    t = 41
    rewards = np.sin(np.arange(t) / 3.0).astype(np.float32) + 1
    rewards[0] = 0
    episodes = [{"image": np.zeros((t, 2, 2, 3), np.uint8), "action": np.zeros((t, 2), np.float32),
                 "reward": rewards} for _ in range(3)]
    base = mean_reward(episodes)
    exact = heldout_metrics(ClockModel(rewards), episodes, context=5, device="cpu",
                            recon=False, horizon=15, every=10, baseline=base)
    assert exact["reward_rmse_horizon"] == pytest.approx(0, abs=1e-6)
    assert exact["reward_rmse_open_loop"] == pytest.approx(0, abs=1e-6)
    assert exact["reward_skill_horizon"] == pytest.approx(1)
    # Starts 0, 10, 20 (t0 + 15 < 41): targets 1..15, 11..25, 21..35.
    targets = np.concatenate([np.arange(s + 1, s + 16) for s in (0, 10, 20)])
    expected = np.sqrt(np.mean((rewards[targets] - base) ** 2))
    assert exact["reward_rmse_baseline"] == pytest.approx(expected, rel=1e-5)
    # One step off (a head that predicts the next reward) is caught.
    off = heldout_metrics(ClockModel(rewards, lag=1), episodes, context=5, device="cpu",
                          recon=False, horizon=15, every=10, baseline=base)
    assert off["reward_rmse_horizon"] > 0.1 and off["reward_skill_horizon"] < 1
