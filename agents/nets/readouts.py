"""What analyses, evaluation metrics and videos read from a world model (either family):
posterior features of whole sequences, open-loop predictions, and the rewards of
behaviour-length imaginations. A mixin over the world model's encoder, RSSM (`observe`,
`img_step`, `mode`), decoder and `reward_mean`; it never trains anything."""

from __future__ import annotations

import torch

from agents.nets.latent import Posterior, preprocess


class Readouts:
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

