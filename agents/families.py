"""Agent families: DreamerV2 (the paper's robotic-domain agent) and DreamerV3 (its Atari 100K
agent). Both share the weightings, replay, training loop and config; `model.agent` picks one."""

from __future__ import annotations

import torch

from agents.config import AGENTS as FAMILIES  # noqa: F401  (re-exported)
from agents.config import Config


def make_agent(cfg: Config, action_dim: int, device: torch.device):
    """The agent of the family `cfg.model.agent`, on `device`."""
    if cfg.model.agent == "dreamerv3":
        from agents.dreamerv3.agent import Agent
    else:
        from agents.dreamerv2.agent import Agent
    return Agent(cfg, action_dim, device)
