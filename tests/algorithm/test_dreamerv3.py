"""DreamerV3 and Atari: symlog / two-hot, the heads, HarmonyDream on V3 against the official
formula, the ALE protocol, and a real training run."""

import math

import numpy as np
import pytest
import torch

from agents.config import make_config
from agents.dreamerv3.distributions import OneHotActions, TwoHotSymlog, symexp, symlog
from agents.dreamerv3.world_model import WorldModel, kl_pair, kl_shares
from agents.run.metrics import floats
from agents.weighting import make_weighting


def test_symlog_round_trip_and_shape():
    x = torch.tensor([-1e4, -50.0, -1.0, -1e-3, 0.0, 1e-3, 0.5, 1.0, 7.0, 300.0, 2e4])
    assert torch.allclose(symexp(symlog(x)), x, rtol=1e-5, atol=1e-6)
    assert torch.allclose(symlog(x[4:7]), torch.log1p(x[4:7]))  # ~ identity near 0
    assert symlog(torch.tensor(1e4)) < 10  # large values compressed


def test_two_hot_round_trip():
    x = torch.tensor([-2000.0, -3.3, -0.4, 0.0, 0.01, 1.0, 21.0, 1e5])
    dist = TwoHotSymlog(torch.zeros(len(x), 255))
    target = dist.two_hot(x)
    assert torch.allclose(target.sum(-1), torch.ones(len(x)))
    assert ((target > 0).sum(-1) <= 2).all()
    # A distribution that puts exactly the two-hot weights on the bins predicts x back.
    exact = TwoHotSymlog(torch.log(target.clamp_min(1e-30)))
    assert torch.allclose(exact.mean, x, rtol=1e-4, atol=1e-4)
    # ... and is where the log-likelihood of x peaks.
    assert (exact.log_prob(x) > dist.log_prob(x)).all()
    # Zero logits: every bin equally likely, mean symexp(0) = 0, loss log(255).
    assert torch.allclose(dist.mean, torch.zeros(len(x)), atol=1e-5)
    assert torch.allclose(-dist.log_prob(x), torch.full((len(x),), math.log(255)))


def test_unimix_actor_keeps_every_action_possible():
    logits = torch.tensor([[50.0, -50.0, -50.0, -50.0]])
    policy = OneHotActions(logits, unimix=0.01)
    assert policy.probs.min() >= 0.01 / 4 - 1e-7
    assert torch.equal(policy.mode, torch.tensor([[1.0, 0, 0, 0]]))
    assert policy.sample().sum() == 1


def small_config(weighting="fixed"):
    return make_config("smoke", "atari/pong", ["model.agent=dreamerv3",
                                                f"weighting.name={weighting}"])


def test_heads_start_at_zero_and_losses_have_v3_shape():
    torch.manual_seed(0)
    cfg = small_config()
    base, reg = kl_shares(cfg.model)
    wm = WorldModel(cfg.model, 6, 64, make_weighting(cfg.weighting, base, reg))
    feat = torch.randn(3, 5, wm.rssm.feat_dim)
    # Reward head (two-hot, zero-initialised output) predicts 0 before any training.
    assert torch.allclose(wm.reward_mean(feat), torch.zeros(3, 5), atol=1e-6)
    assert wm.cont_dist(feat).probs.shape == (3, 5)
    batch = {"image": torch.randint(0, 255, (2, 6, 64, 64, 3), dtype=torch.uint8),
             "action": torch.nn.functional.one_hot(torch.randint(0, 6, (2, 6)), 6).float(),
             "reward": torch.tensor([[0.0, 1, 0, -1, 0, 21]] * 2),
             "terminal": torch.zeros(2, 6)}
    total, logs, post = wm.loss(batch)
    logs = floats(logs)
    assert torch.isfinite(total)
    assert logs["kl_dyn"] >= cfg.model.free_bits and logs["kl_rep"] >= cfg.model.free_bits
    assert logs["weight_dyn"] == pytest.approx(0.6)  # 0.5 dyn + 0.1 rep under 1/1/1
    assert logs["loss_rew"] == pytest.approx(math.log(255), rel=1e-4)
    expected = (logs["loss_obs"] + logs["loss_rew"] + 0.5 * logs["kl_dyn"]
                + 0.1 * logs["kl_rep"] + logs["loss_cont"])
    assert float(total.detach()) == pytest.approx(expected, rel=1e-5)
    assert post.feat.shape == (2, 6, wm.rssm.feat_dim)


def official_v3_harmony(image, reward, dyn, rep, cont, s_rew, s_img, s_kl):
    """The official JAX code's total (dreamerv3-jax agent.py, harmony=True), written out:
    one harmonizer per loss, one shared by dyn and rep (its regulariser counted once, scaled
    by dyn / (dyn + rep)), the continue loss left alone."""
    def harm(loss, s, regularize=True):
        out = loss / torch.exp(s)
        return out + torch.log(torch.exp(s) + 1) if regularize else out
    dyn_scale, rep_scale = 0.5, 0.1
    return (harm(reward, s_rew) + harm(image, s_img)
            + harm(dyn, s_kl) * dyn_scale / (dyn_scale + rep_scale)
            + harm(rep, s_kl, False) * rep_scale / (dyn_scale + rep_scale) + cont)


def test_v3_harmony_matches_the_official_formula():
    cfg = small_config("harmony")
    base, reg = kl_shares(cfg.model)
    weighting = make_weighting(cfg.weighting, base, reg)
    with torch.no_grad():
        for key, value in {"obs": 0.7, "rew": -0.4, "dyn": 0.25}.items():
            weighting.s[key].fill_(value)
    raw = {k: torch.tensor(v, requires_grad=True)
           for k, v in {"image": 812.5, "reward": 3.2, "dyn": 1.7, "rep": 2.4,
                        "cont": 0.3}.items()}
    ours, _ = weighting({"obs": raw["image"], "rew": raw["reward"],
                         "dyn": kl_pair(raw["dyn"], raw["rep"], cfg.model)})
    ours = ours + raw["cont"]
    s = {k: weighting.s[k].detach().clone().requires_grad_(True) for k in ("obs", "rew", "dyn")}
    theirs = official_v3_harmony(raw["image"], raw["reward"], raw["dyn"], raw["rep"],
                                 raw["cont"], s["rew"], s["obs"], s["dyn"])
    assert float(ours.detach()) == pytest.approx(float(theirs.detach()), rel=1e-6)
    ours_grads = torch.autograd.grad(ours, [*raw.values(), *(weighting.s[k] for k in s)])
    their_grads = torch.autograd.grad(theirs, [*raw.values(), *s.values()])
    for a, b in zip(ours_grads, their_grads, strict=True):
        assert float(a) == pytest.approx(float(b), rel=1e-6)


# --- Atari (real ALE) ------------------------------------------------------------------


def test_atari_protocol():
    from agents.envs.atari import AtariEnv

    env = AtariEnv("pong", 64, episode_length=400, action_repeat=4)
    ale = env._ale
    assert ale.getFloat("repeat_action_probability") == 0.0  # sticky actions off
    assert env.action_dim == len(ale.getMinimalActionSet()) == 6  # minimal set (full: 18)
    assert env._env.frame_skip == 4 and env._env.noop_max == 30
    starts = set()
    for seed in range(8):
        obs, _ = env.reset(seed)
        assert obs["image"].shape == (64, 64, 3) and obs["image"].dtype == np.uint8
        assert obs["state"].shape == (128,)  # the console RAM, for probes
        starts.add(ale.getEpisodeFrameNumber())
    assert len(starts) > 1 and max(starts) <= 30 + 1  # random no-op starts, at most 30
    obs, _ = env.reset(0)
    again, _ = env.reset(0)
    assert np.array_equal(obs["image"], again["image"])  # reproducible from the seed
    # The frame is the max over the last two raw frames, resized.
    import cv2

    obs, *_ = env.step(np.eye(6)[2])
    pooled = np.maximum(env._env.obs_buffer[0], env._env.obs_buffer[1])
    assert np.array_equal(obs["image"], cv2.resize(pooled, (64, 64),
                                                   interpolation=cv2.INTER_AREA))
    # Episodes are capped (here at 400 frames = 100 agent steps).
    steps, truncated = 1, False
    while not truncated:
        _, _, terminated, truncated, _ = env.step(np.eye(6)[steps % 6])
        assert not terminated
        steps += 1
    assert steps <= 100 and ale.getEpisodeFrameNumber() <= 400 + 4
    env.close()


def test_atari_life_loss_is_not_terminal():
    from agents.envs.atari import AtariEnv

    env = AtariEnv("breakout", 64)
    env.reset(0)
    lives, rng = env._ale.lives(), np.random.default_rng(0)
    for _ in range(3000):
        _, _, terminated, _, _ = env.step(np.eye(env.action_dim)[rng.integers(env.action_dim)])
        if env._ale.lives() < lives:
            break
    assert env._ale.lives() < lives, "no life lost in 3000 random steps"
    assert not terminated
    env.close()


@pytest.mark.slow
def test_v3_smoke_run_on_atari(tmp_path):
    import pandas as pd

    from agents.train import train

    cfg = make_config("smoke", "atari/pong", ["model.agent=dreamerv3", "weighting.name=harmony",
                                              "train.threads=1"])
    result = train(cfg, tmp_path / "run", progress_bar=False)
    assert np.isfinite(result["return"])
    df = pd.read_json(tmp_path / "run" / "metrics.jsonl", lines=True)
    rows = df[df["split"] == "train"].dropna(subset=["loss_obs"])
    for col in ("loss_obs", "loss_rew", "loss_dyn", "loss_cont", "s_obs", "s_dyn",
                "actor_loss", "critic_loss", "return_scale"):
        assert np.isfinite(rows[col]).all(), col
    assert (rows["s_obs"] != 0).any()  # the harmonizers train
    episodes = df[df["split"] == "episode"]
    assert len(episodes) >= 2 and set(df["split"]) == {"train", "episode", "eval"}


def test_replay_samples_running_episodes_only_when_ongoing():
    from agents.data.replay import EpisodeBuilder, Replay

    obs = {"image": np.zeros((8, 8, 3), np.uint8), "state": np.zeros(3, np.float32)}
    builder = EpisodeBuilder(obs, 2, capacity=4)  # grows past its first buffer
    for t in range(1, 12):
        builder.add({**obs, "image": np.full((8, 8, 3), t, np.uint8)}, np.ones(2), float(t),
                    0.0, terminal=t == 11)
    assert builder.n == 12 and builder.view()["reward"].tolist() == list(range(12))
    assert builder.arrays()["terminal"].tolist() == [0.0] * 11 + [1.0]
    rng = np.random.default_rng(0)
    v2 = Replay(None, 1000, 10, False, rng)  # DreamerV2: finished episodes only
    v3 = Replay(None, 1000, 10, False, rng, ongoing=True)
    for replay in (v2, v3):
        replay.track([builder])
    assert not v2.ready() and v3.ready()
    batch = v3.sample(4)
    assert batch["image"].shape == (4, 10, 8, 8, 3)
    # Sequences are consecutive steps of the running episode.
    assert (np.diff(batch["reward"], axis=1) == 1).all()
    assert np.array_equal(batch["image"][:, :, 0, 0, 0], batch["reward"].astype(np.uint8))


def test_lambda_returns_and_the_continue_flag():
    from agents.dreamerv3.behaviour import lambda_returns

    H, g = 4, 0.9
    reward = torch.ones(H + 1, 1)
    value = torch.full((H + 1, 1), 2.0)
    # lambda = 1: discounted reward sum, bootstrapped with the last value.
    ret = lambda_returns(reward, torch.ones(H + 1, 1), value, g, 1.0)
    expected = [sum(g**k for k in range(H - t)) + g ** (H - t) * 2.0 for t in range(H)]
    assert torch.allclose(ret[:, 0], torch.tensor(expected))
    # lambda = 0: one-step targets r + g v.
    ret0 = lambda_returns(reward, torch.ones(H + 1, 1), value, g, 0.0)
    assert torch.allclose(ret0, torch.full((H, 1), 1 + g * 2.0))
    # An episode that ends at step 2: nothing after it counts.
    cont = torch.tensor([[1.0], [1.0], [0.0], [0.0], [0.0]])
    ret = lambda_returns(reward, cont, value, g, 1.0)
    assert torch.allclose(ret[:, 0], torch.tensor([1 + g * 1, 1.0, 1.0, 1.0]))


def test_observe_matches_the_step_by_step_maths():
    """RSSM.observe (embedding share batched, LoopLinear weight gradients) against the plain
    per-step recurrence and posterior: the same states, logits and parameter gradients."""
    from agents.dreamerv3.networks import RSSM

    torch.manual_seed(0)
    rssm = RSSM(embed_dim=20, action_dim=3, deter=16, hidden=12, stoch=4, classes=5,
                unimix=0.01)
    embed, action = torch.randn(3, 7, 20), torch.randn(3, 7, 3)
    first = torch.zeros(3, 7)
    first[:, 0], first[1, 4] = 1, 1  # episodes start at t = 0, and mid-window in row 1

    def naive():
        init = rssm.initial(3, torch.device("cpu"))
        deter, stoch = init
        deters, stochs, posts = [], [], []
        for i in range(7):
            f = first[:, i, None]
            deter, stoch = deter * (1 - f) + init[0] * f, stoch * (1 - f) + init[1] * f
            deter = rssm.recur(deter, stoch, action[:, i] * (1 - f))
            logits = rssm.posterior(deter, embed[:, i])
            stoch = rssm.sample(logits).to(deter.dtype)
            deters.append(deter)
            stochs.append(stoch)
            posts.append(logits)
        deter = torch.stack(deters, 1)
        return deter, torch.stack(stochs, 1), torch.stack(posts, 1), rssm.logits(
            rssm.img_out(deter))

    outs = {}
    for name, fn in {"fast": lambda: rssm.observe(embed, action, first), "slow": naive}.items():
        torch.manual_seed(1)
        out = fn()
        grads = torch.autograd.grad(sum((x.float() ** 2).sum() for x in out),
                                    list(rssm.parameters()))
        outs[name] = (out, grads)
    for a, b in zip(outs["fast"][0], outs["slow"][0], strict=True):
        assert torch.allclose(a, b, atol=1e-5)
    for a, b in zip(outs["fast"][1], outs["slow"][1], strict=True):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)
