"""Agent families: DreamerV2 (the paper's robotic-domain agent) and DreamerV3 (its Atari 100K
agent). Both share the weightings, replay, training loop and config; `model.agent` picks one
from the registry (agents/config/families.py: one entry per family)."""

from __future__ import annotations

import importlib

import torch

from agents.config import FAMILIES, Config


def make_agent(cfg: Config, action_dim: int, device: torch.device):
    """The agent of the family `cfg.model.agent`, on `device` (its class imported here, on
    first use)."""
    module, _, name = FAMILIES[cfg.model.agent].agent.partition(":")
    return getattr(importlib.import_module(module), name)(cfg, action_dim, device)
