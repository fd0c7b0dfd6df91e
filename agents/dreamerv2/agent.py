"""The agent: world model + behaviour, their optimisers, one training update, and acting."""

from __future__ import annotations

import numpy as np
import torch

from agents.config import Config
from agents.dreamerv2.behaviour import Behaviour
from agents.dreamerv2.world_model import WorldModel
from agents.learner import Learner, adam, preprocess
from agents.weighting import make_weighting


class Agent(Learner):
    def __init__(self, cfg: Config, action_dim: int, device: torch.device):
        super().__init__(cfg.train.precision, device)
        self.cfg = cfg
        self.action_dim = action_dim
        self.wm = WorldModel(cfg.model, action_dim, cfg.env.image_size,
                             make_weighting(cfg.weighting))
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
        """One world-model step; returns its logs and the detached posterior states."""
        with self.autocast():
            wm_loss, logs, post = self.wm.loss(data, step)
        logs["grad_norm_model"] = self.step("model", wm_loss, self.wm.parameters(),
                                             self.cfg.model.clip)
        return logs, post

    def update_behaviour(self, post) -> dict[str, float]:
        """One actor and one critic step on imagined rollouts from `post`."""
        with self.autocast():
            actor_loss, critic_loss, logs = self.behaviour.losses(self.wm, post)
        b = self.cfg.behaviour
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
        logs, post = self.update_world_model(self.to_torch(batch), step)
        logs.update(self.update_behaviour(post))
        return logs

    @torch.no_grad()
    def act(self, images: np.ndarray, state, explore: bool):
        """One policy step for N envs at once: uint8 images [N, H, W, 3] -> actions [N, A];
        state = (deter, stoch, previous action), batched the same way (None to start)."""
        n = len(images)
        if state is None:
            deter, stoch = self.wm.rssm.initial(n, self.device)
            state = (deter, stoch, torch.zeros(n, self.action_dim, device=self.device))
        deter, stoch, prev_action = state
        image = torch.as_tensor(images, device=self.device)
        embed = self.wm.encoder(preprocess(image))
        deter, stoch = self.wm.rssm.obs_step(deter, stoch, prev_action, embed, sample=explore)
        action = self.behaviour.act(torch.cat([stoch, deter], -1), explore).clamp(-1, 1)
        return action.cpu().numpy(), (deter, stoch, action)
