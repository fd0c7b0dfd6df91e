"""Fast paths in the networks compute exactly the maths of their plain versions."""

import pytest
import torch
from torch import nn

from agents.dreamerv2.networks import RSSM, ConvTranspose2d
from agents.run.metrics import floats


def test_conv_transpose_1x1_fast_path_matches_torch():
    torch.manual_seed(0)
    layer = ConvTranspose2d(64, 8, 5, stride=2)
    x = torch.randn(6, 64, 1, 1, requires_grad=True)
    fast = layer(x)
    slow = nn.ConvTranspose2d.forward(layer, x)
    assert torch.allclose(fast, slow, atol=1e-5)
    g_fast = torch.autograd.grad(fast.square().sum(), [x, layer.weight, layer.bias])
    g_slow = torch.autograd.grad(slow.square().sum(), [x, layer.weight, layer.bias])
    for a, b in zip(g_fast, g_slow, strict=True):
        assert torch.allclose(a, b, atol=1e-4)
    wide = torch.randn(2, 64, 3, 3)  # not 1x1: the ordinary kernel
    assert torch.allclose(layer(wide), nn.ConvTranspose2d.forward(layer, wide))


def naive_observe(rssm: RSSM, embed, action, is_first=None):
    """The textbook loop: prior step, then posterior from [deter, embed], one step at a time;
    where an episode starts (t = 0 by default) the state and action are zeroed first."""
    deter, stoch = rssm.initial(embed.shape[0], embed.device)
    if is_first is None:
        is_first = torch.zeros(embed.shape[:2])
        is_first[:, 0] = 1
    out = {"deter": [], "stoch": [], "post": [], "prior": []}
    for t in range(embed.shape[1]):
        keep = 1 - is_first[:, t, None]
        deter, stoch = deter * keep, stoch * keep
        deter, prior = rssm.img_step(deter, stoch, action[:, t] * keep)
        post = rssm.post_head(torch.cat([deter, embed[:, t]], -1))
        stoch = rssm.sample(post)
        for k, v in (("deter", deter), ("stoch", stoch), ("post", post), ("prior", prior)):
            out[k].append(v)
    return [torch.stack(out[k], 1) for k in ("deter", "stoch", "post", "prior")]


@pytest.mark.parametrize("mid_episode_start", [False, True])
def test_batched_observe_matches_the_step_by_step_maths(mid_episode_start):
    torch.manual_seed(0)
    rssm = RSSM(embed_dim=20, action_dim=3, deter=16, hidden=12, stoch=4, classes=5)
    embed, action = torch.randn(3, 7, 20), torch.randn(3, 7, 3)
    first = None
    if mid_episode_start:
        first = torch.zeros(3, 7)
        first[:, 0], first[1, 4] = 1, 1
    torch.manual_seed(1)
    fast = rssm.observe(embed, action, first)
    torch.manual_seed(1)
    slow = naive_observe(rssm, embed, action, first)
    for a, b in zip(fast, slow, strict=True):
        assert a.shape == b.shape
        assert torch.allclose(a, b, atol=1e-5)
    # Gradients reach the same parameters with the same values.
    torch.manual_seed(1)
    g_fast = torch.autograd.grad(sum(x.sum() for x in rssm.observe(embed, action, first)),
                                 list(rssm.parameters()))
    torch.manual_seed(1)
    g_slow = torch.autograd.grad(
        sum(x.sum() for x in naive_observe(rssm, embed, action, first)),
        list(rssm.parameters()))
    for a, b in zip(g_fast, g_slow, strict=True):
        assert torch.allclose(a, b, atol=1e-4)


def test_open_loop_shapes():
    from agents.config import make_config
    from agents.dreamerv2.world_model import WorldModel
    from agents.weighting import make_weighting

    cfg = make_config("smoke", "metaworld/lever-pull")
    wm = WorldModel(cfg.model, 4, 64, make_weighting(cfg.weighting))
    image = torch.randint(0, 255, (2, 9, 64, 64, 3), dtype=torch.uint8)
    out = wm.open_loop(image, torch.zeros(2, 9, 4), context=3)
    assert out["recon"].shape == (2, 9, 3, 64, 64)
    assert out["imagined"].shape == (2, 6, 3, 64, 64)
    assert out["reward_post"].shape == (2, 9) and out["reward_open_loop"].shape == (2, 6)
    assert wm.encode_sequences(image, torch.zeros(2, 9, 4)).shape == (2, 9, wm.rssm.feat_dim)


def test_bf16_autocast_on_the_cpu_trains_like_fp32():
    # bf16 autocast runs on the CPU too (AMX where present): same losses up to precision.
    import numpy as np

    from agents.bench import fake_batch
    from agents.config import make_config
    from agents.dreamerv2.agent import Agent

    logs = {}
    for precision in ("fp32", "bf16"):
        cfg = make_config("smoke", "metaworld/lever-pull", [f"train.precision={precision}"])
        torch.manual_seed(0)
        agent = Agent(cfg, 4, torch.device("cpu"))
        batch = fake_batch(cfg, 4, np.random.default_rng(0))
        with agent.autocast():
            assert agent.wm.encoder.net[0](torch.zeros(1, 3, 64, 64)).dtype == (
                torch.bfloat16 if precision == "bf16" else torch.float32)
        logs[precision] = floats(agent.update(batch))
    assert all(np.isfinite(v) for v in logs["bf16"].values())
    assert logs["bf16"]["loss_obs"] == pytest.approx(logs["fp32"]["loss_obs"], rel=0.02)


@pytest.mark.parametrize("autocast", [False, True])
def test_loop_linear_gives_autograds_weight_gradient(autocast):
    """One weight gradient for all steps (agents/nets/loop_linear.py) equals autograd's per-step
    sum, through .backward() and autograd.grad, on a weight slice, in fp32 and bf16."""
    from agents.nets.loop_linear import LoopLinear

    torch.manual_seed(0)
    layer = nn.Linear(12, 8)
    h0 = torch.randn(5, 8)

    def run(loop: bool):
        weight = layer.weight[:, 4:]  # a slice, as the posterior layer's deter columns
        step = LoopLinear(weight, layer.bias) if loop else (
            lambda x: nn.functional.linear(x, weight, layer.bias))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            h, total = h0, 0.0
            for _ in range(6):
                h = torch.tanh(step(h))
                total = total + (h.float() ** 2).sum()
        return total

    expected = torch.autograd.grad(run(False), [layer.weight, layer.bias])
    got = torch.autograd.grad(run(True), [layer.weight, layer.bias])
    layer.zero_grad()
    run(True).backward()
    tol = 2e-2 if autocast else 1e-5
    for e, g in zip(expected, got, strict=True):
        assert torch.allclose(g, e, rtol=tol, atol=tol)
    assert torch.allclose(layer.weight.grad, expected[0], rtol=tol, atol=tol)
    assert torch.equal(layer.weight.grad[:, :4], torch.zeros(8, 4))  # outside the slice
    with torch.no_grad():
        assert torch.isfinite(LoopLinear(layer.weight, layer.bias)(torch.randn(2, 12))).all()


# Autograd calls on one graph (retain_graph=True), as (kind, what): gradients of the inputs
# first leave LoopLinear's steps run without its weight node, which must not count them later.
LOOP_CALLS = {
    "inputs_then_weight": [("grad", "x"), ("grad", "w")],
    "inputs_then_backward": [("grad", "x"), ("backward", "")],
    "middle_state_then_weight": [("grad", "h"), ("grad", "w")],
    "inputs_and_weight_then_weight": [("grad", "xw"), ("grad", "w")],
    "weight_twice": [("grad", "w"), ("grad", "w")],
    "backward_twice": [("backward", ""), ("backward", "")],
}


@pytest.mark.parametrize("autocast", [False, True])
@pytest.mark.parametrize("calls", LOOP_CALLS)
def test_loop_linear_matches_autograd_over_several_calls_on_one_graph(calls, autocast):
    """Every autograd call on one graph (a 5-step tanh RNN, batch 3, its recurrent weight a
    slice) gives plain autograd's gradients, and .backward() twice accumulates twice."""
    from agents.nets.loop_linear import LoopLinear

    torch.manual_seed(0)
    param = nn.Parameter(torch.randn(4, 6) * 0.5)
    inputs = torch.randn(5, 3, 4, requires_grad=True)

    def run_calls(loop: bool, sequence):
        weight = param[:, 2:]
        step = LoopLinear(weight) if loop else (lambda h: nn.functional.linear(h, weight))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            h, total, states = torch.zeros(3, 4), 0.0, []
            for x in inputs:
                h = torch.tanh(x + step(h))
                states.append(h)
                total = total + (h.float() ** 2).sum()
        targets = {"x": inputs, "w": param, "h": states[1]}
        param.grad = inputs.grad = None
        out = []
        for kind, what in sequence:
            if kind == "grad":
                out += torch.autograd.grad(total, [targets[c] for c in what], retain_graph=True)
            else:
                total.backward(retain_graph=True)
        return out + [t.grad for t in (param, inputs) if t.grad is not None]

    expected, got = run_calls(False, LOOP_CALLS[calls]), run_calls(True, LOOP_CALLS[calls])
    tol = 2e-2 if autocast else 1e-5
    torch.testing.assert_close(got, expected, rtol=tol, atol=tol)
    if calls == "backward_twice":  # .grad holds twice the single gradient
        once = run_calls(False, [("grad", "w")])[0]
        torch.testing.assert_close(got[0], 2 * once, rtol=tol, atol=tol)


def test_dreamerv2_starts_from_the_official_initialisation():
    """Glorot-uniform weights and zero biases (TF's defaults, which the official code uses),
    except the GRU's gate layer, which keeps PyTorch's (as officially); model.init=torch keeps
    PyTorch's everywhere. The slow critic has its own initialisation, as officially."""
    import math

    from agents.config import make_config
    from agents.dreamerv2.agent import Agent
    from agents.nets.init import DefaultInitLinear

    cfg = make_config("smoke", "metaworld/lever-pull")
    assert cfg.model.init == "glorot"
    agent = Agent(cfg, 4, torch.device("cpu"))
    kinds = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)
    layers = [m for m in agent.modules()
              if isinstance(m, kinds) and not isinstance(m, DefaultInitLinear)]
    assert len(layers) > 15
    gru = agent.wm.rssm.gru.linear
    bound = 1 / math.sqrt(gru.in_features)  # PyTorch's kaiming_uniform(a=sqrt(5)) and bias
    assert gru.weight.abs().max() <= bound and gru.bias.abs().max() <= bound
    assert gru.bias.any()
    for m in layers:
        fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(m.weight)
        bound = math.sqrt(6 / (fan_in + fan_out))
        assert m.weight.abs().max() <= bound and m.weight.abs().max() > 0.5 * bound
        assert m.bias is None or not m.bias.any()
    critic, target = agent.behaviour.critic, agent.behaviour.target
    assert not torch.equal(critic[0].weight, target[0].weight)
    torch_init = Agent(make_config("smoke", "metaworld/lever-pull", ["model.init=torch"]), 4,
                       torch.device("cpu"))
    assert any(m.bias is not None and m.bias.any() for m in torch_init.modules()
               if isinstance(m, nn.Linear))


def test_dreamerv3_starts_from_the_official_initialisation():
    """The official DreamerV3's `winit: normal, fan: avg`: a normal truncated at 2 std whose
    std after truncation is sqrt(2 / (fan_in + fan_out)), zero biases; the six layers its
    config's winit never reaches start uniform with that std (Glorot-uniform); the reward
    head's and critic's output layers start at zero (outscale 0); the slow critic equals the
    critic. `model.init=trunc_normal` keeps the normal on every layer."""
    import math

    from agents.config import make_config
    from agents.dreamerv3.agent import Agent

    cfg = make_config("smoke", "atari/pong", ["model.agent=dreamerv3"])
    assert cfg.model.init == "dreamerv3"
    torch.manual_seed(0)
    agent = Agent(cfg, 6, torch.device("cpu"))
    kinds = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)
    heads = [agent.wm.reward[-1], agent.behaviour.critic[-1], agent.behaviour.target[-1]]
    wm = agent.wm
    uniform = [wm.decoder.linear, wm.decoder.net[-1], wm.rssm.img_out[-1], wm.rssm.obs_out[-1],
               wm.cont[-1], agent.behaviour.actor[-1]]
    checked = {"uniform": 0, "normal": 0}
    for m in agent.modules():
        if not isinstance(m, kinds):
            continue
        assert m.bias is None or not m.bias.any()
        if any(m is h for h in heads):
            assert not m.weight.any()
            continue
        fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(m.weight)
        std = math.sqrt(2 / (fan_in + fan_out))
        is_uniform = any(m is u for u in uniform)
        assert m.weight.abs().max() <= (math.sqrt(3) if is_uniform else 2 / 0.8796) * std + 1e-6
        if m.weight.numel() > 1_500:  # enough draws to pin the std down to a few percent
            assert abs(m.weight.std().item() / std - 1) < 0.05
            if not is_uniform:
                assert m.weight.abs().max() > 2 * std  # a normal's tail, not a uniform
            checked["uniform" if is_uniform else "normal"] += 1
    # (test_equivalence_v3 compares all six at the paper sizes, where each is large)
    assert checked["normal"] >= 5 and checked["uniform"] >= 1, checked
    old = Agent(make_config("smoke", "atari/pong", ["model.agent=dreamerv3",
                                                    "model.init=trunc_normal"]),
                6, torch.device("cpu"))
    fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(old.wm.decoder.linear.weight)
    assert old.wm.decoder.linear.weight.abs().max() > 2 * math.sqrt(2 / (fan_in + fan_out))
    for a, b in zip(agent.behaviour.critic.parameters(), agent.behaviour.target.parameters(),
                    strict=True):
        assert torch.equal(a, b)
    torch_init = Agent(make_config("smoke", "atari/pong", ["model.agent=dreamerv3",
                                                           "model.init=torch"]),
                       6, torch.device("cpu"))
    assert not torch_init.wm.reward[-1].weight.any()  # the zero heads whatever the scheme
    big = torch_init.wm.rssm.gru.linear.weight
    fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(big)
    assert big.std().item() < 0.8 * math.sqrt(2 / (fan_in + fan_out))  # PyTorch's is smaller


def test_dreamerv2_actor_std_starts_as_the_official_codes():
    """std = 2 sigmoid((x + init_std) / 2) + min_std with init_std 0 (danijar/dreamerv2 and
    wmlib-torch: about 1.1 for x = 0); behaviour.actor_init_std=2 gives the old 1.56."""
    import math

    from agents.config import make_config
    from agents.dreamerv2.agent import Agent

    for sets, std in (([], 1.1), (["behaviour.actor_init_std=2"], 2 / (1 + math.exp(-1)) + 0.1)):
        cfg = make_config("smoke", "dmc/cartpole-swingup", sets)
        agent = Agent(cfg, 1, torch.device("cpu"))
        actor = agent.behaviour.actor
        nn.init.zeros_(actor.std.weight)  # x = 0 whatever the features
        nn.init.zeros_(actor.std.bias)
        dist = actor(torch.randn(5, agent.wm.rssm.feat_dim)).base_dist
        assert torch.allclose(dist.scale, torch.full_like(dist.scale, std), atol=1e-6), sets
