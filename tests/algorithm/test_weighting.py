"""Loss weightings: combined loss = formula; learned scalars converge to the known optima."""

import math

import pytest
import torch

from agents.config import WeightingConfig
from agents.weighting import WEIGHTINGS, Harmony, make_weighting, rectified_optimum

LOSSES = {"obs": torch.tensor(120.0), "rew": torch.tensor(0.5), "dyn": torch.tensor(2.0)}


def build(name, **kw):
    return make_weighting(WeightingConfig(name=name, **kw))


def test_fixed_formula():
    total, logs = build("fixed", w_o=2.0, w_r=100.0, w_d=0.5)(LOSSES)
    assert total.item() == pytest.approx(2 * 120 + 100 * 0.5 + 0.5 * 2)
    assert logs["weight_rew"] == 100 and logs["loss_obs"] == 120


def test_reward_only_drops_observation_loss():
    total, logs = build("reward_only")(LOSSES)
    assert total.item() == pytest.approx(0.5 + 2.0) and logs["weight_obs"] == 0


def test_observation_only_detaches_reward_features():
    w = build("observation_only")
    assert w.detach_reward_features
    assert w(LOSSES)[0].item() == pytest.approx(122.5)


def test_harmony_formula_at_nonzero_s():
    w = build("harmony")
    with torch.no_grad():
        for k, v in zip(("obs", "rew", "dyn"), (1.0, -0.5, 0.2), strict=True):
            w.s[k].fill_(v)
    total, logs = w(LOSSES)
    expect = sum(LOSSES[k].item() / math.exp(s) + math.log(1 + math.exp(s))
                 for k, s in (("obs", 1.0), ("rew", -0.5), ("dyn", 0.2)))
    assert total.item() == pytest.approx(expect, rel=1e-5)
    assert logs["s_obs"] == pytest.approx(1.0) and logs["weight_obs"] == pytest.approx(math.exp(-1))


def test_harmony_starts_at_dreamer_default():
    total, logs = build("harmony")(LOSSES)
    assert all(logs[f"weight_{k}"] == 1.0 for k in ("obs", "rew", "dyn"))
    assert total.item() == pytest.approx(122.5 + 3 * math.log(2))


def test_unrectified_and_fixed_dyn_variants():
    total, _ = build("harmony_unrectified")(LOSSES)
    assert total.item() == pytest.approx(122.5)  # log(sigma) = 0 at s = 0
    w = build("harmony_fixed_dyn")
    assert set(w.s.keys()) == {"obs", "rew"}
    with torch.no_grad():
        w.s["obs"].fill_(2.0)
    total, logs = w(LOSSES)
    assert logs["weight_dyn"] == 1.0
    assert total.item() == pytest.approx(120 / math.e**2 + 0.5 + 2.0 + math.log(1 + math.e**2)
                                         + math.log(2), rel=1e-5)


def test_uncertainty_formula():
    w = build("uncertainty")
    with torch.no_grad():
        w.s["obs"].fill_(1.0)
    total, logs = w(LOSSES)
    expect = 120 / (2 * math.e**2) + 1.0 + 0.5 / 2 + 2.0 / 2
    assert total.item() == pytest.approx(expect, rel=1e-5)
    assert logs["weight_rew"] == pytest.approx(0.5)


def descend(weighting, loss_value, steps=4000, lr=0.05):
    opt = torch.optim.Adam(weighting.parameters(), lr=lr)
    losses = {k: torch.tensor(loss_value) for k in ("obs", "rew", "dyn")}
    for _ in range(steps):
        opt.zero_grad()
        weighting(losses)[0].backward()
        opt.step()
    return math.exp(weighting.s["obs"].item())


@pytest.mark.parametrize("loss", [0.01, 0.5, 3.0, 150.0])
def test_rectified_converges_to_sigma_star(loss):
    sigma = descend(Harmony(rectified=True), loss)
    assert sigma == pytest.approx(rectified_optimum(loss), rel=1e-2)
    assert sigma > loss  # the rectified weight 1/sigma stays below 1/L (bounded as L -> 0)


@pytest.mark.parametrize("loss", [0.5, 3.0, 150.0])
def test_unrectified_converges_to_loss(loss):
    assert descend(Harmony(rectified=False), loss) == pytest.approx(loss, rel=1e-2)


def test_registry_names():
    assert set(WEIGHTINGS) >= {"fixed", "reward_only", "observation_only", "harmony",
                               "harmony_unrectified", "harmony_fixed_dyn", "uncertainty"}
