"""What a CUDA graph needs from the update and the acting step, checked on the CPU.

A CUDA graph can record only device work: a host copy inside the update (.item(), float(),
a tensor-valued `if`, a tensor built from Python data) makes recording fail on a GPU. These
tests run both agent families' update and acting step with every such call turned into an
error, check the sync-free replacements against what torch.distributions computes, and run
the graphed code path (fixed input and output buffers; agents/update/graphs.py runs it eagerly on
the CPU) against the eager one. tests/run/test_cuda.py records real graphs where a GPU is.
"""

import contextlib
import json
import sys

import numpy as np
import pytest
import torch
from torch import distributions as D

from agents.bench import fake_batch
from agents.config import make_config
from agents.dreamerv3.behaviour import percentiles
from agents.families import make_agent
from agents.nets.categorical import OneHot, kl
from agents.run.metrics import Metrics, floats
from agents.update.learner import NonFiniteLossError

SYNCS = ("item", "tolist", "numpy", "__bool__", "__float__", "__int__", "__index__")


@contextlib.contextmanager
def no_host_sync(monkeypatch):
    """Every tensor-to-host conversion raises, and so does building a tensor from host data
    in our code (on a GPU that is a host-to-device copy). Exempt: torch.optim, whose CPU
    Adam keeps its step count on the host; on CUDA the agent asks for capturable=True,
    torch's own graph-safe mode with the count on the device (tests/run/test_cuda.py)."""
    def refuse(name, original, exempt):
        def raise_(*args, **kwargs):
            if exempt(sys._getframe(1).f_globals.get("__name__", "")):
                return original(*args, **kwargs)
            raise AssertionError(f"host sync in a graphed region: {name}")
        return raise_

    with monkeypatch.context() as m:
        for name in SYNCS:
            m.setattr(torch.Tensor, name, refuse(f"Tensor.{name}", getattr(torch.Tensor, name),
                                                 lambda mod: mod.startswith("torch.optim")))
        for name in ("tensor", "as_tensor"):
            m.setattr(torch, name, refuse(f"torch.{name}", getattr(torch, name),
                                          lambda mod: not mod.startswith("agents")))
        yield


CASES = [("dreamerv2", "metaworld/lever-pull", 4, w) for w in ("fixed", "harmony")] + [
    ("dreamerv3", "atari/pong", 6, w) for w in ("fixed", "harmony")]


def agent_and_batch(agent: str, task: str, actions: int, weighting: str, seed: int = 0):
    cfg = make_config("smoke", task, [f"model.agent={agent}", f"weighting.name={weighting}"])
    torch.manual_seed(seed)
    learner = make_agent(cfg, actions, torch.device("cpu"))
    batch = fake_batch(cfg, actions, np.random.default_rng(seed))
    if agent == "dreamerv3":  # one-hot actions
        batch["action"] = np.eye(actions, dtype=np.float32)[
            np.random.default_rng(seed).integers(0, actions, batch["action"].shape[:2])]
    return cfg, learner, batch


@pytest.mark.parametrize("agent,task,actions,weighting", CASES)
def test_update_and_act_make_no_host_sync(agent, task, actions, weighting, monkeypatch):
    cfg, learner, batch = agent_and_batch(agent, task, actions, weighting)
    learner.graphs = True  # the graphed path: no per-update NaN check
    data = learner.to_torch(batch)
    state = learner.wm.rssm.initial(3, learner.device)
    inputs = {"image": data["image"][:3, 0], "deter": state[0], "stoch": state[1],
              "action": torch.zeros(3, actions)}
    learner._update(data)  # the warm-up: Adam creates its state (outside a graph on CUDA)
    with no_host_sync(monkeypatch):
        logs = learner._update(data)
        for explore in (True, False):
            out = learner._act(inputs, explore)
    assert {"loss_obs", "loss_rew", "loss_dyn", "grad_norm_model", "actor_loss"} <= set(logs)
    assert all(np.isfinite(v) for v in floats(logs).values())
    assert out["action"].shape == (3, actions)
    with no_host_sync(monkeypatch), pytest.raises(AssertionError, match="host sync"):
        float(logs["loss_obs"])  # the guard itself works


def test_sync_free_one_hot_sample_and_kl_match_torch():
    logits = torch.randn(64, 32, 16)
    torch.manual_seed(3)
    draws = OneHot(logits).sample((400,))  # [400, 64, 32, 16]
    assert torch.equal(draws.sum(-1), torch.ones(400, 64, 32))
    # Each of the 64 x 32 categoricals drawn 400 times: the counts against the probabilities,
    # one chi-square over all of them (a race with uniform instead of Exp(1) times fails).
    probs = logits.softmax(-1)
    counts = draws.sum(0)
    expected = 400 * probs
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    dof = 64 * 32 * 15
    assert abs(chi2 - dof) < 5 * (2 * dof) ** 0.5, (chi2, dof)  # within 5 sd of its mean
    st = OneHot(logits).rsample()
    assert torch.equal(st.detach().sum(-1), torch.ones(64, 32))
    other = torch.randn(64, 32, 16) * 3
    reference = D.kl_divergence(D.Categorical(logits=logits), D.Categorical(logits=other))
    assert torch.allclose(kl(logits, other), reference, atol=1e-5)
    # a class whose probability underflows to 0 adds 0, not NaN
    assert torch.isfinite(kl(torch.tensor([0.0, -200.0]), torch.tensor([0.0, 0.0])))


def test_percentile_matches_torch_quantile():
    x = torch.randn(15, 257)
    qs = (0.0, 5.0, 50.0, 95.0, 100.0)
    for q, value in zip(qs, percentiles(x, qs), strict=True):
        assert torch.allclose(value, torch.quantile(x.flatten(), q / 100))


def test_metrics_sum_on_the_device_and_flag_non_finite_losses():
    metrics = Metrics()
    metrics.add({"loss_obs": torch.tensor(1.0), "grad": torch.tensor(4.0), "weight_obs": 1.0})
    metrics.add({"loss_obs": torch.tensor(3.0), "grad": torch.tensor(inf := float("inf")),
                 "weight_obs": 1.0})
    means = metrics.means()
    assert means["loss_obs"] == 2.0 and means["weight_obs"] == 1.0 and means["grad"] == inf
    assert metrics.nonfinite() == []  # only losses are guarded, as in the eager path
    metrics.add({"loss_obs": torch.tensor(float("nan")), "grad": torch.tensor(1.0),
                 "weight_obs": 1.0})
    assert metrics.nonfinite() == ["loss_obs"]
    assert metrics.drain()["grad"] == inf and metrics.means() == {}
    # Updates may log different names (a probed update adds some): each mean is over the
    # updates that logged it.
    metrics.add({"a": torch.tensor(1.0), "w": 2.0})
    metrics.add({"a": torch.tensor(3.0), "b": torch.tensor(5.0)})
    metrics.add({"a": torch.tensor(5.0), "w": 4.0})
    assert metrics.drain() == {"a": 3.0, "b": 5.0, "w": 3.0}


@pytest.mark.parametrize("agent,task,actions,weighting", CASES)
def test_graphed_path_matches_eager_update_by_update(agent, task, actions, weighting):
    """The graphed code path (fixed buffers in and out) against the eager one, from the same
    weights, batches and random state: the same losses and parameters over 5 updates (on the
    CPU the maths is identical; tests/run/test_cuda.py checks real graphs within tolerance)."""
    _, eager, _ = agent_and_batch(agent, task, actions, weighting)
    cfg, graphed, _ = agent_and_batch(agent, task, actions, weighting)
    graphed.graphs = True
    rng = np.random.default_rng(7)
    for i in range(5):
        batch = fake_batch(cfg, actions, rng)
        if agent == "dreamerv3":
            batch["action"] = np.eye(actions, dtype=np.float32)[
                rng.integers(0, actions, batch["action"].shape[:2])]
        torch.manual_seed(100 + i)
        a = floats(eager.update(batch))
        torch.manual_seed(100 + i)
        b = floats(graphed.update(batch))
        assert a == b, i
    assert graphed._update_graph is not None and graphed._update_graph.calls == 5
    for (name, x), y in zip(eager.state_dict().items(), graphed.state_dict().values(),
                            strict=True):
        assert torch.equal(x, y), name
    # acting: the graphed state is a copy, not the graph's output buffer
    images = fake_batch(cfg, actions, rng)["image"][:2, 0]
    torch.manual_seed(5)
    act_e, state_e = eager.act(images, None, explore=True)
    torch.manual_seed(5)
    act_g, state_g = graphed.act(images, None, explore=True)
    _, state_g2 = graphed.act(images, state_g, explore=True)
    assert np.array_equal(act_e, act_g) and torch.equal(state_e[0], state_g[0])
    assert not torch.equal(state_g[0], state_g2[0])  # the first state was not overwritten


def test_graphed_nan_guard_stops_before_the_next_checkpoint(tmp_path, poison_after_checkpoint):
    """Graphed updates cannot stop at the bad update without a sync per update: the summed
    losses are checked at each log row and before each checkpoint, so no checkpoint holds
    weights a non-finite update touched."""
    from agents.run import checkpoint
    from agents.run.loop import Trainer

    cfg = make_config("smoke", "dmc/cartpole-swingup", [
        "train.steps=200", "train.checkpoint_every=50", "train.eval_every=50",
        "train.log_every=1000", "train.threads=1"])
    trainer = Trainer(cfg, tmp_path / "run", progress_bar=False)
    trainer.agent.graphs = True
    saved = poison_after_checkpoint(trainer)
    with pytest.raises(NonFiniteLossError,
                       match=r"non-finite .*rew.* loss in an update before step \d+"):
        trainer.run()
    state = checkpoint.load(tmp_path / "run" / "ckpt.pt")
    assert saved and state["progress"]["step"] == saved[-1]
    params = state["agent"]["modules"]
    assert all(torch.isfinite(v).all() for v in params.values() if v.is_floating_point())
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["state"] == "failed" and "rew" in status["error"]


def test_graphed_world_model_step_matches_eager():
    """The offline diagnostics' world-model step alone, graphed path against eager."""
    _, eager, _ = agent_and_batch("dreamerv2", "metaworld/lever-pull", 4, "harmony")
    cfg, graphed, _ = agent_and_batch("dreamerv2", "metaworld/lever-pull", 4, "harmony")
    graphed.graphs = True
    rng = np.random.default_rng(11)
    for i in range(4):
        data = eager.to_torch(fake_batch(cfg, 4, rng))
        torch.manual_seed(i)
        a = floats(eager.train_world_model(data))
        torch.manual_seed(i)
        b = floats(graphed.train_world_model(data))
        assert a == b and a["s_obs"] != 0.0, i
    assert graphed._wm_graph is not None and graphed._update_graph is None
