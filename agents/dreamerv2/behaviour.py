"""Actor-critic learned in imagination (DreamerV2, continuous actions, dynamics backprop).

The actor is DreamerV2's: a Normal(tanh(mu), std) truncated to [-1, 1], std = 2 sigmoid((x +
init_std) / 2) + min_std, init_std 0 as in the official configs (std about 1.1 at the start),
with mu and x from two output layers, as the official code has them.

Imagination, returns and losses index time as the official wmlib-torch code does (its
ActorCritic, which tests/algorithm/test_equivalence_v2.py runs beside this one). Over imagined
states z_0..z_H (z_0 from the replayed posterior) with rewards r_t and slow-critic values v_t
of z_t:
  - lambda-returns  R_t = r_t + g ((1 - lam) v_{t+1} + lam R_{t+1}), R_H = v_H, for t < H
    (the reward predicted at z_t is paired with the step out of z_t);
  - actor objective  mean over t = 0..H-2 of w_t (R_{t+1} + eta H[pi(z_t)]), w_t = g^t;
  - critic  mean over t = 0..H-1 of w_t (v(z_t) - R'_t)^2 / 2, where R'_t carries the
    actor's entropy bonus for t >= 1 (`behaviour.entropy_in_critic_target`): the official
    code adds it to the returns in place, so its critic learns them too.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import distributions as D
from torch import nn

from agents.config import BehaviourConfig, ModelConfig
from agents.dreamerv2.networks import mlp, trunk
from agents.dreamerv2.truncated_normal import TruncatedNormal
from agents.dreamerv2.world_model import Posterior, WorldModel


class Actor(nn.Module):
    def __init__(self, feat_dim: int, action_dim: int, layers: int, units: int, min_std: float,
                 init_std: float = 0.0):
        super().__init__()
        self.net = trunk(feat_dim, layers, units)
        self.mean = nn.Linear(units, action_dim)
        self.std = nn.Linear(units, action_dim)
        self.min_std, self.init_std = min_std, init_std

    def forward(self, feat: torch.Tensor) -> D.Independent:
        x = self.net(feat)
        mean, std = self.mean(x).float(), self.std(x).float()
        std = 2 * torch.sigmoid((std + self.init_std) / 2) + self.min_std
        return D.Independent(TruncatedNormal(torch.tanh(mean), std), 1, validate_args=False)


@contextmanager
def frozen(module: nn.Module):
    """Let gradients flow through `module` without computing its own weight gradients."""
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(flag)


def lambda_returns(reward, value, discount: float, lam: float) -> torch.Tensor:
    """R_t = r_t + g ((1 - lam) v_{t+1} + lam R_{t+1}), R_H = v_H (the official pairing).

    reward, value: [H+1, N] over imagined states z_0..z_H; returns [H, N] for z_0..z_{H-1}.
    """
    returns = [value[-1]]
    for t in reversed(range(len(reward) - 1)):
        step = reward[t] + discount * value[t + 1] * (1 - lam)
        returns.append(step + discount * lam * returns[-1])
    return torch.stack(returns[:0:-1])


class Behaviour(nn.Module):
    def __init__(self, cfg: BehaviourConfig, model_cfg: ModelConfig, feat_dim: int,
                 action_dim: int):
        super().__init__()
        self.cfg = cfg
        layers, units = model_cfg.mlp_layers, model_cfg.mlp_units
        self.actor = Actor(feat_dim, action_dim, layers, units, cfg.actor_min_std,
                           cfg.actor_init_std)
        self.critic = mlp(feat_dim, 1, layers, units)
        # The slow critic starts from its own initialisation, as the official one does; the
        # first update copies the critic into it (Dreamer.update_tensors).
        self.target = mlp(feat_dim, 1, layers, units).requires_grad_(False)

    def update_target(self) -> None:
        self.target.load_state_dict(self.critic.state_dict())

    def imagine(self, wm: WorldModel, start: Posterior) -> tuple[torch.Tensor, torch.Tensor]:
        """Roll the actor through the prior for `horizon` steps from every posterior state.

        Returns features [H+1, N, F] (z_0 is the start) and the actor's entropies [H, N] at
        z_0..z_{H-1} (no policy is needed at the last state).
        """
        deter = start.deter.reshape(-1, start.deter.shape[-1])
        stoch = start.stoch.reshape(-1, start.stoch.shape[-1])
        feats, ents = [torch.cat([stoch, deter], -1)], []
        for _ in range(self.cfg.horizon):
            policy = self.actor(feats[-1].detach())
            ents.append(policy.entropy())
            action = policy.rsample()
            deter, prior = wm.rssm.img_step(deter, stoch, action.to(deter.dtype))
            stoch = wm.rssm.sample(prior).to(deter.dtype)
            feats.append(torch.cat([stoch, deter], -1))
        return torch.stack(feats), torch.stack(ents)

    def returns(self, wm: WorldModel, feats: torch.Tensor):
        """Imagined rewards [H+1, N], lambda-returns [H, N] and step weights [H+1, N]."""
        cfg = self.cfg
        reward = wm.reward_mean(feats).float()
        value = self.target(feats).squeeze(-1).float()
        returns = lambda_returns(reward, value, cfg.discount, cfg.lam)
        # w_t = g^t: the cumulative discount (no learned discount head on these suites).
        disc = torch.full_like(reward, cfg.discount)
        weight = torch.cumprod(torch.cat([torch.ones_like(disc[:1]), disc[:-1]]), 0)
        return reward, returns, weight

    def losses(self, wm: WorldModel, start: Posterior):
        """Actor loss (dynamics backprop through the frozen world model) and critic loss."""
        cfg = self.cfg
        with frozen(wm):
            feats, ents = self.imagine(wm, start)
            reward, returns, weight = self.returns(wm, feats)
        objective = returns[1:] + cfg.actor_entropy * ents[:-1]
        actor_loss = -(weight[:-2] * objective).mean()
        target = returns.detach()
        if cfg.entropy_in_critic_target:
            target = torch.cat([target[:1], objective.detach()])
        pred = self.critic(feats[:-1].detach()).squeeze(-1).float()
        critic_loss = (weight[:-1] * 0.5 * (pred - target).pow(2)).mean()
        logs = {"actor_loss": actor_loss.detach(), "critic_loss": critic_loss.detach(),
                "actor_entropy": ents[:-1].detach().mean(),  # over the states the loss reads
                "imag_reward": reward.detach().mean(), "imag_return": returns.detach().mean()}
        return actor_loss, critic_loss, logs

    @torch.no_grad()
    def act(self, feat: torch.Tensor, explore: bool) -> torch.Tensor:
        policy = self.actor(feat)
        return policy.rsample() if explore else policy.mode
