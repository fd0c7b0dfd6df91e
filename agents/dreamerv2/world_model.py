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
from agents.learner import Posterior, preprocess
from agents.weighting import Weighting


class WorldModel(nn.Module):
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

    @torch.no_grad()
    def encode_sequences(self, image: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Posterior features [N, T, feat] of N whole sequences (for probes and analyses)."""
        deter, stoch, _, _ = self.rssm.observe(self.encoder(preprocess(image)), action)
        return Posterior(deter, stoch).feat

    @torch.no_grad()
    def open_loop(self, image: torch.Tensor, action: torch.Tensor, context: int,
                  decode: bool = True) -> dict[str, torch.Tensor]:
        """What the model sees and predicts along N sequences ([N, T, ...] inputs).

        Posterior (filtering every frame): reconstructions and rewards for all T steps.
        Open loop: filter the first `context` frames, then roll the prior forward with the
        real actions (mode of each categorical) for the remaining T - context steps.
        """
        deter, stoch, _, _ = self.rssm.observe(self.encoder(preprocess(image)), action)
        post = Posterior(deter, stoch).feat
        h, z = deter[:, context - 1], stoch[:, context - 1]
        feats = []
        for t in range(context, image.shape[1]):
            h, logits = self.rssm.img_step(h, z, action[:, t])
            z = self.rssm.mode(logits)
            feats.append(torch.cat([z, h], -1))
        imagined = torch.stack(feats, 1) if feats else post[:, :0]
        out = {"reward_post": self.reward_mean(post),
               "reward_open_loop": self.reward_mean(imagined)}
        if decode:
            out.update(recon=self.decoder(post), imagined=self.decoder(imagined))
        return out

    @torch.no_grad()
    def imagine_rewards(self, image: torch.Tensor, action: torch.Tensor, horizon: int,
                        every: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Rewards of `horizon`-step imaginations, as behaviour learning makes them.

        From the posterior state at every `every`-th step t0 (with t0 + horizon inside the
        sequence), roll the prior forward with the real actions a[t0+1 .. t0+horizon] (mode
        of each categorical). Returns the predicted rewards [N, S, horizon] and the time
        indices [S, horizon] of the rewards they predict.
        """
        deter, stoch, _, _ = self.rssm.observe(self.encoder(preprocess(image)), action)
        starts = torch.arange(0, image.shape[1] - horizon, every, device=image.device)
        n, s = image.shape[0], len(starts)
        h = deter[:, starts].reshape(n * s, -1)
        z = stoch[:, starts].reshape(n * s, -1)
        targets = starts[:, None] + torch.arange(1, horizon + 1, device=image.device)
        feats = []
        for j in range(horizon):
            a = action[:, targets[:, j]].reshape(n * s, -1)
            h, logits = self.rssm.img_step(h, z, a)
            z = self.rssm.mode(logits)
            feats.append(torch.cat([z, h], -1))
        rewards = self.reward_mean(torch.stack(feats, 1)).reshape(n, s, horizon)
        return rewards, targets

