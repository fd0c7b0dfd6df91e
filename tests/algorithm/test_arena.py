"""The loss-balancing arena (docs/arena.md): each aggregator equals torchjd's own on a fixed
Jacobian; GradNorm and DWA equal the papers' formulas computed here by hand; one world-model
update with an aggregator equals a hand-computed one; the registry matches what each
weighting builds and logs."""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pytest
import torch

from agents.config import WEIGHTINGS_REGISTRY, WeightingConfig, make_config
from agents.weighting import DWA, LOSSES, WEIGHTINGS, GradNorm, make_weighting

torchjd = pytest.importorskip("torchjd", reason='the arena extra (pip install -e ".[arena]")')
from torchjd import aggregation as A  # noqa: E402

from agents.aggregation import aggregated_backward, make_aggregator  # noqa: E402

AGGREGATORS = [n for n, i in WEIGHTINGS_REGISTRY.items() if i.aggregates]
TORCHJD = {"upgrad": lambda: A.UPGrad(), "mgda": lambda: A.MGDA(), "pcgrad": lambda: A.PCGrad(),
           "cagrad": lambda: A.CAGrad(c=0.4), "nash_mtl": lambda: A.NashMTL(n_tasks=3),
           "imtl_g": lambda: A.IMTLG(), "aligned_mtl": lambda: A.AlignedMTL()}
J = torch.tensor([[-4.0, 1.0, 1.0, 0.5], [6.0, 1.0, 1.0, -2.0], [1.0, 2.0, 3.0, 0.0]])


def test_registry_is_what_weighting_builds():
    assert tuple(WEIGHTINGS) == tuple(WEIGHTINGS_REGISTRY)
    fields = {f.name for f in dataclasses.fields(WeightingConfig)}
    for name, info in WEIGHTINGS_REGISTRY.items():
        assert info.doc and "\n" not in info.doc, name
        assert set(info.params) <= fields, name
        w = WEIGHTINGS[name](WeightingConfig(name=name))
        assert w.aggregates == info.aggregates, name
        assert bool(list(w.parameters()) or list(w.buffers())) == info.learns, name
    assert set(AGGREGATORS) == set(TORCHJD)


@pytest.mark.parametrize("name", AGGREGATORS)
@pytest.mark.filterwarnings("ignore:You are solving a parameterized problem that is not DPP")
def test_aggregator_equals_torchjd_on_a_fixed_jacobian(name):  # (the DPP notice: torchjd's own)
    # Three terms linear in one shared parameter vector: their Jacobian is J.
    p = torch.zeros(4, requires_grad=True)
    terms = {k: J[i] @ p for i, k in enumerate(LOSSES)}
    logs = aggregated_backward(terms, [p], [], make_aggregator(name, 3, 0.4))
    expected = TORCHJD[name]()(J)
    torch.testing.assert_close(p.grad, expected, rtol=1e-4, atol=1e-5)
    weights = torch.stack([logs[f"weight_{k}"] for k in LOSSES])
    torch.testing.assert_close(weights @ J, expected, rtol=1e-4, atol=1e-4)  # its weights
    torch.testing.assert_close(torch.stack([logs[f"gradnorm_{k}"] for k in LOSSES]),
                               weights.abs() * J.norm(dim=1))


def test_gradnorm_step_is_the_papers_formula():
    torch.manual_seed(0)
    layer = torch.randn(3, 3, requires_grad=True)
    x = torch.randn(3)
    weighting = GradNorm(alpha=1.5, lr=0.025)
    weighting.layer = [layer]

    def losses(scale):
        h = layer @ x
        return {"obs": scale[0] * h.pow(2).sum(), "rew": scale[1] * h.sum().abs(),
                "dyn": scale[2] * (h[0] - 1).pow(2)}

    def grad_norms(ls):
        return torch.stack([torch.autograd.grad(ls[k], layer, retain_graph=True)[0].norm()
                            for k in LOSSES])

    first = losses((1.0, 2.0, 3.0))
    l0 = torch.stack([first[k] for k in LOSSES]).detach()
    weighting(first)  # step 1: L(0) is these losses, every r_i = 1
    second = losses((0.5, 1.8, 1.0))
    w1 = weighting.w.detach().clone()
    total, logs = weighting(second)
    # by hand: G_i = w_i ||grad_W L_i||, target = mean(G) r_i^alpha, r_i = L~_i / mean(L~)
    g = grad_norms(second)
    ls = torch.stack([second[k] for k in LOSSES]).detach()
    ratio = ls / l0
    target = (w1 * g).mean() * (ratio / ratio.mean()) ** 1.5
    # d/dw_i sum |w_i g_i - target_i| with the target constant
    d = torch.sign(w1 * g - target) * g
    assert total.item() == pytest.approx(float((w1 * ls).sum()), rel=1e-5)
    torch.testing.assert_close(torch.stack([logs[f"gradnorm_gru_{k}"] for k in LOSSES]),
                               w1 * g, rtol=1e-5, atol=1e-6)
    # Replay both steps with a hand-written Adam: the same weights.
    w, m, v = torch.ones(3), torch.zeros(3), torch.zeros(3)
    g0 = grad_norms(losses((1.0, 2.0, 3.0)))
    for t, grad in ((1, torch.sign(g0 - g0.mean()) * g0), (2, None)):
        if grad is None:
            grad = torch.sign(w * g - (w * g).mean() * (ratio / ratio.mean()) ** 1.5) * g
            torch.testing.assert_close(grad, d)
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad * grad
        w = w - 0.025 * (m / (1 - 0.9**t)) / ((v / (1 - 0.999**t)).sqrt() + 1e-8)
        w = w.clamp(min=1e-6)
        w = 3 * w / w.sum()  # renormalised to the number of losses
        if t == 1:
            torch.testing.assert_close(w, w1)
    torch.testing.assert_close(weighting.w.detach(), w)


def test_dwa_is_the_papers_formula_and_torchjds():
    from torchjd.scalarization import DWA as ReferenceDWA

    weighting, reference = DWA(temperature=2.0, window=2), ReferenceDWA(temperature=2.0)
    rng = np.random.default_rng(0)
    history = []
    for update in range(10):
        raw = torch.tensor(rng.uniform(0.5, 3.0, 3), dtype=torch.float32)
        losses = dict(zip(LOSSES, raw, strict=True))
        total, logs = weighting(losses)
        ref_total = reference(raw)
        assert total.item() == pytest.approx(ref_total.item(), rel=1e-5)
        got = torch.stack([torch.as_tensor(logs[f"weight_{k}"]) for k in LOSSES])
        windows = len(history) // 2  # windows closed before this update
        if windows < 2:
            expected = torch.ones(3)
        else:
            prev = torch.stack(history[2 * windows - 2:2 * windows]).mean(0)
            before = torch.stack(history[2 * windows - 4:2 * windows - 2]).mean(0)
            rates = prev / before
            expected = torch.tensor([3 * math.exp(r / 2) / sum(math.exp(q / 2) for q in rates)
                                     for r in rates.tolist()])
        torch.testing.assert_close(got, expected)
        history.append(raw)
        if update % 2 == 1:
            reference.step()


def test_weighted_sum_weightings_keep_no_terms_and_no_own_parameters():
    for name, info in WEIGHTINGS_REGISTRY.items():
        w, x = make_weighting(WeightingConfig(name=name)), torch.tensor(1.0, requires_grad=True)
        w.layer = [x]  # GradNorm's layer
        w({k: x * (i + 1) for i, k in enumerate(LOSSES)})
        assert (w.terms is not None) == info.aggregates, name
        assert bool(w.own_parameters()) == (name == "gradnorm"), name


def tiny_agent(name: str, agent: str = "dreamerv2"):
    from agents.bench import fake_batch
    from agents.families import make_agent

    task = "atari/pong" if agent == "dreamerv3" else "metaworld/lever-pull"
    cfg = make_config("smoke", task, [f"weighting.name={name}", f"model.agent={agent}",
                                      "replay.batch_size=2", "replay.seq_len=4"])
    torch.manual_seed(0)
    actions = 6 if agent == "dreamerv3" else 4
    a = make_agent(cfg, actions, torch.device("cpu"))
    return a, a.to_torch(fake_batch(cfg, actions, np.random.default_rng(0)))


@pytest.mark.parametrize("name", ["upgrad", "mgda"])
def test_an_aggregated_update_equals_a_hand_computed_one(name):
    agent, data = tiny_agent(name)
    ref = copy.deepcopy(agent.wm)
    torch.manual_seed(1)
    agent.update_world_model(data)
    # By hand: the same forward pass (same seed), each loss's gradient on the encoder and RSSM
    # as a Jacobian row, torchjd's aggregator on it; each head's gradient from the plain sum.
    torch.manual_seed(1)
    ref.weighting.train()
    _, _, _ = ref.loss(data)
    terms = ref.weighting.terms
    shared = [*ref.encoder.parameters(), *ref.rssm.parameters()]
    rows = []
    for k in LOSSES:
        grads = torch.autograd.grad(terms[k], shared, retain_graph=True, allow_unused=True)
        rows.append(torch.cat([(g if g is not None else torch.zeros_like(p)).flatten()
                               for g, p in zip(grads, shared, strict=True)]))
    combined = TORCHJD[name]()(torch.stack(rows))
    ids = {id(p) for p in shared}
    heads = [p for p in ref.parameters() if id(p) not in ids]
    head_grads = torch.autograd.grad(sum(terms.values()), heads, allow_unused=True)
    grads, start = {}, 0
    for p in shared:
        grads[id(p)] = combined[start:start + p.numel()].view_as(p)
        start += p.numel()
    for p, g in zip(heads, head_grads, strict=True):
        grads[id(p)] = torch.zeros_like(p) if g is None else g
    params = list(ref.parameters())
    for p in params:
        p.grad = grads[id(p)].clone()
    m = agent.cfg.model
    torch.nn.utils.clip_grad_norm_(params, m.clip)
    opt = torch.optim.Adam(params, lr=m.lr, eps=m.eps, weight_decay=m.weight_decay)
    opt.step()
    for (n, a), b in zip(agent.wm.named_parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=n)


@pytest.mark.parametrize("agent_name", ["dreamerv2", "dreamerv3"])
@pytest.mark.parametrize("name", list(WEIGHTINGS_REGISTRY))
def test_every_weighting_updates_both_families_and_logs_its_columns(name, agent_name):
    agent, data = tiny_agent(name, agent_name)
    for _ in range(2):
        logs = agent.update_tensors(data)
    info = WEIGHTINGS_REGISTRY[name]
    for key in {p.replace("*", k) for p in info.logs for k in LOSSES}:
        assert key in logs and math.isfinite(float(logs[key])), key
    assert agent.updates == 2


def test_docs_table_and_balance_read_the_registry():
    from pathlib import Path

    from analyses.balance import HARMONIZERS

    text = (Path(__file__).resolve().parents[2] / "docs" / "arena.md").read_text()
    rows = {line.split("|")[1].strip().strip("`"): line for line in text.splitlines()
            if line.startswith("| `")}
    for name, info in WEIGHTINGS_REGISTRY.items():
        assert f"`{name}`" in text, name
        if name in rows and info.paper:
            assert info.paper in rows[name], name
    assert set(rows) >= {n for n, i in WEIGHTINGS_REGISTRY.items() if i.paper and
                         i.optimum != "unrectified" and n != "harmony_fixed_dyn"}
    assert HARMONIZERS == {"harmony": True, "harmony_unrectified": False,
                           "harmony_fixed_dyn": True}


@pytest.mark.parametrize("name", ["gradnorm", "dwa", "upgrad"])
def test_host_side_methods_refuse_cuda_graphs_in_one_line(name):
    from agents.config import ConfigError

    with pytest.raises(ConfigError, match="cannot run with train.cuda_graphs") as err:
        make_config("smoke", "metaworld/lever-pull", [f"weighting.name={name}",
                                                      "train.cuda_graphs=true"])
    assert "\n" not in str(err.value)
    if WEIGHTINGS_REGISTRY[name].aggregates:
        with pytest.raises(ConfigError, match="not fp16"):
            make_config("smoke", "metaworld/lever-pull", [f"weighting.name={name}",
                                                          "train.precision=fp16"])
    make_config("smoke", "metaworld/lever-pull", ["train.cuda_graphs=true"])  # fixed: fine


def test_new_fields_keep_existing_run_ids():
    from agents.config import identity

    cfg = make_config("quick", "metaworld/lever-pull", ["weighting.name=harmony"])
    assert set(identity(cfg)["weighting"]) == {"name", "w_o", "w_r", "w_d"}


def test_a_missing_solver_is_one_config_error_before_the_run(monkeypatch):
    from agents.config import ConfigError, validation

    real = validation.find_spec
    monkeypatch.setattr(validation, "find_spec", lambda m: None if m == "cvxpy" else real(m))
    with pytest.raises(ConfigError, match=r'cagrad needs cvxpy, not installed: pip install'):
        make_config("smoke", "metaworld/lever-pull", ["weighting.name=cagrad"])
    make_config("smoke", "metaworld/lever-pull", ["weighting.name=pcgrad"])  # torchjd alone
