"""Our DreamerV2 is the official computation: each part run beside the official wmlib-torch
code (HarmonyDream commit 0a22e33) on the same weights, inputs and sampling noise.

Two pairs: our `paper` preset on a Meta-world task vs the official `metaworld` config, and on a
DMC task vs `dmc_vision`, both at the paper's layer sizes (small batches keep it quick). The
official weights are copied into ours through a name map that must cover every parameter of
both; tests/algorithm/official.py imports the official code and shares the noise. Agreement is
judged relative to the official values' scale: max |ours - official| <= 1e-5 max |official|.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch

from agents.config import make_config
from agents.dreamerv2.agent import Agent
from tests.algorithm.official import (
    Noise,
    import_wmlib,
    matched_parameters,
    official_agent,
    official_config,
)
from tests.algorithm.steps import (
    PERTURBATIONS,
    check_steps,
    gradients_before_clipping,
    perturbed_optimisers,
    weights,
)

RTOL = 1e-5
PAIRS = {"metaworld": ("metaworld/lever-pull", 4), "dmc_vision": ("dmc/walker-walk", 6)}
# Our weighting -> the official config that computes it.
WEIGHTINGS = {
    "fixed": ([], {}),
    "w_r=100": (["weighting.w_r=100"], {"loss_scales.reward": 100.0}),
    "reward_only": (["weighting.name=reward_only"], {"loss_scales.image": 0.0}),
    "observation_only": (["weighting.name=observation_only"], {"grad_heads": ["decoder"]}),
    "harmony": (["weighting.name=harmony"], {"harmony": True}),
}
B, T = 2, 6

# The official wmlib-torch decorates with torch.jit.script, which torch deprecates: its noise.
pytestmark = [pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings(
                  r"ignore:`torch\.jit\.script` is deprecated:DeprecationWarning")]


def close(ours: torch.Tensor, theirs: torch.Tensor, what: str, rtol: float = RTOL) -> None:
    ours, theirs = torch.as_tensor(ours).detach().float(), torch.as_tensor(theirs).detach().float()
    assert ours.shape == theirs.shape, f"{what}: shape {tuple(ours.shape)} vs {tuple(theirs.shape)}"
    err, scale = (ours - theirs).abs().max().item(), theirs.abs().max().item()
    assert err <= rtol * scale + 1e-12, f"{what}: max |diff| {err:.3g}, max |official| {scale:.3g}"


@pytest.fixture(scope="module")
def off():
    return import_wmlib()


def build(off, pair: str, weighting: str = "fixed", seed: int = 0, sets: tuple = ()):
    """The official agent and ours (with `sets` too) with the official weights copied in."""
    task, actions = PAIRS[pair]
    weighting_sets, updates = WEIGHTINGS[weighting]
    torch.manual_seed(seed)
    theirs = official_agent(off, official_config(off, pair, updates), actions)
    # No gradient probe: its forward pass would draw from the shared noise stream (it only
    # observes; tests/algorithm/test_gradients.py checks that a probed run computes the same).
    ours = Agent(make_config("paper", task, [*weighting_sets, "train.probe_every=0", *sets]),
                 actions, torch.device("cpu"))
    pairs = matched_parameters(theirs, ours, ours.cfg.model.mlp_layers)
    with torch.no_grad():
        for a, b in pairs.values():
            b.copy_(a)
    return theirs, ours, pairs


def prepared(off, pair: str, monkeypatch, weighting: str = "fixed"):
    """Both agents on the official weights, both codes on shared noise, one batch each."""
    theirs, ours, pairs = build(off, pair, weighting)
    noise = Noise()
    noise.patch(monkeypatch, off)
    return theirs, ours, pairs, noise, *batches(PAIRS[pair][1])


def batches(actions: int, seed: int = 0):
    """One batch in each code's layout; episodes start at t = 0 and mid-sequence in row 1."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (B, T, 64, 64, 3), dtype=np.uint8)
    action = rng.uniform(-1, 1, (B, T, actions)).astype(np.float32)
    reward = rng.uniform(0, 1, (B, T)).astype(np.float32)
    first = np.zeros((B, T), np.float32)
    first[:, 0], first[1, 3] = 1, 1
    ours = {"image": torch.as_tensor(image), "action": torch.as_tensor(action),
            "reward": torch.as_tensor(reward), "is_first": torch.as_tensor(first)}
    theirs = {"image": torch.as_tensor(image).permute(0, 1, 4, 2, 3).float(),
              "action": ours["action"], "reward": ours["reward"], "is_first": ours["is_first"],
              "is_last": torch.zeros(B, T), "is_terminal": torch.zeros(B, T)}
    return ours, theirs


def step_slack(name: str, grad: torch.Tensor, cfg) -> float:
    """How far one Adam step may move apart given the gradients' agreement: the first step is
    lr g / (|g| + eps), so a gradient's rounding error (up to RTOL max |g|) can grow by up to
    lr / eps in it."""
    m, b = cfg.model, cfg.behaviour
    lr, eps = ((m.lr, m.eps) if name.startswith("wm.") else
               (b.actor_lr, b.eps) if ".actor." in name else (b.critic_lr, b.eps))
    return lr / eps * RTOL * grad.abs().max().item()


def close_steps(pairs, before, grads_before, cfg, what: str) -> None:
    for name, (a, b) in pairs.items():
        if name not in grads_before:
            continue
        slack = step_slack(name, grads_before[name], cfg)
        ours, theirs = b.detach() - before[name][1], a.detach() - before[name][0]
        err, scale = (ours - theirs).abs().max().item(), theirs.abs().max().item()
        assert err <= RTOL * scale + slack + 1e-12, (
            f"{what} of {name}: max |diff| {err:.3g}, max |official| {scale:.3g}, "
            f"slack from the gradients {slack:.3g}")


def official_steps(off, opt_config, before: dict[str, torch.Tensor], grads: dict) -> dict:
    """The step the official wmlib Optimizer (Adam, L2 decay, global-norm clip) makes from our
    weights on our gradients (before clipping), run on copies of them."""
    copies = {k: before[k].clone().requires_grad_(True) for k in grads}
    for k, p in copies.items():
        p.grad = grads[k].clone()
    with contextlib.redirect_stdout(io.StringIO()):  # it prints "Init optimizer"
        opt = off.wmlib.core.Optimizer("step", [list(copies.values())], **opt_config)
    opt.step(torch.zeros(()))
    return {k: (p.detach() - before[k]).numpy() for k, p in copies.items()}


def grads(pairs, what: str) -> None:
    for name, (a, b) in pairs.items():
        if a.grad is None and b.grad is None:
            continue
        assert a.grad is not None and b.grad is not None, f"{what}: only one has {name}'s grad"
        close(b.grad, a.grad, f"{what} gradient of {name}")


@pytest.mark.parametrize("pair", PAIRS)
def test_every_parameter_has_a_counterpart_of_the_same_shape(off, pair):
    build(off, pair, "harmony")  # matched_parameters asserts both directions and shapes


@pytest.mark.parametrize("pair", PAIRS)
def test_encoder_decoder_heads_and_rssm_steps(off, pair, monkeypatch):
    theirs, ours, _, noise, data, odata = prepared(off, pair, monkeypatch)
    wm, owm = ours.wm, theirs.wm
    with torch.no_grad():
        from agents.nets.latent import preprocess
        embed = wm.encoder(preprocess(data["image"]))
        oembed = owm.encoder(owm.preprocess(odata))
        close(embed, oembed, "encoder")
        feat = torch.randn(B, T, wm.rssm.feat_dim)
        close(wm.decoder(feat), owm.heads["decoder"](feat)["image"].mean, "decoder")
        close(wm.reward_mean(feat), owm.heads["reward"](feat).mean, "reward head")
        close(ours.behaviour.critic(feat).squeeze(-1),
              theirs._task_behavior.critic(feat).mean, "critic")
        dist, odist = ours.behaviour.actor(feat), theirs._task_behavior.actor(feat)
        close(dist.mean, odist.mean, "actor mean")
        close(dist.base_dist.scale, odist.base_dist.scale, "actor std")
        close(dist.entropy(), odist.entropy(), "actor entropy")
        a = odist.sample()
        close(dist.log_prob(a), odist.log_prob(a), "actor log-prob")
        # One prior step and one posterior step from a random state.
        rssm, orssm = wm.rssm, owm.rssm
        stoch = torch.nn.functional.one_hot(torch.randint(0, 32, (B, 32)), 32).float()
        deter, act = torch.randn(B, rssm.deter), data["action"][:, 1]
        state = {"stoch": stoch, "deter": deter, "logit": torch.zeros(B, 32, 32)}
        noise.reset()
        oprior = orssm.img_step(state, act)
        h, prior_logits = rssm.img_step(deter, stoch.flatten(1), act)
        close(h, oprior["deter"], "prior step: deter")
        close(prior_logits, oprior["logit"].flatten(1), "prior step: logits")
        noise.reset()
        opost, _ = orssm.obs_step(state, act, oembed[:, 1], torch.zeros(B))
        noise.reset()
        h, z = rssm.obs_step(deter, stoch.flatten(1), act, embed[:, 1])
        close(h, opost["deter"], "posterior step: deter")
        close(z, opost["stoch"].flatten(1), "posterior step: sample")
        # observe over whole sequences, episodes starting at t = 0 and mid-sequence
        noise.reset()
        opost, oprior = orssm.observe(oembed, odata["action"], odata["is_first"])
        noise.reset()
        deter, stoch, post, prior = rssm.observe(embed, data["action"], data["is_first"])
        close(deter, opost["deter"], "observe: deter")
        close(stoch, opost["stoch"].flatten(2), "observe: posterior samples")
        close(post, opost["logit"].flatten(2), "observe: posterior logits")
        close(prior, oprior["logit"].flatten(2), "observe: prior logits")


def world_model_step(theirs, ours, noise, data, odata):
    """Loss, logs and the official outputs of one world-model loss in each code."""
    noise.reset()
    oloss, _, outs, mets = theirs.wm.loss(odata)
    noise.reset()
    loss, logs, post = ours.wm.loss(data)
    return (oloss, mets, outs), (loss, logs, post)


@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("pair", PAIRS)
def test_world_model_losses_gradients_and_one_step(off, pair, weighting, monkeypatch):
    theirs, ours, pairs, noise, data, odata = prepared(off, pair, monkeypatch, weighting)
    (oloss, mets, _), (loss, logs, _) = world_model_step(theirs, ours, noise, data, odata)
    close(logs["loss_obs"], mets["image_loss"], "image loss")
    close(logs["loss_rew"], mets["reward_loss"], "reward loss")
    close(logs["loss_dyn"], mets["kl_loss"], "KL loss")
    close(loss, oloss, "total world-model loss")
    theirs.wm.zero_grad()
    ours.wm.zero_grad()
    oloss.backward()
    loss.backward()
    grads(pairs, "world-model")
    # One optimiser step (Adam with the official weight decay and clipping): the official
    # wmlib Optimizer on our own gradients, element by element (tests/algorithm/steps.py).
    before = weights(ours.wm)
    noise.reset()
    with gradients_before_clipping(ours.wm) as ours_grads:
        ours.update_world_model(data)
    check_steps(ours.wm, before, official_steps(off, theirs.config.model_opt, before,
                                                ours_grads), "world-model step")


@pytest.mark.parametrize("perturbation", PERTURBATIONS)
def test_the_step_check_catches_a_wrong_optimiser(off, perturbation, monkeypatch):
    """Negative controls: each change of our optimiser, made in memory, fails the check."""
    theirs, ours, _, noise, data, _ = prepared(off, "metaworld", monkeypatch)
    with gradients_before_clipping(ours.wm) as grads:
        ours.update_world_model(data)
    norm = torch.linalg.vector_norm(torch.stack([g.norm() for g in grads.values()])).item()
    theirs, ours, _, noise, data, _ = prepared(off, "metaworld", monkeypatch)
    before = weights(ours.wm)
    with perturbed_optimisers(ours, perturbation, norm), \
            gradients_before_clipping(ours.wm) as grads:
        ours.update_world_model(data)
    expected = official_steps(off, theirs.config.model_opt, before, grads)
    with pytest.raises(AssertionError, match="world-model step"):
        check_steps(ours.wm, before, expected, "world-model step")


@pytest.mark.parametrize("pair", PAIRS)
def test_imagination_returns_and_behaviour_losses(off, pair, monkeypatch):
    theirs, ours, pairs, noise, data, odata = prepared(off, pair, monkeypatch)
    (_, _, outs), (_, _, post) = world_model_step(theirs, ours, noise, data, odata)
    ostart = {k: v.detach() for k, v in outs["post"].items()}
    close(post.feat, theirs.wm.rssm.get_feat(ostart), "imagination starts")
    ac, beh = theirs._task_behavior, ours.behaviour
    noise.reset()
    seq = theirs.wm.imagine(ac.actor, ostart, odata["is_terminal"], ac.config.imag_horizon)
    seq["reward"], _ = ac.rewnorm(theirs.wm.heads["reward"](seq["feat"]).mode)
    target, _ = ac.target(seq)
    returns = target.clone()
    actor_loss, ometrics = ac.actor_loss(seq, target)  # adds the entropy bonus to target in place
    critic_loss, _ = ac.critic_loss(seq, target)
    oactor = torch.autograd.grad(actor_loss, list(ac.actor.parameters()), retain_graph=True)
    ocritic = torch.autograd.grad(critic_loss, list(ac.critic.parameters()))

    noise.reset()
    feats, _ = beh.imagine(ours.wm, post)
    reward, ours_returns, weight = beh.returns(ours.wm, feats)
    close(feats, seq["feat"], "imagined features")
    close(reward, seq["reward"], "imagined rewards")
    close(ours_returns, returns, "lambda-returns")
    close(weight, seq["weight"], "step weights")
    noise.reset()
    loss_a, loss_c, logs = beh.losses(ours.wm, post)
    close(loss_a, actor_loss, "actor loss")
    close(logs["actor_entropy"], ometrics["actor_ent"], "logged actor entropy (z_0..z_{H-2})")
    close(loss_c, critic_loss, "critic loss")
    for what, params, official in (("actor", beh.actor, oactor), ("critic", beh.critic, ocritic)):
        mine = torch.autograd.grad(loss_a if what == "actor" else loss_c,
                                   list(params.parameters()), retain_graph=True)
        for i, (a, b) in enumerate(zip(mine, official, strict=True)):
            close(a, b, f"{what} gradient {i}")


@pytest.mark.parametrize("pair", PAIRS)
def test_one_whole_update(off, pair, monkeypatch):
    """World-model, actor and critic steps and the slow critic's first copy, as one update."""
    theirs, ours, pairs, noise, data, odata = prepared(off, pair, monkeypatch, "harmony")
    noise.reset()
    theirs.wm.loss(odata)[0].backward()  # the world-model gradients, for the steps' slack
    official_grads = {k: a.grad.clone() for k, (a, _) in pairs.items() if a.grad is not None}
    before = {k: (a.detach().clone(), b.detach().clone()) for k, (a, b) in pairs.items()}
    noise.reset()
    theirs.train(odata)
    noise.reset()
    ours.update_tensors(data)
    official_grads.update({k: a.grad.clone() for k, (a, _) in pairs.items()
                           if "_task_behavior" in k and a.grad is not None})
    close_steps(pairs, before, official_grads, ours.cfg, "update")  # the order of the steps
    # Both slow critics are copies of their critics after the first update.
    for slow, critic in ((theirs._task_behavior._target_critic, theirs._task_behavior.critic),
                         (ours.behaviour.target, ours.behaviour.critic)):
        for a, b in zip(slow.parameters(), critic.parameters(), strict=True):
            assert torch.equal(a, b)
    # Each step, tightly: the official optimisers on our own gradients.
    theirs, ours, pairs, noise, data, odata = prepared(off, pair, monkeypatch, "harmony")
    before = weights(ours)
    noise.reset()
    with gradients_before_clipping(ours) as grads:
        ours.update_tensors(data)
    expected = {}
    for part, opt_config in (("wm.", theirs.config.model_opt),
                             ("behaviour.actor.", theirs.config.actor_opt),
                             ("behaviour.critic.", theirs.config.critic_opt)):
        expected |= official_steps(off, opt_config, before, {k: g for k, g in grads.items()
                                                             if k.startswith(part)})
    check_steps(ours, before, expected, "update")


def test_fp16_matches_the_official_fp16(off, monkeypatch):
    """The official precision 16 run on the CPU (its torch.cuda.amp autocast and GradScalers
    become their CPU forms; its batch goes in fp16, as its train script casts it) against ours
    at train.precision=fp16: the losses and gradients agree to fp16's resolution; in one whole
    update, at the default scale 2^16 the decoder's gradient overflows fp16 in both codes, so
    both skip the world-model step and halve only that optimiser's scale (a GradScaler per
    optimiser), and the actor and critic steps agree in sign almost everywhere (a first Adam
    step is lr sign(g) but where |g| is below fp16's rounding)."""
    monkeypatch.setattr(torch.cuda.amp, "autocast", lambda enabled=True: torch.autocast(
        "cpu", dtype=torch.float16, enabled=enabled))
    monkeypatch.setattr(torch.cuda.amp, "GradScaler",
                        lambda enabled=True: torch.amp.GradScaler("cpu", enabled=enabled))
    monkeypatch.setattr(off.wmlib, "ENABLE_FP16", True)
    theirs, ours, pairs = build(off, "metaworld", sets=("train.precision=fp16",))
    noise = Noise()
    noise.patch(monkeypatch, off)
    batch, obatch = batches(PAIRS["metaworld"][1])
    data = ours.to_torch({k: v.numpy() for k, v in batch.items()})
    odata = {k: v.to(torch.float16) for k, v in obatch.items()}
    assert data["reward"].dtype == data["action"].dtype == torch.float16
    noise.reset()
    with torch.cuda.amp.autocast():
        oloss, _, _, mets = theirs.wm.loss(odata)
    noise.reset()
    with ours.autocast():
        loss, logs, _ = ours.wm.loss(data)
    for mine, official in (("loss_obs", "image_loss"), ("loss_rew", "reward_loss"),
                           ("loss_dyn", "kl_loss")):
        close(logs[mine], mets[official], f"fp16 {official}", rtol=2e-3)
    close(loss, oloss, "fp16 total world-model loss", rtol=2e-3)
    oloss.backward()
    loss.backward()
    for name, (a, b) in pairs.items():
        if a.grad is not None:
            close(b.grad, a.grad, f"fp16 gradient of {name}", rtol=2e-2)

    theirs, ours, pairs = build(off, "metaworld", sets=("train.precision=fp16",))
    before = {k: (a.detach().clone(), b.detach().clone()) for k, (a, b) in pairs.items()}
    noise.reset()
    theirs.train(odata)
    noise.reset()
    ours.update_tensors(data)
    official_scales = {"model": theirs.wm.model_opt.scaler,
                       "actor": theirs._task_behavior.actor_opt.scaler,
                       "critic": theirs._task_behavior.critic_opt.scaler}
    scales = {k: s.get_scale() for k, s in official_scales.items()}
    assert scales == {"model": 2.0**15, "actor": 2.0**16, "critic": 2.0**16}
    assert {k: ours.scaler(k).get_scale() for k in scales} == scales
    for k, (a, b) in pairs.items():
        if k.startswith("wm."):  # skipped by both
            assert torch.equal(a, before[k][0]) and torch.equal(b, before[k][1]), k
        elif "_target_critic" not in k:
            sa, sb = a.detach() - before[k][0], b.detach() - before[k][1]
            agree = (sa.sign() == sb.sign()).float().mean().item()
            assert sa.abs().max() > 0 and agree > 0.99, f"fp16 step of {k}: signs agree {agree}"


@pytest.mark.parametrize("pair", PAIRS)
def test_slow_critic_schedule(off, pair):
    theirs, ours, pairs = build(off, pair)
    ac = theirs._task_behavior
    copied, ours_copied = [], []
    with torch.no_grad():
        for _ in range(205):
            for a, b in zip(ac.critic.parameters(), ours.behaviour.critic.parameters(),
                            strict=True):
                a.add_(0.01)
                b.add_(0.01)
            ac.update_slow_target()
            ours.finish_update()
            copied.append(torch.equal(ac.critic.out.out.weight, ac._target_critic.out.out.weight))
            ours_copied.append(torch.equal(ours.behaviour.critic[-1].weight,
                                           ours.behaviour.target[-1].weight))
    assert [i for i, c in enumerate(copied) if c] == [0, 100, 200]
    assert ours_copied == copied
    for name, (a, b) in pairs.items():
        if "target" in name:
            close(b, a, name)


def official_evaluations(c) -> list[int]:
    """The agent steps at which the official training script evaluates: its loop evaluates,
    stops if past stop_steps, trains eval_every steps, and repeats while step < steps; the
    counter starts after prefill."""
    step, out = c.prefill, []
    while step < c.steps:
        out.append(step)
        if c.stop_steps != -1 and step >= c.stop_steps:
            break
        step += c.eval_every
    return out


def evaluations(t) -> list[int]:
    """The frames at which our loop evaluates (agents/run/loop.py: a grid from eval_offset, and
    once more at the end if that is off the grid)."""
    grid = list(range(t.eval_offset, t.steps + 1, t.eval_every))
    return grid + ([t.steps] if grid[-1] != t.steps else [])


# Configs checked for their settings only: the distracted DMC suites run the DMC agent.
SETTINGS = {**{pair: task for pair, (task, _) in PAIRS.items()},
            "dmc_natural_background": "dmc_distracted/walker-walk",
            "dmc_remastered": "dmc_remastered/walker-walk"}


@pytest.mark.parametrize("pair", SETTINGS)
def test_schedule_and_optimiser_settings_are_the_official_configs(off, pair):
    """Our resolved `paper` config against the official config: every setting the agent or
    its schedule reads. The official step counts are agent steps; ours are frames."""
    task = SETTINGS[pair]
    c = official_config(off, pair)
    cfg = make_config("paper", task)
    ar = c.action_repeat
    assert cfg.env.action_repeat == ar
    assert cfg.train.prefill == c.prefill * ar
    assert cfg.train.pretrain == c.pretrain + 1  # its first "benchmarking" pass is an update
    assert cfg.train.train_every == c.train_every * ar and c.train_steps == 1
    assert cfg.train.eval_every == c.eval_every * ar
    assert cfg.train.eval_episodes == c.eval_eps
    assert cfg.train.eval_initial
    assert evaluations(cfg.train) == [s * ar for s in official_evaluations(c)]
    # Meta-world's limit is the config's; DMC's (time_limit 0) is the suite's 1000 frames.
    assert cfg.env.episode_length == (c.time_limit * ar if c.time_limit else 1000)
    assert cfg.env.image_size == c.render_size[0] == c.render_size[1]
    if pair == "metaworld":
        assert cfg.env.camera == c.camera
    assert cfg.replay.capacity == c.replay.capacity
    assert cfg.replay.prioritize_ends == c.replay.prioritize_ends
    assert (cfg.replay.batch_size, cfg.replay.seq_len) == (c.dataset.batch, c.dataset.length)
    assert c.replay.minlen == c.replay.maxlen == c.dataset.length  # one episode per sequence
    m, b = cfg.model, cfg.behaviour
    assert (m.deter, m.hidden, m.stoch, m.classes) == (
        c.rssm.deter, c.rssm.hidden, c.rssm.stoch, c.rssm.discrete)
    assert (c.rssm.ensemble, c.rssm.act, c.rssm.norm) == (1, "elu", "none")
    assert m.depth == c.encoder.cnn_depth == c.decoder.cnn_depth
    assert m.enc_kernels == tuple(c.encoder.cnn_kernels)
    assert m.dec_kernels == tuple(c.decoder.cnn_kernels)
    for head in (c.reward_head, c.actor, c.critic):
        assert (head.layers, head.units, head.act, head.norm) == (
            m.mlp_layers, m.mlp_units, "elu", "none")
    assert (m.kl_balance, m.free_nats) == (c.kl.balance, c.kl.free)
    assert (c.kl.forward, c.kl.free_avg) == (False, True)  # what our KL computes
    for (lr, eps, clip, wd), opt in (((m.lr, m.eps, m.clip, m.weight_decay), c.model_opt),
                                     ((b.actor_lr, b.eps, b.clip, b.weight_decay), c.actor_opt),
                                     ((b.critic_lr, b.eps, b.clip, b.weight_decay), c.critic_opt)):
        assert (opt.opt, lr, eps, clip, wd) == ("adam", opt.lr, opt.eps, opt.clip, opt.wd)
    assert (b.horizon, b.discount, b.lam) == (c.imag_horizon, c.discount, c.discount_lambda)
    assert b.actor_entropy == c.actor_ent and b.actor_min_std == c.actor.min_std
    assert b.actor_init_std == 0.0 and "init_std" not in c.actor  # DistLayer's default
    assert (b.target_every, b.target_fraction) == (c.slow_target_update,
                                                   c.slow_target_fraction)
    assert b.entropy_in_critic_target
    # What our DreamerV2 assumes of the official config.
    assert (c.clip_rewards, c.pred_discount, tuple(c.grad_heads)) == (
        "identity", False, ("decoder", "reward"))
    assert (c.actor.dist, c.actor_grad, c.imag_batch, c.slow_target) == (
        "auto", "auto", -1, True)
    assert (c.reward_norm.momentum, c.reward_perc, c.fast_lambda_return) == (1.0, False, False)
    assert (c.expl_behavior, c.expl_noise, c.eval_noise, c.eval_state_mean) == (
        "greedy", 0.0, 0.0, False)
    assert c.decoder.cnn_dist == "mse" and c.reward_head.dist == "mse" and c.beta == 0
    # precision 16 (fp16 autocast on its GPU): ours "auto" is fp16 on CUDA, fp32 on a CPU
    raw = off.utils.Config(off.configs["defaults"]).update(off.configs[pair])
    assert cfg.model.agent == "dreamerv2" and raw.precision == 16 and cfg.train.precision == "auto"
    if pair == "dmc_remastered":  # every visual factor varies, as the official `vary: all`
        from agents.envs.remastered import VARY, parse_task

        assert c.dmcr_vary == "all" and parse_task("walker-walk")[1].vary == VARY


@pytest.mark.parametrize("explore", [False, True])
@pytest.mark.parametrize("pair", PAIRS)
def test_acting(off, pair, explore, monkeypatch):
    """Two policy steps for two envs: the posterior latent is sampled in both modes; the
    action is the actor's mode in evaluation and a sample when training."""
    theirs, ours, _, noise, data, odata = prepared(off, pair, monkeypatch)
    state = ostate = None
    for t in range(2):
        obs = {"image": odata["image"][:, t], "reward": torch.zeros(B),
               "is_first": torch.full((B,), float(t == 0)), "is_terminal": torch.zeros(B)}
        noise.reset()
        out, ostate = theirs.policy(obs, ostate, mode="train" if explore else "eval")
        noise.reset()
        action, state = ours.act(data["image"][:, t].numpy(), state, explore)
        close(state[0], ostate[0]["deter"], f"step {t}: deter")
        close(state[1], ostate[0]["stoch"].flatten(1), f"step {t}: posterior latent")
        close(torch.as_tensor(action), out["action"], f"step {t}: action")
