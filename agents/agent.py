"""The agent: world model + behaviour, their optimisers, one training update, and acting."""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

from agents.behaviour import Behaviour
from agents.config import Config
from agents.weighting import make_weighting
from agents.world_model import WorldModel, preprocess


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device=cuda but no CUDA device is available")
    return torch.device(name)


def _adam(params, lr: float, eps: float, weight_decay: float) -> torch.optim.Optimizer:
    # foreach: one fused kernel launch per parameter group instead of one per tensor.
    return torch.optim.AdamW(params, lr=lr, eps=eps, weight_decay=weight_decay, foreach=True)


class Agent(nn.Module):
    def __init__(self, cfg: Config, action_dim: int, device: torch.device):
        super().__init__()
        self.cfg = cfg
        self.device = device
        self.action_dim = action_dim
        self.wm = WorldModel(cfg.model, action_dim, cfg.env.image_size,
                             make_weighting(cfg.weighting))
        self.behaviour = Behaviour(cfg.behaviour, cfg.model, self.wm.rssm.feat_dim, action_dim)
        self.to(device)
        m, b = cfg.model, cfg.behaviour
        self.opt = {
            "model": _adam(self.wm.parameters(), m.lr, m.eps, m.weight_decay),
            "actor": _adam(self.behaviour.actor.parameters(), b.actor_lr, b.eps, b.weight_decay),
            "critic": _adam(self.behaviour.critic.parameters(), b.critic_lr, b.eps,
                            b.weight_decay),
        }
        # Mixed precision: autocast on either device (bf16 uses AMX / tensor cores where the
        # hardware has them); fp16 needs CUDA and a gradient scaler.
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.train.precision)
        if self.amp_dtype == torch.float16 and device.type != "cuda":
            raise ValueError("train.precision=fp16 needs CUDA; use bf16 on the CPU")
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.updates = 0

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _step(self, name: str, loss: torch.Tensor, params, clip: float) -> float:
        opt = self.opt[name]
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(opt)
        norm = nn.utils.clip_grad_norm_(params, clip)
        self.scaler.step(opt)
        return float(norm)

    def to_torch(self, batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        out = {k: torch.as_tensor(v, device=self.device) for k, v in batch.items()}
        for k in ("action", "reward", "state"):
            out[k] = out[k].float()
        return out

    def update_world_model(self, data: dict[str, torch.Tensor], step: int = -1):
        """One world-model step; returns its logs and the detached posterior states."""
        with self._autocast():
            wm_loss, logs, post = self.wm.loss(data, step)
        logs["grad_norm_model"] = self._step("model", wm_loss, self.wm.parameters(),
                                             self.cfg.model.clip)
        return logs, post

    def update_behaviour(self, post) -> dict[str, float]:
        """One actor and one critic step on imagined rollouts from `post`."""
        with self._autocast():
            actor_loss, critic_loss, logs = self.behaviour.losses(self.wm, post)
        b = self.cfg.behaviour
        logs["grad_norm_actor"] = self._step("actor", actor_loss,
                                             self.behaviour.actor.parameters(), b.clip)
        logs["grad_norm_critic"] = self._step("critic", critic_loss,
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

    def checkpoint_state(self) -> dict:
        return {"modules": self.state_dict(),
                "opt": {k: o.state_dict() for k, o in self.opt.items()},
                "scaler": self.scaler.state_dict(), "updates": self.updates}

    def load_checkpoint_state(self, state: dict) -> None:
        self.load_state_dict(state["modules"])
        for k, o in self.opt.items():
            o.load_state_dict(state["opt"][k])
        self.scaler.load_state_dict(state["scaler"])
        self.updates = state["updates"]
