"""DreamerV2 world model: encoder, RSSM, decoder, reward head, and its three raw losses.

The losses follow the official PyTorch code's definitions (unit-variance Gaussians without the
constant term): L_o = 0.5 * sum over pixels of squared error, L_r = 0.5 * (r - r_hat)^2, both
averaged over batch x time; L_d = KL balancing with free nats applied after averaging.
How they are combined is the Weighting's job, not the model's.
"""

from __future__ import annotations

import torch
from torch import nn

from agents.config import ModelConfig
from agents.dreamerv2.networks import RSSM, Decoder, Encoder, mlp
from agents.nets.latent import Posterior, preprocess
from agents.nets.readouts import Readouts
from agents.weighting import Weighting


class WorldModel(Readouts, nn.Module):
    def __init__(self, cfg: ModelConfig, action_dim: int, image_size: int, weighting: Weighting):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg.depth, cfg.enc_kernels, image_size)
        self.rssm = RSSM(self.encoder.out_dim, action_dim, cfg.deter, cfg.hidden, cfg.stoch,
                         cfg.classes)
        feat = self.rssm.feat_dim
        self.decoder = Decoder(feat, cfg.depth, cfg.dec_kernels)
        self.reward = mlp(feat, 1, cfg.mlp_layers, cfg.mlp_units)
        self.weighting = weighting
        # GradNorm's layer: the GRU's gates, the last layer all three losses reach
        weighting.layer = [self.rssm.gru.linear.weight]

    def reward_mean(self, feat: torch.Tensor) -> torch.Tensor:
        return self.reward(feat).squeeze(-1)

    def dynamics_loss(self, post: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        """KL balancing: balance * KL(sg(post) || prior) + (1 - balance) * KL(post || sg(prior))."""
        free, alpha = self.cfg.free_nats, self.cfg.kl_balance
        lhs = self.rssm.kl(post.detach(), prior).mean().clamp(min=free)
        rhs = self.rssm.kl(post, prior.detach()).mean().clamp(min=free)
        return alpha * lhs + (1 - alpha) * rhs

    def loss(self, batch: dict[str, torch.Tensor]):
        """The weighted total, logs (the raw losses as loss_*, detached tensors) and the
        (detached) posterior states."""
        image = preprocess(batch["image"])
        embed = self.encoder(image)
        deter, stoch, post, prior = self.rssm.observe(embed, batch["action"],
                                                      batch.get("is_first"))
        states = Posterior(deter, stoch)
        feat = states.feat
        recon = self.decoder(feat)
        obs = 0.5 * (recon.float() - image).pow(2).sum((-3, -2, -1)).mean()
        rew_feat = feat.detach() if self.weighting.detach_reward_features else feat
        rew = 0.5 * (self.reward_mean(rew_feat).float() - batch["reward"]).pow(2).mean()
        dyn = self.dynamics_loss(post, prior)
        total, logs = self.weighting({"obs": obs, "rew": rew, "dyn": dyn})
        logs["recon_mse"] = (recon.detach().float() - image).pow(2).mean()
        logs["post_entropy"] = self.rssm.dist(post.detach()).entropy().mean()
        return total, logs, Posterior(deter.detach(), stoch.detach())
