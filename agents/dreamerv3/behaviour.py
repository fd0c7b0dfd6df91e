"""DreamerV3 actor-critic in imagination, discrete actions.

Actor: one-hot categorical with 1% unimix, REINFORCE gradients (V3's choice for discrete
actions) on advantages scaled by the 5th-95th percentile range of the returns (an EMA,
floored at 1), entropy bonus 3e-4. Critic: two-hot symlog distribution trained on lambda
returns, regularised towards a slow critic (an EMA of its weights, 2% per update).
Imagined steps are weighted by the cumulative discount x predicted continuation.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from agents.config import BehaviourConfig, ModelConfig
from agents.dreamerv3.distributions import OneHotActions, TwoHotSymlog
from agents.dreamerv3.networks import mlp
from agents.dreamerv3.world_model import WorldModel
from agents.nets.latent import Posterior


@dataclass
class Start(Posterior):
    """Where imagination starts: posterior states and whether each continues (1 - terminal)."""

    cont: torch.Tensor  # [B, T]


def lambda_returns(reward, cont, value, discount: float, lam: float) -> torch.Tensor:
    """R_t = r_{t+1} + g c_{t+1} ((1 - lam) v_{t+1} + lam R_{t+1}), R_H = v_H.

    reward, cont, value: [H+1, N] over imagined states s_0..s_H; returns [H, N]."""
    disc = discount * cont[1:]
    interm = reward[1:] + disc * (1 - lam) * value[1:]
    returns = [value[-1]]
    for t in reversed(range(len(interm))):
        returns.append(interm[t] + disc[t] * lam * returns[-1])
    return torch.stack(returns[:0:-1])


def percentiles(x: torch.Tensor, qs: tuple[float, ...]) -> list[torch.Tensor]:
    """The qs-th percentiles of all of x (one sort), interpolated linearly as torch.quantile
    does; the positions are Python numbers, so nothing is copied between host and device."""
    values = x.flatten().sort().values
    out = []
    for q in qs:
        pos = q / 100 * (len(values) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(values) - 1)
        out.append(values[lo] + (pos - lo) * (values[hi] - values[lo]))
    return out


class ReturnScale(nn.Module):
    """EMA of the returns' low and high percentiles; scale = max(1, high - low)."""

    def __init__(self, decay: float, low: float, high: float):
        super().__init__()
        self.decay, self.q = decay, (low, high)
        self.register_buffer("low", torch.zeros(()))
        self.register_buffer("high", torch.zeros(()))

    @torch.no_grad()
    def update(self, returns: torch.Tensor) -> torch.Tensor:
        lo, hi = percentiles(returns.float(), self.q)
        d = self.decay
        self.low.copy_(d * self.low + (1 - d) * lo)
        self.high.copy_(d * self.high + (1 - d) * hi)
        return (self.high - self.low).clamp(min=1.0)


class Behaviour(nn.Module):
    def __init__(self, cfg: BehaviourConfig, model_cfg: ModelConfig, feat_dim: int,
                 action_dim: int):
        super().__init__()
        self.cfg, self.unimix = cfg, model_cfg.unimix
        layers, units = model_cfg.mlp_layers, model_cfg.mlp_units
        self.actor = mlp(feat_dim, action_dim, layers, units)
        self.critic = mlp(feat_dim, model_cfg.bins, layers, units, zero_out=True)
        self.target = copy.deepcopy(self.critic).requires_grad_(False)  # the slow critic
        self.retnorm = ReturnScale(cfg.retnorm_decay, cfg.retnorm_low, cfg.retnorm_high)

    def policy(self, feat: torch.Tensor) -> OneHotActions:
        return OneHotActions(self.actor(feat), self.unimix)

    def sync_target(self) -> None:
        """The slow critic becomes the critic (at the start)."""
        self.target.load_state_dict(self.critic.state_dict())

    @torch.no_grad()
    def update_target(self) -> None:
        f = self.cfg.target_fraction
        for slow, fast in zip(self.target.parameters(), self.critic.parameters(), strict=True):
            slow.mul_(1 - f).add_(fast.detach(), alpha=f)

    def imagine(self, wm: WorldModel, start: Posterior):
        """Features [H+1, N, F] from every posterior state, and the actions [H, N, A] taken."""
        deter = start.deter.reshape(-1, start.deter.shape[-1])
        stoch = start.stoch.reshape(-1, start.stoch.shape[-1])
        feats, actions = [torch.cat([stoch, deter], -1)], []
        for _ in range(self.cfg.horizon):
            action = self.policy(feats[-1].detach()).sample()
            deter, prior = wm.rssm.img_step(deter, stoch, action.to(deter.dtype))
            stoch = wm.rssm.sample(prior).to(deter.dtype)
            feats.append(torch.cat([stoch, deter], -1))
            actions.append(action)
        return torch.stack(feats), torch.stack(actions)

    def losses(self, wm: WorldModel, start: Start):
        """Actor (REINFORCE) and critic losses from imagined rollouts of every start state."""
        cfg = self.cfg
        with torch.no_grad():  # REINFORCE: no gradient through the model
            feats, actions = self.imagine(wm, start)
            reward = wm.reward_mean(feats).float()
            cont = (wm.cont_dist(feats).probs > 0.5).float()
            cont = torch.cat([start.cont.reshape(1, -1).float(), cont[1:]])
            value = TwoHotSymlog(self.critic(feats)).mean
            returns = lambda_returns(reward, cont, value, cfg.discount, cfg.lam)
            weight = torch.cumprod(cfg.discount * cont, 0) / cfg.discount
            scale = self.retnorm.update(returns)
            advantage = (returns - value[:-1]) / scale
        policy = self.policy(feats[:-1])
        entropy = policy.entropy()
        actor_loss = -(weight[:-1] * (policy.log_prob(actions) * advantage
                                      + cfg.actor_entropy * entropy)).mean()
        dist = TwoHotSymlog(self.critic(feats[:-1]))
        with torch.no_grad():
            slow = TwoHotSymlog(self.target(feats[:-1])).mean
        critic_loss = -(weight[:-1] * (dist.log_prob(returns)
                                       + cfg.slowreg * dist.log_prob(slow))).mean()
        logs = {"actor_loss": actor_loss.detach(), "critic_loss": critic_loss.detach(),
                "actor_entropy": entropy.detach().mean(), "imag_reward": reward.mean(),
                "imag_return": returns.mean(), "return_scale": scale}
        return actor_loss, critic_loss, logs

    @torch.no_grad()
    def act(self, feat: torch.Tensor, explore: bool) -> torch.Tensor:
        policy = self.policy(feat)
        return policy.sample() if explore else policy.mode
