"""The DreamerV2 agent: its world model and behaviour; the update and acting step are the
shared `Dreamer`'s (agents/update/dreamer.py)."""

from __future__ import annotations

import torch

from agents.config import Config
from agents.dreamerv2.behaviour import Behaviour
from agents.dreamerv2.world_model import WorldModel
from agents.nets.init import initialise
from agents.update.dreamer import Dreamer
from agents.weighting import make_weighting


class Agent(Dreamer):
    def __init__(self, cfg: Config, action_dim: int, device: torch.device):
        super().__init__(cfg, action_dim, device)
        self.wm = WorldModel(cfg.model, action_dim, cfg.env.image_size,
                             make_weighting(cfg.weighting))
        self.behaviour = Behaviour(cfg.behaviour, cfg.model, self.wm.rssm.feat_dim, action_dim)
        initialise(self, cfg.model.init)  # the slow critic too: it has its own start
        self.make_optimisers()
