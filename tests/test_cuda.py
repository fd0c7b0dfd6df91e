"""The agent on CUDA: same maths as on the CPU, and finite updates in fp32 and bf16.

Skipped where there is no GPU (CI has none); run on a GPU machine with
`python -m pytest tests/test_cuda.py`.
"""

import numpy as np
import pytest
import torch

from agents.bench import fake_batch
from agents.config import make_config
from agents.dreamerv2.agent import Agent
from agents.families import make_agent
from agents.learner import preprocess

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
    logs_c, logs_g = cpu.update(batch), gpu.update(batch)
    for name, rel in tolerances.items():
        assert logs_g[name] == pytest.approx(logs_c[name], rel=rel), name
    for _ in range(2):
        logs_g = gpu.update(batch)
    assert all(np.isfinite(v) for v in logs_g.values()), logs_g
    after = gpu.state_dict()
    for part in parts:
        keys = [k for k in before if k.startswith(part) and before[k].is_floating_point()]
        assert keys, part
        assert any(not torch.equal(before[k], after[k]) for k in keys), f"{part} did not move"


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_updates_are_finite_and_move_every_part(precision):
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
