"""The DreamerV3 agent: its world model and behaviour; the update and acting step are the
shared `Dreamer`'s (agents/update/dreamer.py). Imagination starts from every posterior state
with its continuation flag; acting samples the posterior latent, as DreamerV3's policy does."""

from __future__ import annotations

import torch

from agents.config import Config
from agents.dreamerv3.behaviour import Behaviour, Start
from agents.dreamerv3.world_model import WorldModel, kl_shares
from agents.nets.init import initialise
from agents.update.dreamer import Dreamer
from agents.weighting import make_weighting


class Agent(Dreamer):
    # Compiled, the actor's and the critic's losses leave one graph with one backward, which
    # the actor's optimiser step would free before the critic's: only the world model compiles.
    compile_behaviour = False

    def __init__(self, cfg: Config, action_dim: int, device: torch.device):
        super().__init__(cfg, action_dim, device)
        base, reg = kl_shares(cfg.model)
        self.wm = WorldModel(cfg.model, action_dim, cfg.env.image_size,
                             make_weighting(cfg.weighting, base=base, reg=reg))
        self.behaviour = Behaviour(cfg.behaviour, cfg.model, self.wm.rssm.feat_dim, action_dim)
        initialise(self, cfg.model.init)
        self.behaviour.sync_target()
        self.make_optimisers()

    def start_states(self, post, data: dict[str, torch.Tensor]) -> Start:
        return Start(post.deter, post.stoch, 1.0 - data["terminal"])

    def finish_update(self) -> None:
        """As the official SlowUpdater (jaxutils.py): its mix is 1 at its first call, so the
        slow critic becomes a copy of the critic after the first update, then follows it by
        target_fraction every target_every updates (tests/algorithm/test_equivalence_v3.py)."""
        if self.updates == 0:
            self.behaviour.sync_target()
            self.updates += 1
            return
        super().finish_update()
