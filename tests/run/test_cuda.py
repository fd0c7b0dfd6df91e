"""The agent on CUDA: same maths as on the CPU, and finite updates in fp32, bf16 and fp16.

Skipped where there is no GPU (CI has none); run on a GPU machine with
`python -m pytest tests/run/test_cuda.py`.
"""

import numpy as np
import pytest
import torch

from agents.bench import fake_batch
from agents.config import make_config
from agents.dreamerv2.agent import Agent
from agents.families import make_agent
from agents.nets.latent import preprocess
from agents.run.metrics import floats

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
CUDA = torch.device("cuda")


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return float((a - b).norm() / b.norm().clamp(min=1e-12))


def agents_on_both(overrides: list[str] = ()) -> tuple[Agent, Agent, dict]:
    cfg = make_config("smoke", "metaworld/lever-pull", ["weighting.name=harmony", *overrides])
    torch.manual_seed(0)
    cpu, gpu = Agent(cfg, 4, torch.device("cpu")), Agent(cfg, 4, CUDA)
    gpu.load_state_dict(cpu.state_dict())  # in place: the optimisers keep their parameters
    return cpu, gpu, fake_batch(cfg, 4, np.random.default_rng(1))


def test_deterministic_parts_match_the_cpu():
    cpu, gpu, batch = agents_on_both()
    image_c = preprocess(torch.as_tensor(batch["image"][:, :4]))
    image_g = image_c.to(CUDA)
    embed_c, embed_g = cpu.wm.encoder(image_c), gpu.wm.encoder(image_g)
    # cuDNN convolutions may use TF32 (about 1e-3 relative), hence the tolerance.
    assert rel_err(embed_g, embed_c) < 1e-2
    rssm_c, rssm_g = cpu.wm.rssm, gpu.wm.rssm
    deter, stoch = rssm_c.initial(batch["image"].shape[0], torch.device("cpu"))
    action = torch.as_tensor(batch["action"][:, 0])
    out_c = rssm_c.obs_step(deter, stoch, action, embed_c[:, 0], sample=False)
    out_g = rssm_g.obs_step(deter.to(CUDA), stoch.to(CUDA), action.to(CUDA), embed_g[:, 0],
                            sample=False)
    assert rel_err(out_g[0], out_c[0]) < 1e-2
    feat = torch.cat([out_c[1], out_c[0]], -1)
    assert rel_err(gpu.wm.decoder(feat.to(CUDA)), cpu.wm.decoder(feat)) < 1e-2
    assert rel_err(gpu.wm.reward_mean(feat.to(CUDA)), cpu.wm.reward_mean(feat)) < 1e-2


def check_updates(cpu, gpu, batch, tolerances: dict[str, float], parts: tuple[str, ...]):
    """One update on each device from the same weights and batch: the first losses agree
    within `tolerances`; two more GPU updates stay finite and move every part."""
    before = {k: v.detach().clone() for k, v in gpu.state_dict().items()}
    logs_c, logs_g = floats(cpu.update(batch)), floats(gpu.update(batch))
    for name, rel in tolerances.items():
        assert logs_g[name] == pytest.approx(logs_c[name], rel=rel), name
    for _ in range(2):
        logs_g = floats(gpu.update(batch))
    assert all(np.isfinite(v) for v in logs_g.values()), logs_g
    after = gpu.state_dict()
    for part in parts:
        keys = [k for k in before if k.startswith(part) and before[k].is_floating_point()]
        assert keys, part
        assert any(not torch.equal(before[k], after[k]) for k in keys), f"{part} did not move"


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_updates_are_finite_and_move_every_part(precision):
    # fp16 (the DreamerV2 paper presets' "auto" on CUDA): a first step that overflows at the
    # scaler's 2^16 is skipped and halves that optimiser's scale; the later ones move.
    cpu, gpu, batch = agents_on_both([f"train.precision={precision}"])
    # Same parameters and data: the first losses agree up to sampling noise and precision.
    # (sampled latents move the reward and KL terms by ~20% from seed to seed at init).
    check_updates(cpu, gpu, batch, {"loss_obs": 0.02, "loss_rew": 0.5, "loss_dyn": 0.5},
                  ("wm.encoder", "wm.decoder", "wm.rssm", "wm.reward", "wm.weighting",
                   "behaviour.actor", "behaviour.critic"))


@pytest.mark.parametrize("weighting", ["fixed", "harmony"])
def test_dreamerv3_updates_match_the_cpu_and_move_every_part(weighting):
    cfg = make_config("smoke", "atari/pong", ["model.agent=dreamerv3",
                                              f"weighting.name={weighting}"])
    torch.manual_seed(0)
    cpu, gpu = make_agent(cfg, 6, torch.device("cpu")), make_agent(cfg, 6, CUDA)
    gpu.load_state_dict(cpu.state_dict())
    batch = fake_batch(cfg, 6, np.random.default_rng(1))
    batch["action"] = np.eye(6, dtype=np.float32)[np.random.default_rng(2).integers(
        0, 6, batch["action"].shape[:2])]
    check_updates(cpu, gpu, batch, {"loss_obs": 0.02, "loss_rew": 0.05, "loss_cont": 0.05},
                  ("wm.encoder", "wm.decoder", "wm.rssm", "wm.reward", "wm.cont",
                   "behaviour.actor", "behaviour.critic"))


GRAPH_CASES = [("dreamerv2", "metaworld/lever-pull", 4, w, "fp32") for w in ("fixed", "harmony")]
GRAPH_CASES += [("dreamerv2", "metaworld/lever-pull", 4, "harmony", "bf16")]
GRAPH_CASES += [("dreamerv3", "atari/pong", 6, w, "fp32") for w in ("fixed", "harmony")]


@pytest.mark.parametrize("agent,task,actions,weighting,precision", GRAPH_CASES)
def test_graphed_updates_match_eager(agent, task, actions, weighting, precision):
    """CUDA-graphed and eager updates from identical weights, batches and random state give
    the same losses and parameters within tolerance over consecutive updates (the first
    three are the graph's eager warm-up, the fourth records it, the rest replay it)."""
    sets = [f"model.agent={agent}", f"weighting.name={weighting}",
            f"train.precision={precision}"]
    cfg = make_config("smoke", task, sets)
    torch.manual_seed(0)
    eager = make_agent(cfg, actions, CUDA)
    graphed = make_agent(make_config("smoke", task, [*sets, "train.cuda_graphs=true"]),
                         actions, CUDA)
    graphed.load_state_dict(eager.state_dict())
    assert graphed.graphs and not eager.graphs
    rng = np.random.default_rng(3)
    tol = 1e-3 if precision == "fp32" else 2e-2
    for i in range(7):
        batch = fake_batch(cfg, actions, rng)
        if agent == "dreamerv3":
            batch["action"] = np.eye(actions, dtype=np.float32)[
                rng.integers(0, actions, batch["action"].shape[:2])]
        torch.cuda.manual_seed(100 + i)
        a = floats(eager.update(batch))
        torch.cuda.manual_seed(100 + i)
        b = floats(graphed.update(batch))
        for name in ("loss_obs", "loss_rew", "loss_dyn", "actor_loss", "critic_loss"):
            assert b[name] == pytest.approx(a[name], rel=tol, abs=1e-4), (i, name)
        if weighting == "harmony":
            assert b["s_obs"] == pytest.approx(a["s_obs"], abs=1e-4), i
    assert graphed._update_graph.graph is not None  # recorded and replayed
    for (name, x), y in zip(eager.state_dict().items(), graphed.state_dict().values(),
                            strict=True):
        if x.is_floating_point():
            assert rel_err(y, x) < tol, name
    images = fake_batch(cfg, actions, rng)["image"][:4, 0]
    for explore in (False, True):
        state_e = state_g = None
        for _ in range(6):  # warm-up, record, replays
            torch.cuda.manual_seed(7)
            act_e, state_e = eager.act(images, state_e, explore)
            torch.cuda.manual_seed(7)
            act_g, state_g = graphed.act(images, state_g, explore)
            assert np.allclose(act_g, act_e, atol=1e-3 if precision == "fp32" else 2e-2)


def test_graphed_world_model_step_matches_eager():
    """The offline diagnostics' world-model step, recorded as a graph, against eager."""
    sets = ["weighting.name=harmony"]
    cfg = make_config("smoke", "metaworld/lever-pull", sets)
    torch.manual_seed(0)
    eager = make_agent(cfg, 4, CUDA)
    graphed = make_agent(make_config("smoke", "metaworld/lever-pull",
                                     [*sets, "train.cuda_graphs=true"]), 4, CUDA)
    graphed.load_state_dict(eager.state_dict())
    rng = np.random.default_rng(4)
    for i in range(6):
        data = eager.to_torch(fake_batch(cfg, 4, rng))
        torch.cuda.manual_seed(i)
        a = floats(eager.train_world_model(data))
        torch.cuda.manual_seed(i)
        b = floats(graphed.train_world_model(data))
        assert b["loss_obs"] == pytest.approx(a["loss_obs"], rel=1e-3), i
        assert b["s_obs"] == pytest.approx(a["s_obs"], abs=1e-4), i
    assert graphed._wm_graph.graph is not None


def test_batches_reach_the_gpu_unchanged():
    """to_torch's pinned, non-blocking copy: same values and dtypes as on the CPU, and the
    host array may be overwritten at once (the copy went through its own pinned buffer)."""
    cpu, gpu, batch = agents_on_both()
    on_cpu = {k: v.clone() for k, v in cpu.to_torch(batch).items()}  # as_tensor shares memory
    on_gpu = gpu.to_torch(batch)
    for v in batch.values():
        v[...] = 0
    torch.cuda.synchronize()
    for k, v in on_cpu.items():
        assert on_gpu[k].device.type == "cuda" and on_gpu[k].dtype == v.dtype
        assert torch.equal(on_gpu[k].cpu(), v), k


@pytest.mark.parametrize("graphs", [False, True])
def test_overlapped_acting_reads_the_weights_before_the_running_update(graphs):
    """train.overlap: acting on its own stream, issued while the update is still running on
    the GPU, returns the serial agent's actions from one update back, and the updates give
    the serial agent's losses (tests/run/test_overlap.py checks the same maths on the CPU)."""
    sets = ["weighting.name=harmony", f"train.cuda_graphs={graphs}"]
    cfg = make_config("smoke", "metaworld/lever-pull", sets)
    torch.manual_seed(0)
    serial = make_agent(cfg, 4, CUDA)
    overlapped = make_agent(make_config("smoke", "metaworld/lever-pull",
                                        [*sets, "train.overlap=true"]), 4, CUDA)
    overlapped.load_state_dict(serial.state_dict(), strict=False)  # all but the acting copy
    overlapped.refresh_acting()
    assert overlapped.acting.stream is not None
    rng = np.random.default_rng(5)
    images = fake_batch(cfg, 4, rng)["image"][:4, 0]
    for i in range(7):  # eager warm-up, recording, replays
        batch = fake_batch(cfg, 4, rng)
        before = serial.act(images, None, explore=False)[0]
        torch.cuda.manual_seed(100 + i)
        a = floats(serial.update(batch))
        torch.cuda.manual_seed(100 + i)
        logs = overlapped.update(batch)  # queued on the GPU; the host goes on at once
        lagged = overlapped.act(images, None, explore=False)[0]
        assert np.allclose(lagged, before, atol=1e-3), i
        b = floats(logs)
        for name in ("loss_obs", "loss_rew", "actor_loss", "critic_loss", "s_obs"):
            assert b[name] == pytest.approx(a[name], rel=1e-3, abs=1e-4), (i, name)
        assert overlapped.policy_lag == 1
