"""Our DreamerV3 is the official computation: each part run beside the official dreamerv3-jax
code of HarmonyDream (commit 0a22e33) on the same weights, batch and sampling noise.

Ours: the `paper` preset on Atari (`make_config("paper", "atari/pong", ["model.agent=
dreamerv3"])`, HarmonyDream with "weighting.name=harmony"). Theirs: `atari100k` (harmony on,
and off), built and run through tests/algorithm/official_v3.py. One official agent is built (its
jitted dummy train step takes ~25 s); harmony off is the same agent with `config.harmony` False
and the variable that path reads (`wm/identity`, a constant 1 no optimiser trains) added.
Without jax (or the official code) every test skips with one line saying what to install.

Same weights: every official variable is written into ours through `MAP` (dense kernels
(in, out) transposed; inputs reordered where the two codes concatenate differently: the heads'
features [deter, stoch] vs our [stoch, deter], the GRU's [deter, x] vs our [x, deter]; the
encoder's output and the decoder's input map flattened HWC vs our CHW; conv kernels HWIO ->
OIHW; the decoder's conv_transpose kernels HWOI spatially flipped -> torch's (in, out, kH, kW)).
Any variable of either side without a counterpart fails. The official initial values are
perturbed first (zero output layers, unit norm scales, zero biases and harmony s_i would hide
a wrong map), with the slow critic distinct from the critic and retnorm's low/high nonzero.

Same batch: B=2, T=6, episodes starting at t = 0 and mid-sequence in row 1 (t = 3, after a
terminal step at t = 2), converted between the two action conventions (official: the action
chosen at t; ours: the action that led to t). Same noise: only the categorical samples are
noise (RSSM latents, discrete actions); the official OneHotDist.sample is patched by
official_v3.patched_sampling, our agents/nets/categorical.py `uniform_like` by `ours_sampling`, both
fed U(0, 1) draws from one seeded stream per draw site, the site found from the call stack.

Agreement: max |ours - official| <= 1e-5 max |official| per compared tensor; samples (one-hot
latents and actions, continuation flags) must be equal. An optimiser step, run by the
official chain on our gradients, must agree per element to 1e-5 of it plus one float32
spacing of the weight it is read off.

Compared numerically against the official code:
  - encoder, decoder, reward / continue heads, actor (probs, entropy, log-prob), critic and
    slow critic on random features; one RSSM prior step and one posterior step;
  - RSSM observe (posterior and prior logits, deter, posterior samples) over the batch,
    is_first at t = 0 and mid-sequence;
  - the world-model loss terms (image, reward, cont, dyn, rep), the total and harmony's s_i,
    under fixed weights (harmony off) and under harmony (s_i nonzero), and every world-model
    gradient (ours must have no gradient the official has not);
  - one model optimiser step (ours: Dreamer.update_world_model) against the official optax
    chain (jaxutils.Optimizer's `opt`: clip_by_global_norm(1000) -> scale_by_adam(eps 1e-8)
    -> scale(-1e-4)) applied to our own gradients, element by element (tests/algorithm/
    steps.py); likewise one actor and one critic step (Dreamer.update_behaviour) against the
    actor_opt / critic_opt chains; negative controls: a doubled learning rate, a wrong
    epsilon, weight decay or clip must fail that check;
  - imagination from every posterior state (latents, deter, actions, continuation flags,
    weights), the lambda-returns, retnorm's percentile EMA and the return scale, the actor and
    critic losses and all their gradients (affordable at B x T = 12 starts, H = 15);
  - the slow critic over three updates (the official SlowUpdater run on its variables);
  - acting: two policy steps for two envs, in train and in eval mode (both sample).
Compared with the official config values: the resolved run schedule (the official prefill
and evaluation steps are computed from its train_eval loop's rules) and every optimiser,
loss, network and behaviour setting (test_schedule_and_settings_are_the_official_config).
Compared by transcription: nothing here (the harmony formula's transcription is
tests/algorithm/test_dreamerv3.py::test_v3_harmony_matches_the_official_formula).
Not covered: the official world model's state carried between batches (every replayed
window has is_first at t = 0, which resets it), the replay itself, and our extra evaluation
at the very end of a run (agents/run/loop.py; the official loop stops without one).

Cost: ~1.5-2.5 min on 2 CPU cores, most of it the official code's first eager runs (JAX
compiles each operation once) and its agent's jitted build; our agent is built once per
weighting with model.init=torch (every weight is overwritten by the official ones).
"""

from __future__ import annotations

import contextlib
import sys

import numpy as np
import pytest
import torch

import agents.nets.categorical
from agents.config import make_config
from agents.dreamerv3.agent import Agent
from agents.dreamerv3.behaviour import Start, lambda_returns
from agents.dreamerv3.distributions import TwoHotSymlog
from tests.algorithm import official_v3 as ov3
from tests.algorithm.steps import (
    PERTURBATIONS,
    check_steps,
    gradients_before_clipping,
    perturbed_optimisers,
    weights,
)

RTOL = 1e-5
TASK = "atari/pong"
B, T, A = 2, 6, 6
DETER, STOCH = 512, 32 * 32
WEIGHTINGS = {"fixed": False, "harmony": True}  # ours -> the official `harmony` flag

# jax: scripts/test.sh runs these in their own pytest session (JAX loaded, nothing may fork).
pytestmark = [pytest.mark.jax,
              pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]


# --------------------------------------------------------------------------- comparison


def close(ours, theirs, what: str, rtol: float = RTOL) -> None:
    ours = torch.as_tensor(np.asarray(ours.detach() if torch.is_tensor(ours) else ours,
                                      np.float64))
    theirs = torch.as_tensor(np.asarray(theirs, np.float64))
    assert ours.shape == theirs.shape, f"{what}: shape {tuple(ours.shape)} vs {tuple(theirs.shape)}"
    err, scale = (ours - theirs).abs().max().item(), theirs.abs().max().item()
    assert err <= rtol * scale + 1e-12, f"{what}: max |diff| {err:.3g}, max |official| {scale:.3g}"


def equal(ours, theirs, what: str) -> None:
    ours = np.asarray(ours.detach() if torch.is_tensor(ours) else ours)
    assert ours.shape == np.shape(theirs), what
    assert np.array_equal(ours, np.asarray(theirs)), f"{what}: samples differ"


# --------------------------------------------------------------------------- weights


def _chw_to_hwc(channels: int, size: int = 4) -> np.ndarray:
    """For each position of a [C, 4, 4] map flattened (ours), its index in the same map
    flattened as [4, 4, C] (official)."""
    return np.arange(size * size * channels).reshape(size, size, channels).transpose(
        2, 0, 1).reshape(-1)


FEAT = np.r_[DETER:DETER + STOCH, 0:DETER]  # official rows [deter; stoch] in our order
GRU = np.r_[DETER:2 * DETER, 0:DETER]  # official rows [deter; x] in our order [x; deter]
EMBED = _chw_to_hwc(256)  # the encoder's 4 x 4 x 256 output / the decoder's input map


def dense(rows=None):
    return lambda k: (k if rows is None else k[rows]).T


def same(v):
    return v


def conv(k):  # HWIO -> OIHW
    return k.transpose(3, 2, 0, 1)


def conv_transpose(k):  # HWOI, applied without flipping -> torch's (I, O, kH, kW), flipped
    return k[::-1, ::-1].transpose(3, 2, 0, 1)


def _mlp(theirs: str, ours: str) -> dict:
    return {f"{theirs}/h0/kernel": (f"{ours}.0.weight", dense(FEAT)),
            f"{theirs}/h0/norm/scale": (f"{ours}.1.weight", same),
            f"{theirs}/h0/norm/bias": (f"{ours}.1.bias", same),
            f"{theirs}/h1/kernel": (f"{ours}.3.weight", dense()),
            f"{theirs}/h1/norm/scale": (f"{ours}.4.weight", same),
            f"{theirs}/h1/norm/bias": (f"{ours}.4.bias", same),
            f"{theirs}/dist_out/out/kernel": (f"{ours}.6.weight", dense()),
            f"{theirs}/dist_out/out/bias": (f"{ours}.6.bias", same)}


def _norm(theirs: str, ours: str) -> dict:
    return {f"{theirs}/norm/scale": (f"{ours}.weight", same),
            f"{theirs}/norm/bias": (f"{ours}.bias", same)}


def parameter_map() -> dict[str, tuple[str, object]]:
    """Official variable -> (our parameter or buffer, official value -> our layout)."""
    w, r = "agent/wm", "agent/wm/rssm"
    out = {f"{r}/initial": ("wm.rssm.initial_deter", same),
           f"{r}/img_in/kernel": ("wm.rssm.img_in.0.weight", dense()),
           f"{r}/gru/kernel": ("wm.rssm.gru.linear.weight", dense(GRU)),
           f"{r}/img_out/kernel": ("wm.rssm.img_out.0.weight", dense()),
           f"{r}/img_stats/kernel": ("wm.rssm.img_out.3.weight", dense()),
           f"{r}/img_stats/bias": ("wm.rssm.img_out.3.bias", same),
           f"{r}/obs_out/kernel": ("wm.rssm.obs_out.0.weight",
                                   dense(np.r_[0:DETER, DETER + EMBED])),
           f"{r}/obs_stats/kernel": ("wm.rssm.obs_out.3.weight", dense()),
           f"{r}/obs_stats/bias": ("wm.rssm.obs_out.3.bias", same),
           **_norm(f"{r}/img_in", "wm.rssm.img_in.1"), **_norm(f"{r}/gru", "wm.rssm.gru.norm"),
           **_norm(f"{r}/img_out", "wm.rssm.img_out.1"),
           **_norm(f"{r}/obs_out", "wm.rssm.obs_out.1"),
           f"{w}/dec/cnn/in/kernel": ("wm.decoder.linear.weight",
                                      lambda k: k[FEAT][:, EMBED].T),
           f"{w}/dec/cnn/in/bias": ("wm.decoder.linear.bias", lambda b: b[EMBED]),
           f"{w}/dec/cnn/s3res/bias": ("wm.decoder.net.9.bias", same),
           f"{w}/har_s1/harmony_s": ("wm.weighting.s.rew", same),
           f"{w}/har_s2/harmony_s": ("wm.weighting.s.obs", same),
           f"{w}/har_s3/harmony_s": ("wm.weighting.s.dyn", same),
           "agent/task_behavior/ac/retnorm_extr/low/value": ("behaviour.retnorm.low", same),
           "agent/task_behavior/ac/retnorm_extr/high/value": ("behaviour.retnorm.high", same),
           **_mlp(f"{w}/rew", "wm.reward"), **_mlp(f"{w}/cont", "wm.cont"),
           **_mlp("agent/task_behavior/ac/actor", "behaviour.actor"),
           **_mlp("agent/task_behavior/critic/net", "behaviour.critic"),
           **_mlp("agent/task_behavior/critic/slow", "behaviour.target")}
    for i in range(4):
        out[f"{w}/enc/cnn/s{i}res/kernel"] = (f"wm.encoder.net.{3 * i}.weight", conv)
        out.update(_norm(f"{w}/enc/cnn/s{i}res", f"wm.encoder.net.{3 * i + 1}"))
        out[f"{w}/dec/cnn/s{i}res/kernel"] = (f"wm.decoder.net.{3 * i}.weight", conv_transpose)
        if i < 3:
            out.update(_norm(f"{w}/dec/cnn/s{i}res", f"wm.decoder.net.{3 * i + 1}"))
    return out


MAP = parameter_map()
# Official variables that are state, not weights, and how ours holds them.
COUNTERS = {"agent/task_behavior/critic/updates/value": "Agent.updates (the slow critic's)",
            "agent/wm/identity/identity": "a constant 1 (harmony off), trained by no optimiser"}


def matched(varibs: dict, ours: Agent) -> dict[str, tuple[str, object]]:
    """The map restricted to this pair; fails on any variable of either side without a
    counterpart of the same shape (the optimisers' states aside)."""
    names = {k: v for k, v in MAP.items() if k in varibs}
    theirs = [k for k in varibs if not ov3.is_optimizer_state(k) and not k.endswith(
        "_opt/step") and k not in COUNTERS]
    unmatched = sorted(set(theirs) - set(names))
    assert not unmatched, f"official variables without a counterpart: {unmatched}"
    mine = dict(ours.named_parameters()) | dict(ours.named_buffers())
    extra = sorted(set(mine) - {v[0] for v in names.values()})
    assert not extra, f"our parameters without an official counterpart: {extra}"
    for k, (name, to_ours) in names.items():
        shape = np.shape(to_ours(np.asarray(varibs[k])))
        assert shape == tuple(mine[name].shape), f"{k}: official {shape}, ours {name} " \
                                                 f"{tuple(mine[name].shape)}"
    return names


def perturbed(varibs: dict, seed: int = 0) -> dict:
    """The official initial variables, made informative: every weight moved off its initial
    value (zero output layers, unit norm scales, zero biases), harmony's s_i and retnorm's
    low / high set to nonzero values."""
    rng = np.random.default_rng(seed)
    out = dict(varibs)
    fixed = {"agent/wm/har_s1/harmony_s": 0.3, "agent/wm/har_s2/harmony_s": -0.5,
             "agent/wm/har_s3/harmony_s": 0.7,
             "agent/task_behavior/ac/retnorm_extr/low/value": -0.3,
             "agent/task_behavior/ac/retnorm_extr/high/value": 1.6}
    for name in sorted(MAP):
        if name not in varibs:
            continue
        value = np.asarray(varibs[name], np.float32)
        if name in fixed:
            value = np.full_like(value, fixed[name])
        elif name.endswith("/kernel"):
            if not value.any():  # outscale 0: the reward head's and critics' outputs
                value = 0.02 * rng.standard_normal(value.shape)
        elif name.endswith("/scale"):
            value = value + 0.1 * rng.standard_normal(value.shape)
        else:  # biases, the learned initial state
            value = value + 0.1 * rng.standard_normal(value.shape)
        out[name] = value.astype(np.float32)
    return out


def load(varibs: dict, ours: Agent) -> dict:
    names = matched(varibs, ours)
    mine = dict(ours.named_parameters()) | dict(ours.named_buffers())
    with torch.no_grad():
        for k, (name, to_ours) in names.items():
            value = np.array(to_ours(np.asarray(varibs[k], np.float32)), order="C")
            mine[name].copy_(torch.from_numpy(value))
    return names


# --------------------------------------------------------------------------- noise


_IMAGINE = "Behaviour.imagine"


def _our_site() -> str:
    """Which of the official draw sites (official_v3.SITES) this draw of ours is."""
    names, frame = [], sys._getframe(2)
    while frame is not None:
        names.append(frame.f_code.co_qualname)
        frame = frame.f_back
    for name in names:
        if name in ("RecurrentCore.observe", "RecurrentCore.obs_step"):
            return "latent in obs"
        if name == _IMAGINE:
            return "latent in imagine" if "RSSM.sample" in names else "action in imagine"
        if name == "Behaviour.act":
            return "action in policy"
    return "elsewhere"


@contextlib.contextmanager
def ours_sampling(noise):
    """Our categorical samples (agents/nets/categorical.py uniform_like) drawn from `noise`."""
    original = agents.nets.categorical.uniform_like

    def uniform_like(t):
        return torch.from_numpy(noise(_our_site(), tuple(t.shape))).to(t)

    agents.nets.categorical.uniform_like = uniform_like
    try:
        yield
    finally:
        agents.nets.categorical.uniform_like = original


# --------------------------------------------------------------------------- agents, data


@pytest.fixture(scope="module")
def off():
    return ov3.import_dreamerv3()


@pytest.fixture(scope="module")
def theirs(off):
    """The official atari100k agent, harmony on (its variables perturbed: `varibs`)."""
    agent = ov3.official_agent(off, ov3.official_config(off, harmony=True), A)
    return agent


@contextlib.contextmanager
def official_harmony(theirs, harmony: bool):
    """The official agent with `config.harmony` as given (the config the model reads)."""
    inner = theirs.agent
    saved = inner.config, inner.wm.config
    inner.config = inner.config.update({"harmony": harmony})
    inner.wm.config = inner.wm.config.update({"harmony": harmony})
    try:
        yield
    finally:
        inner.config, inner.wm.config = saved


def official_varibs(theirs, harmony: bool) -> dict:
    varibs = perturbed(theirs.varibs)
    if not harmony:  # the harmony-off path reads wm/identity; no s_i
        varibs = {k: v for k, v in varibs.items() if "/har_s" not in k}
        varibs["agent/wm/identity/identity"] = np.float32(1.0)
    return varibs


_OURS: dict[str, Agent] = {}


def build(theirs, weighting: str):
    """(official variables, our agent on them, the name map) for a weighting: our agent is
    built once per weighting (model.init=torch: every weight is overwritten, and the official
    init's truncated normal costs ~5 s a build), then reset here to the official variables,
    fresh optimisers and no updates."""
    harmony = WEIGHTINGS[weighting]
    if weighting not in _OURS:
        sets = ["model.agent=dreamerv3", "model.init=torch", "train.probe_every=0"] + (
            ["weighting.name=harmony"] if harmony else [])
        _OURS[weighting] = Agent(make_config("paper", TASK, sets), A, torch.device("cpu"))
    ours = _OURS[weighting]
    varibs = official_varibs(theirs, harmony)
    names = load(varibs, ours)
    ours.make_optimisers()
    ours.updates = 0
    ours.zero_grad(set_to_none=True)
    return varibs, ours, names


def batches(seed: int = 0):
    """One batch in each code's layout: (official, ours)."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (B, T, 64, 64, 3), dtype=np.uint8)
    chosen = np.eye(A, dtype=np.float32)[rng.integers(0, A, (B, T))]  # the action at t
    reward = rng.choice([0.0, 1.0, -1.0, 2.5, 17.0], (B, T)).astype(np.float32)
    first = np.zeros((B, T), bool)
    first[:, 0], first[1, 3] = True, True
    terminal = np.zeros((B, T), bool)
    terminal[1, 2] = True  # row 1's episode ends at t = 2; the next starts at t = 3
    official = {"image": image, "action": chosen, "reward": reward, "is_first": first,
                "is_last": terminal.copy(), "is_terminal": terminal}
    led_to = np.concatenate([np.eye(A, dtype=np.float32)[rng.integers(0, A, (B, 1))],
                             chosen[:, :-1]], 1)  # ours: the action that led to t
    ours = {"image": torch.as_tensor(image), "action": torch.as_tensor(led_to),
            "reward": torch.as_tensor(reward), "terminal": torch.as_tensor(terminal).float(),
            "is_first": torch.as_tensor(first).float()}
    return official, ours


def grads_close(names, official: dict, ours: Agent, what: str) -> None:
    mine = dict(ours.named_parameters())
    assert official, what
    for k, g in official.items():
        name, to_ours = names[k]
        assert mine[name].grad is not None, f"{what}: no gradient of ours for {name}"
        close(mine[name].grad, to_ours(np.asarray(g)), f"{what} gradient of {name} ({k})")
    trained = {names[k][0] for k in official}
    for name, p in mine.items():
        if p.grad is not None and p.grad.abs().max() > 0:
            assert name in trained, f"{what}: ours has a gradient the official has not: {name}"


def opt_step(chain, varibs: dict, grads: dict) -> dict[str, np.ndarray]:
    """The first step an official optimiser (jaxutils.Optimizer's optax chain) makes from
    `varibs` on `grads`."""
    jnp = sys.modules["jax.numpy"]
    params = {k: jnp.asarray(varibs[k]) for k in grads}
    updates, _ = chain.update({k: jnp.asarray(g) for k, g in grads.items()},
                              chain.init(params), params)
    return {k: np.asarray(v) for k, v in updates.items()}


def official_steps(chain, before: dict[str, torch.Tensor], grads: dict) -> dict:
    """The step an official optax chain makes from our weights on our gradients (both in our
    layout: the chain is elementwise but for its global-norm clip)."""
    return opt_step(chain, {k: before[k].numpy() for k in grads},
                    {k: g.numpy() for k, g in grads.items()})


def world_model_step(ours: Agent, data: dict):
    """Our world-model step: (weights before, gradients before clipping)."""
    before = weights(ours.wm)
    with ours_sampling(ov3.Noise(0)), gradients_before_clipping(ours.wm) as grads:
        ours.update_world_model(data)
    return before, grads


# --------------------------------------------------------------------------- tests


def test_every_variable_has_a_counterpart_of_the_same_shape(off, theirs):
    for weighting in WEIGHTINGS:
        build(theirs, weighting)  # matched() asserts both directions and shapes
    # What the harmony-off variant changes is the config's `harmony` flag alone.
    off_cfg = ov3.official_config(off, harmony=False)
    with official_harmony(theirs, False):
        assert dict(theirs.agent.config) == dict(off_cfg)


def family(w: np.ndarray) -> str:
    """What an initial tensor was drawn from: "constant" (zeros, ones), "uniform" (max |w| at
    most sqrt(3) std) or "truncated normal" (a normal cut at 2 sigma reaches 2 / 0.8796 = 2.27
    std; at >= 512 draws, P(max below 2 std) < 1e-7)."""
    if w.min() == w.max():
        return "constant"
    return "uniform" if np.abs(w).max() / w.std() < 2.0 else "truncated normal"


def test_initial_weights_have_the_official_distributions(off, theirs):
    """Every variable's initial distribution, per tensor, against the official agent's own
    initial values (before `perturbed`): constants equal; otherwise the same family, and std
    and max |w| within 10% (the smallest random tensor has 512 draws: its std is known to ~3%)."""
    ours = Agent(make_config("paper", TASK, ["model.agent=dreamerv3", "train.probe_every=0",
                                             "weighting.name=harmony"]), A, torch.device("cpu"))
    names = matched(theirs.varibs, ours)
    mine = dict(ours.named_parameters()) | dict(ours.named_buffers())
    wrong = []
    for k, (name, to_ours) in sorted(names.items()):
        if k.startswith("agent/task_behavior/critic/slow") or "retnorm" in k:
            continue  # the slow critic starts as the critic; retnorm's low / high are state
        theirs_w = np.asarray(to_ours(np.asarray(theirs.varibs[k], np.float32)), np.float64)
        ours_w = mine[name].detach().double().numpy()
        fam = family(theirs_w), family(ours_w)
        if fam[0] != fam[1]:
            wrong.append(f"{name} ({k}): {fam[1]}, officially {fam[0]}")
        elif fam[0] == "constant":
            if not np.array_equal(ours_w, theirs_w):
                wrong.append(f"{name}: {ours_w.flat[0]}, officially {theirs_w.flat[0]}")
        else:
            for what, f in (("std", np.std), ("max |w|", lambda w: np.abs(w).max())):
                if abs(f(ours_w) / f(theirs_w) - 1) > 0.1:
                    wrong.append(f"{name}: {what} {f(ours_w):.4g}, officially {f(theirs_w):.4g}")
    assert not wrong, "initial weights differ:\n" + "\n".join(wrong)


def run_official(off, theirs, fn, varibs, *args, seed=0):
    return ov3._run(off, theirs, varibs, seed, fn, *args)[0]


def test_networks_and_rssm_steps(off, theirs):
    varibs, ours, _ = build(theirs, "harmony")
    inner, wm, beh = theirs.agent, ours.wm, ours.behaviour
    official, data = batches()
    rng = np.random.default_rng(1)
    deter = rng.standard_normal((B, T, DETER)).astype(np.float32)
    stoch = np.eye(32, dtype=np.float32)[rng.integers(0, 32, (B, T, 32))]
    feats = {"deter": deter, "stoch": stoch}
    feat = torch.cat([torch.as_tensor(stoch).flatten(2), torch.as_tensor(deter)], -1)
    action = official["action"][:, 1]

    def heads(x, image, a):
        ac = inner.task_behavior.ac
        critic = ac.critics["extr"]
        dec = inner.wm.heads["decoder"](x)["image"].mode()
        rew = inner.wm.heads["reward"](x)
        cont = inner.wm.heads["cont"](x)
        policy = ac.actor(x)
        return {"embed": inner.wm.encoder({"image": image}), "decoder": dec,
                "reward": rew.mean(), "reward_logits": rew.logits, "cont": cont.mean(),
                "probs": policy.probs_parameter(), "entropy": policy.entropy(),
                "log_prob": policy.log_prob(a), "critic": critic.net(x).mean(),
                "slow": critic.slow(x).mean()}

    a = np.eye(A, dtype=np.float32)[rng.integers(0, A, (B, T))]
    out = run_official(off, theirs, heads, varibs, feats,
                       official["image"].astype(np.float32) / 255.0, a)
    with torch.no_grad():
        from agents.nets.latent import preprocess
        embed = wm.encoder(preprocess(data["image"]))
        close(embed, np.asarray(out["embed"]).reshape(B, T, -1)[..., EMBED], "encoder")
        close(wm.decoder(feat).permute(0, 1, 3, 4, 2) + 0.5, out["decoder"], "decoder")
        close(wm.reward(feat), out["reward_logits"], "reward logits")
        close(wm.reward_mean(feat), out["reward"], "reward head")
        close(wm.cont_dist(feat).probs, out["cont"], "continue head")
        policy = beh.policy(feat)
        close(policy.probs, out["probs"], "actor probabilities")
        close(policy.entropy(), out["entropy"], "actor entropy")
        close(policy.log_prob(torch.as_tensor(a)), out["log_prob"], "actor log-prob")
        close(TwoHotSymlog(beh.critic(feat)).mean, out["critic"], "critic")
        close(TwoHotSymlog(beh.target(feat)).mean, out["slow"], "slow critic")

    # One prior step (img_step) and one posterior step (obs_step, not first) from a state.
    state = {"deter": deter[:, 0], "stoch": stoch[:, 0], "logit": np.zeros((B, 32, 32),
                                                                            np.float32)}
    is_first = np.zeros(B, np.float32)
    noise = ov3.Noise(3)

    def steps(state, act, emb, first):
        prior = inner.wm.rssm.img_step(state, act)
        post, _ = inner.wm.rssm.obs_step(state, act, emb, first)
        return prior, post

    oembed = np.asarray(out["embed"])[:, 1]
    with ov3.patched_sampling(off, noise):
        prior, post = run_official(off, theirs, steps, varibs, state, action, oembed, is_first)
    mine = ov3.Noise(3)
    with torch.no_grad(), ours_sampling(mine):
        d, s = torch.as_tensor(deter[:, 0]), torch.as_tensor(stoch[:, 0]).flatten(1)
        h, prior_logits = wm.rssm.img_step(d, s, torch.as_tensor(action))
        h2, z = wm.rssm.obs_step(d, s, torch.as_tensor(action), embed[:, 1])
        close(h, prior["deter"], "prior step: deter")
        close(prior_logits, prior["logit"], "prior step: logits")
        close(h2, post["deter"], "posterior step: deter")
        close(wm.rssm.posterior(h2, embed[:, 1]), post["logit"], "posterior step: logits")
        equal(z, np.asarray(post["stoch"]).reshape(B, -1), "posterior step: sample")


@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_observe_losses_gradients_and_one_step(off, theirs, weighting):
    harmony = WEIGHTINGS[weighting]
    varibs, ours, names = build(theirs, weighting)
    official, data = batches()
    with official_harmony(theirs, harmony):
        res = ov3.world_model_loss(off, theirs, official, varibs, noise=ov3.Noise(0))
        terms, grads = ov3.world_model_grads(off, theirs, official, varibs, noise=ov3.Noise(0))
        keys = ov3.model_keys(theirs, varibs)
        opt = theirs.agent.wm.opt.opt  # jaxutils.Optimizer's optax chain
    assert sorted(grads) == keys
    assert res["total"] == pytest.approx(terms["total"], rel=1e-6)

    # observe, episodes starting at t = 0 and (row 1) at t = 3
    from agents.nets.latent import preprocess
    with ours_sampling(ov3.Noise(0)):
        embed = ours.wm.encoder(preprocess(data["image"]))
        deter, stoch, post, prior = ours.wm.rssm.observe(embed, data["action"],
                                                         data["is_first"])
    close(deter, res["post"]["deter"], "observe: deter")
    equal(stoch, res["post"]["stoch"].reshape(B, T, -1), "observe: posterior samples")
    close(post, res["post"]["logit"], "observe: posterior logits")
    close(prior, res["prior"]["logit"], "observe: prior logits")

    # every loss term, the total, every gradient
    ours.wm.zero_grad()
    with ours_sampling(ov3.Noise(0)):
        total, logs, _ = ours.wm.loss(data)
    total.backward()
    for mine, theirs_key in (("loss_obs", "image"), ("loss_rew", "reward"),
                             ("loss_cont", "cont"), ("kl_dyn", "dyn"), ("kl_rep", "rep")):
        close(logs[mine], res[theirs_key], f"{weighting}: {theirs_key} loss")
    close(total, res["total"], f"{weighting}: total world-model loss")
    if harmony:
        for i, key in ((1, "rew"), (2, "obs"), (3, "dyn")):
            close(logs[f"s_{key}"], res[f"harmony_s{i}"], f"harmony s{i}")
    grads_close(names, grads, ours, f"{weighting} world-model")

    # one optimiser step: the official chain on our own gradients (tests/algorithm/steps.py)
    before, ours_grads = world_model_step(ours, data)
    assert sorted(ours_grads) == sorted(names[k][0].removeprefix("wm.") for k in grads)
    check_steps(ours.wm, before, official_steps(opt, before, ours_grads),
                f"{weighting} world-model step")


@pytest.mark.parametrize("perturbation", PERTURBATIONS)
def test_the_step_check_catches_a_wrong_optimiser(theirs, perturbation):
    """Negative controls: each change of our optimiser, made in memory, fails the check."""
    _, ours, _ = build(theirs, "fixed")
    _, data = batches()
    _, grads = world_model_step(ours, data)
    norm = torch.linalg.vector_norm(torch.stack([g.norm() for g in grads.values()])).item()
    _, ours, _ = build(theirs, "fixed")  # the same weights, fresh optimisers
    with perturbed_optimisers(ours, perturbation, norm):
        before, grads = world_model_step(ours, data)
    expected = official_steps(theirs.agent.wm.opt.opt, before, grads)
    with pytest.raises(AssertionError, match="world-model step"):
        check_steps(ours.wm, before, expected, "world-model step")


def test_imagination_returns_and_behaviour_losses(off, theirs):
    """From the official posterior of every batch step (the same starts for both):
    imagination, continuation and weights, lambda-returns, retnorm, both losses and both
    gradients."""
    varibs, ours, names = build(theirs, "harmony")
    wm, beh, b = ours.wm, ours.behaviour, ours.cfg.behaviour
    official, _ = batches()
    with official_harmony(theirs, True):
        post = ov3.world_model_loss(off, theirs, official, varibs, noise=ov3.Noise(0))["post"]
        start = ov3.starts_from(post, official)
        out = ov3.actor_critic(off, theirs, start, varibs, noise=ov3.Noise(5), grads=True)
    n, h = B * T, b.horizon
    ours_start = Start(torch.as_tensor(start["deter"]),
                       torch.as_tensor(start["stoch"]).flatten(1),
                       torch.as_tensor(1.0 - start["is_terminal"]))
    traj = out["traj"]
    with torch.no_grad():
        with ours_sampling(ov3.Noise(5)):
            feats, actions = beh.imagine(wm, ours_start)
        equal(feats[..., :STOCH], traj["stoch"].reshape(h + 1, n, -1), "imagined latents")
        close(feats[..., STOCH:], traj["deter"], "imagined deter")
        equal(actions, traj["action"][:-1], "imagined actions")
        # What Behaviour.losses computes from them, step by step.
        reward = wm.reward_mean(feats)
        cont = (wm.cont_dist(feats).probs > 0.5).float()
        cont = torch.cat([ours_start.cont.reshape(1, -1), cont[1:]])
        equal(cont, traj["cont"], "continuation flags")
        close(torch.cumprod(b.discount * cont, 0) / b.discount, traj["weight"], "step weights")
        value = TwoHotSymlog(beh.critic(feats)).mean
        close(lambda_returns(reward, cont, value, b.discount, b.lam), out["target"],
              "lambda-returns")
    with ours_sampling(ov3.Noise(5)):
        actor_loss, critic_loss, logs = beh.losses(wm, ours_start)
    close(actor_loss, out["actor_loss"], "actor loss")
    close(critic_loss, out["critic_loss"], "critic loss")
    low, high = out["retnorm"]
    close(beh.retnorm.low, low, "retnorm low (5th percentile EMA)")
    close(beh.retnorm.high, high, "retnorm high (95th percentile EMA)")
    close(logs["return_scale"], max(1.0, high - low), "return scale")
    actor = torch.autograd.grad(actor_loss, list(beh.actor.parameters()))
    critic = torch.autograd.grad(critic_loss, list(beh.critic.parameters()))
    for params, grads, official_grads in (
            (beh.actor, actor, out["actor_grads"]), (beh.critic, critic, out["critic_grads"])):
        for p, g in zip(params.parameters(), grads, strict=True):
            p.grad = g
        grads_close(names, official_grads, ours, "behaviour")
        params.zero_grad(set_to_none=True)

    # One actor and one critic step (retnorm as before the losses above) against the
    # official optax chains on the official gradients.
    ac = theirs.agent.task_behavior.ac
    with torch.no_grad():
        beh.retnorm.low.fill_(float(varibs["agent/task_behavior/ac/retnorm_extr/low/value"]))
        beh.retnorm.high.fill_(float(varibs["agent/task_behavior/ac/retnorm_extr/high/value"]))
    before = weights(beh)
    with ours_sampling(ov3.Noise(5)), gradients_before_clipping(beh) as grads:
        ours.update_behaviour(ours_start)
    assert sorted(grads) == sorted(names[k][0].removeprefix("behaviour.") for k in
                                   {**out["actor_grads"], **out["critic_grads"]})
    expected = {}
    for part, chain in (("actor.", ac.opt.opt), ("critic.", ac.critics["extr"].opt.opt)):
        expected |= official_steps(chain, before, {k: g for k, g in grads.items()
                                                   if k.startswith(part)})
    check_steps(beh, before, expected, "behaviour step")


def test_slow_critic_updates(off, theirs):
    """The slow critic after each of several updates (the critic moved in between): the
    official SlowUpdater (a copy at its first call, then 2% per update) on the official
    variables against ours."""
    varibs, ours, names = build(theirs, "harmony")
    jax = off.jax
    counter = "agent/task_behavior/critic/updates/value"
    assert int(varibs[counter]) == 0 == ours.updates
    updater = theirs.agent.task_behavior.ac.critics["extr"].updater
    state = dict(varibs)
    critic, slow = ov3.critic_keys(varibs), [k for k in MAP if "/critic/slow/" in k]
    mine = dict(ours.named_parameters())
    for step in range(3):
        for k in critic:  # the critic moves (as an update would)
            state[k] = state[k] + 0.01 * (step + 1)
        with torch.no_grad():
            for p in ours.behaviour.critic.parameters():
                p.add_(0.01 * (step + 1))
        _, state = off.nj.pure(lambda: updater())(state, jax.random.PRNGKey(0))
        ours.finish_update()
        assert int(state[counter]) == ours.updates
        for k in slow:
            name, to_ours = names[k]
            close(mine[name], to_ours(np.asarray(state[k])), f"update {step}: slow {name}")


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_acting(off, theirs, mode):
    """Two policy steps for two envs from the initial state: the posterior latent and the
    action are sampled in both modes (official policy(mode='eval') samples the action too)."""
    varibs, ours, _ = build(theirs, "harmony")
    inner = theirs.agent
    official, _ = batches()
    ostate = run_official(off, theirs, lambda: inner.policy_initial(B), varibs)
    noise, mine = ov3.Noise(7), ov3.Noise(7)
    state = None
    for t in range(2):
        obs = {"image": official["image"][:, t], "reward": np.zeros(B, np.float32),
               "is_first": np.full(B, t == 0), "is_last": np.zeros(B, bool),
               "is_terminal": np.zeros(B, bool)}
        with ov3.patched_sampling(off, noise):
            outs, ostate = run_official(off, theirs, lambda o, s: inner.policy(o, s, mode=mode),
                                        varibs, obs, ostate, seed=t)
        with ours_sampling(mine):
            action, state = ours.act(official["image"][:, t], state, explore=mode == "train")
        latent = ostate[0][0]
        close(state[0], latent["deter"], f"{mode} step {t}: deter")
        equal(state[1], np.asarray(latent["stoch"]).reshape(B, -1), f"{mode} step {t}: latent")
        equal(action, outs["action"], f"{mode} step {t}: action")


def official_prefill(c) -> int:
    """Agent steps the official train_eval prefills: random-action chunks of 100 steps until
    the replay holds max(batch_size x batch_length, train_fill) windows, a window per step
    once batch_length steps exist (embodied/run/train_eval.py, replay/generic.py)."""
    steps = 0
    while max(0, steps - c.batch_length + 1) < max(c.batch_size * c.batch_length,
                                                  c.run.train_fill):
        steps += 100
    return steps


def our_evaluations(t) -> list[int]:
    """The steps at which our chunked loop evaluates (agents/run/loop.py chunk_evaluation, called
    at every chunk boundary as the loop does), for a run config `t` without action repeat."""
    from agents.run.loop import chunk_evaluation, next_multiple

    next_eval = t.eval_offset + (0 if t.eval_initial else t.eval_every)
    out = []
    for step in range(t.chunk, t.steps + 1, t.chunk):
        due, next_eval = chunk_evaluation(step, next_eval, t)
        if due:
            out.append(step)
            next_eval = t.eval_offset + next_multiple(step - t.eval_offset, t.eval_every)
    return out


def official_evaluations(c, prefill: int) -> list[int]:
    """Agent steps at which train_eval evaluates: embodied.when.Every(eval_every,
    eval_initial) checked before each 100-step chunk while step < steps."""
    every, step, prev, out = int(c.run.eval_every), prefill, None, []
    while step < c.run.steps:
        if prev is None:
            prev = step // every * every
            due = c.run.eval_initial
        else:
            due = step >= prev + every
            prev += every if due else 0
        if due:
            out.append(step)
        step += 100
    return out


def test_schedule_and_settings_are_the_official_config(off):
    """Our resolved paper preset on Atari against atari100k: the run schedule (official
    counts are agent steps, ours frames) and every setting the agent reads."""
    c = ov3.official_config(off)
    cfg = make_config("paper", TASK, ["model.agent=dreamerv3"])
    t, m, b, r = cfg.train, cfg.model, cfg.behaviour, cfg.replay
    repeat = c.env.atari.repeat
    assert cfg.env.action_repeat == repeat == 4
    assert (r.batch_size, r.seq_len) == (c.batch_size, c.batch_length) == (16, 64)
    # train_ratio 1024 replayed steps per agent step = one batch of 16 x 64: one update
    assert c.run.train_ratio / (c.batch_size * c.batch_length) == 1
    assert t.train_every == repeat and t.pretrain == 0
    assert t.steps == c.run.steps * repeat == 404_000
    assert t.eval_every == c.run.eval_every * repeat == 20_000
    assert t.eval_initial == c.run.eval_initial is False and t.eval_offset == 0
    assert t.eval_episodes == c.run.eval_eps == 100
    # train_eval drives the train env 100 agent steps at a time and checks for evaluation
    # (in an env of its own) between those chunks; the run ends at exactly `steps`.
    assert t.chunk == 100 * repeat
    prefill = official_prefill(c)
    assert t.prefill == prefill * repeat == 4_400
    grid = list(range(t.eval_offset + t.eval_every, t.steps + 1, t.eval_every))
    assert grid == [s * repeat for s in official_evaluations(c, prefill)] == our_evaluations(t)
    assert (c.replay, c.replay_online, r.stream, r.prioritize_ends) == (
        "uniform", False, True, False)
    assert b.eval_greedy is False  # policy(mode='eval') samples the action
    assert (c.task_behavior, c.expl_behavior, c.envs.amount) == ("Greedy", "None", 1)
    assert c.jax.precision == "float32" and t.precision == "fp32"
    # networks
    assert (m.deter, m.hidden, m.stoch, m.classes, m.unimix) == (
        c.rssm.deter, c.rssm.units, c.rssm.stoch, c.rssm.classes, c.rssm.unimix)
    assert (c.rssm.initial, c.rssm.act, c.rssm.norm, c.rssm.action_clip) == (
        "learned", "silu", "layer", 1.0)
    assert m.depth == c.encoder.cnn_depth == c.decoder.cnn_depth == 32
    for net in (c.encoder, c.decoder):
        assert (net.cnn, net.cnn_blocks, net.resize, net.minres, net.act, net.norm) == (
            "resnet", 0, "stride", 4, "silu", "layer")
    assert (c.encoder.cnn_keys, c.encoder.mlp_keys) == ("image", "$^")
    assert (c.decoder.image_dist, c.decoder.cnn_sigmoid) == ("mse", False)
    for head in (c.reward_head, c.cont_head, c.actor, c.critic):
        assert (head.layers, head.units, head.act, head.norm) == (
            m.mlp_layers, m.mlp_units, "silu", "layer")
    assert (c.reward_head.dist, c.reward_head.outscale, c.reward_head.bins) == (
        "symlog_disc", 0.0, m.bins)
    assert (c.critic.dist, c.critic.outscale, c.critic.bins) == ("symlog_disc", 0.0, m.bins)
    assert (c.cont_head.dist, c.actor_dist_disc, c.actor.unimix) == ("binary", "onehot",
                                                                     m.unimix)
    assert m.init == "dreamerv3" and all(
        (net.winit, net.fan) == ("normal", "avg") for net in (
            c.rssm, c.encoder, c.decoder, c.reward_head, c.cont_head, c.actor, c.critic))
    # losses
    s = c.loss_scales
    assert (m.dyn_scale, m.rep_scale) == (s.dyn, s.rep)
    assert (s.image, s.reward, s.cont, s.actor, s.critic, b.slowreg) == (
        1.0, 1.0, 1.0, 1.0, 1.0, s.slowreg)
    assert tuple(c.grad_heads) == ("decoder", "reward", "cont")
    assert (c.dyn_loss.impl, c.rep_loss.impl) == ("kl", "kl")
    assert m.free_bits == c.dyn_loss.free == c.rep_loss.free
    # optimisers
    assert (m.lr, m.eps, m.clip, m.weight_decay) == (
        c.model_opt.lr, c.model_opt.eps, c.model_opt.clip, c.model_opt.wd)
    for lr, opt in ((b.actor_lr, c.actor_opt), (b.critic_lr, c.critic_opt)):
        assert (opt.opt, lr, b.eps, b.clip, b.weight_decay, opt.warmup, opt.lateclip) == (
            "adam", opt.lr, opt.eps, opt.clip, opt.wd, 0, 0.0)
    assert (c.model_opt.opt, c.model_opt.warmup, c.model_opt.lateclip) == ("adam", 0, 0.0)
    # behaviour
    assert b.horizon == c.imag_horizon
    assert b.discount == 1 - 1 / c.horizon and b.lam == c.return_lambda
    assert b.actor_entropy == c.actent and c.actor_grad_disc == "reinforce"
    assert (b.target_every, b.target_fraction) == (c.slow_critic_update,
                                                   c.slow_critic_fraction)
    assert c.critic_slowreg == "logprob" and c.critic_type == "vfunction"
    assert (c.retnorm.impl, c.retnorm.max) == ("perc_ema", 1.0)
    assert (b.retnorm_decay, b.retnorm_low, b.retnorm_high) == (
        c.retnorm.decay, c.retnorm.perclo, c.retnorm.perchi)


def test_crafter_paper_preset_is_the_official_crafter_config(off):
    """Crafter (the stand-in for Minecraft): our paper preset against defaults + crafter, field
    by field: the XL model, the schedule in agent steps (no action repeat) and precision."""
    c = off.embodied.Config(off.configs["defaults"]).update(off.configs["crafter"])
    cfg = make_config("paper", "crafter/reward", ["model.agent=dreamerv3"])
    t, m, r = cfg.train, cfg.model, cfg.replay
    assert c.task == "crafter_reward" and cfg.env.action_repeat == 1
    assert cfg.env.image_size == 64 and cfg.env.episode_length == 10_000  # crafter.Env's length
    assert (m.deter, m.hidden) == (c.rssm.deter, c.rssm.units) == (4096, 1024)
    assert m.depth == c.encoder.cnn_depth == c.decoder.cnn_depth == 96
    for head in (c.reward_head, c.cont_head, c.actor, c.critic):
        assert (head.layers, head.units) == (m.mlp_layers, m.mlp_units) == (5, 1024)
    assert (r.batch_size, r.seq_len) == (c.batch_size, c.batch_length) == (16, 64)
    # train_ratio 512 replayed steps per agent step = half a batch of 1,024: one update per 2
    assert c.run.train_ratio / (c.batch_size * c.batch_length) * t.train_every == 1
    assert t.steps == c.run.steps and t.eval_every == c.run.eval_every
    assert t.eval_episodes == c.run.eval_eps and t.eval_initial == c.run.eval_initial is True
    assert c.envs.amount == cfg.env.num_envs == 1 and t.chunk == 100
    assert t.prefill == official_prefill(c)
    assert our_evaluations(t) == official_evaluations(c, official_prefill(c))  # 1,100 first
    assert c.jax.precision == "float16" and t.precision == "fp16"
    # The rest is the atari100k agent's (tested above): the same optimisers and losses.
    assert (m.lr, m.eps, m.clip) == (c.model_opt.lr, c.model_opt.eps, c.model_opt.clip)
    assert (cfg.behaviour.actor_lr, cfg.behaviour.critic_lr) == (c.actor_opt.lr, c.critic_opt.lr)
    assert cfg.behaviour.eval_greedy is False
