"""The DreamerV3 agent: world model + behaviour, their optimisers, one update, and acting."""

from __future__ import annotations

import numpy as np
import torch

from agents.config import Config
from agents.dreamerv3.behaviour import Behaviour, Start
from agents.dreamerv3.world_model import WorldModel, kl_shares
from agents.learner import Learner, adam, preprocess
from agents.weighting import make_weighting


class Agent(Learner):
    def __init__(self, cfg: Config, action_dim: int, device: torch.device):
        super().__init__(cfg.train.precision, device)
        self.cfg, self.action_dim = cfg, action_dim
        base, reg = kl_shares(cfg.model)
        self.wm = WorldModel(cfg.model, action_dim, cfg.env.image_size,
                             make_weighting(cfg.weighting, base=base, reg=reg))
        self.behaviour = Behaviour(cfg.behaviour, cfg.model, self.wm.rssm.feat_dim, action_dim)
        self.to(device)
        m, b = cfg.model, cfg.behaviour
        self.opt = {
            "model": adam(self.wm.parameters(), m.lr, m.eps, m.weight_decay),
            "actor": adam(self.behaviour.actor.parameters(), b.actor_lr, b.eps, b.weight_decay),
            "critic": adam(self.behaviour.critic.parameters(), b.critic_lr, b.eps,
                           b.weight_decay),
        }

    def update_world_model(self, data: dict[str, torch.Tensor], step: int = -1):
        """One world-model step; returns its logs and the detached start states of
        imagination (posterior states with their continuation flags)."""
        with self.autocast():
            wm_loss, logs, post = self.wm.loss(data, step)
        logs["grad_norm_model"] = self.step("model", wm_loss, self.wm.parameters(),
                                            self.cfg.model.clip)
        return logs, Start(post.deter, post.stoch, 1.0 - data["terminal"])

    def update_behaviour(self, start: Start) -> dict[str, float]:
        """One actor and one critic step on imagined rollouts, then the slow critic."""
        b = self.cfg.behaviour
        with self.autocast():
            actor_loss, critic_loss, logs = self.behaviour.losses(self.wm, start)
        logs["grad_norm_actor"] = self.step("actor", actor_loss,
                                            self.behaviour.actor.parameters(), b.clip)
        logs["grad_norm_critic"] = self.step("critic", critic_loss,
                                             self.behaviour.critic.parameters(), b.clip)
        self.scaler.update()
        self.updates += 1
        if self.updates % b.target_every == 0:
            self.behaviour.update_target()
        return logs

    def update(self, batch: dict[str, np.ndarray], step: int = -1) -> dict[str, float]:
        """One world-model update, then one actor and one critic update in imagination."""
        logs, start = self.update_world_model(self.to_torch(batch), step)
        logs.update(self.update_behaviour(start))
        return logs

    @torch.no_grad()
    def act(self, images: np.ndarray, state, explore: bool):
        """One policy step for N envs: uint8 images [N, H, W, 3] -> one-hot actions [N, A]."""
        n = len(images)
        if state is None:
            deter, stoch = self.wm.rssm.initial(n, self.device)
            state = (deter, stoch, torch.zeros(n, self.action_dim, device=self.device))
        deter, stoch, prev_action = state
        embed = self.wm.encoder(preprocess(torch.as_tensor(images, device=self.device)))
        deter, stoch = self.wm.rssm.obs_step(deter, stoch, prev_action, embed)
        action = self.behaviour.act(torch.cat([stoch, deter], -1), explore)
        return action.cpu().numpy(), (deter, stoch, action)
