"""Per-loss gradient norms on the shared parameters and the clipped-update share: what the
paper's argument (the observation loss dominates the representation) is about."""

import pytest
import torch

from agents.config import make_config
from agents.families import make_agent
from agents.gradients import gradient_norms
from agents.run.metrics import floats
from tests.run.test_graphs import agent_and_batch


def test_gradient_norms_are_the_weighted_terms_own():
    w = torch.nn.Parameter(torch.tensor([3.0, 4.0]))
    head = torch.nn.Parameter(torch.tensor(2.0))
    terms = {"a": (w * w).sum() / 2, "b": 10 * (w.sum() * head), "c": head * head}
    norms = floats(gradient_norms(terms, [w]))
    assert norms["gradnorm_a"] == pytest.approx(5.0)  # d/dw = w = (3, 4)
    assert norms["gradnorm_b"] == pytest.approx(20 * 2 ** 0.5)  # 10 head (1, 1)
    assert norms["gradnorm_c"] == 0.0  # does not reach w
    assert w.grad is None  # nothing accumulated into .grad


@pytest.mark.parametrize("agent_name,task,actions", [
    ("dreamerv2", "metaworld/lever-pull", 4), ("dreamerv3", "atari/pong", 6)])
@pytest.mark.parametrize("weighting", ["fixed", "harmony"])
def test_probe_measures_each_loss_and_leaves_the_run_unchanged(agent_name, task, actions,
                                                              weighting):
    """A probed update computes what an unprobed one does (the probe restores the random
    state); its gradient norms are those of w_k L_k on encoder + RSSM."""
    _, agent, batch = agent_and_batch(agent_name, task, actions, weighting)
    _, plain, _ = agent_and_batch(agent_name, task, actions, weighting)
    plain.load_state_dict(agent.state_dict())
    agent.cfg.train.probe_every, plain.cfg.train.probe_every = 1, 0
    agent.updates = plain.updates = 1  # the probe never measures the untrained model
    torch.manual_seed(0)
    probed = floats(agent.update(batch))
    torch.manual_seed(0)
    unprobed = floats(plain.update(batch))
    assert {"gradnorm_obs", "gradnorm_rew", "gradnorm_dyn"} <= set(probed)
    assert not any(k.startswith("gradnorm_") for k in unprobed)
    for k, v in unprobed.items():
        assert probed[k] == v, k
    for a, b in zip(agent.parameters(), plain.parameters(), strict=True):
        assert torch.equal(a, b)
    # The weighted term's own: w_r scales the reward norm alone; a loss that does not reach
    # the shared parameters measures zero.
    data = agent.to_torch(batch)
    torch.manual_seed(1)
    base = floats(agent.probe(data))
    if weighting == "fixed":
        agent.wm.weighting.fixed["rew"] = 100.0
        torch.manual_seed(1)
        scaled = floats(agent.probe(data))
        assert scaled["gradnorm_rew"] == pytest.approx(100 * base["gradnorm_rew"], rel=1e-5)
        assert scaled["gradnorm_obs"] == pytest.approx(base["gradnorm_obs"], rel=1e-6)
    assert base["gradnorm_rew"] > 0 and base["gradnorm_obs"] > 0


@pytest.mark.parametrize("weighting,zero", [("reward_only", "obs"), ("observation_only", "rew")])
def test_a_loss_cut_from_the_representation_measures_zero(weighting, zero):
    _, agent, batch = agent_and_batch("dreamerv2", "metaworld/lever-pull", 4, weighting)
    norms = floats(agent.probe(agent.to_torch(batch)))
    assert norms[f"gradnorm_{zero}"] == 0.0 and norms["gradnorm_dyn"] > 0


def test_clipped_share_is_logged_per_optimiser():
    _, agent, batch = agent_and_batch("dreamerv2", "metaworld/lever-pull", 4, "fixed")
    agent.cfg.model.clip = 1e-6  # every world-model update is clipped
    logs = floats(agent.update(batch))
    assert logs["clipped_model"] == 1.0
    assert logs["clipped_actor"] in (0.0, 1.0) and logs["clipped_critic"] in (0.0, 1.0)
    agent.cfg.model.clip = 1e12
    assert floats(agent.update(batch))["clipped_model"] == 0.0


def test_offline_steps_probe_on_their_own_count():
    cfg = make_config("smoke", "metaworld/lever-pull", ["train.probe_every=2"])
    agent = make_agent(cfg, 4, torch.device("cpu"))
    _, _, batch = agent_and_batch("dreamerv2", "metaworld/lever-pull", 4, "fixed")
    data = agent.to_torch(batch)
    probed = [any(k.startswith("gradnorm_") for k in agent.train_world_model(data, step))
              for step in range(5)]
    assert probed == [False, False, True, False, True]  # never the untrained model (step 0)
