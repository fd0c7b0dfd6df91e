"""DreamerV3 world model: encoder, RSSM, decoder, two-hot symlog reward head, continue head.

Raw losses per step, averaged over batch x time, as the official code defines them:
image = sum over pixels of squared error (pixels in [-0.5, 0.5]); reward = -log p of the
two-hot symlog target; continue = Bernoulli -log p of 1 - terminal; dyn = max(free,
KL(sg(post) || prior)) and rep = max(free, KL(post || sg(prior))), free bits applied per step.

The weighting sees three losses, as on DreamerV2: obs = image, rew = reward, and dyn = the
KL pair normalised to keep its 0.5 : 0.1 ratio, (0.5 dyn + 0.1 rep) / 0.6. Its base scale
0.6 restores DreamerV3's default total under fixed weights 1/1/1; HarmonyDream gives the pair
one harmonizer whose regulariser counts 0.5 / 0.6 = 5/6, as in the official JAX code. The
continue loss is added with weight 1, never harmonized.
"""

from __future__ import annotations

import torch
from torch import distributions as D
from torch import nn

from agents.config import ModelConfig
from agents.dreamerv3.distributions import TwoHotSymlog
from agents.dreamerv3.networks import RSSM, Decoder, Encoder, mlp
from agents.nets.latent import Posterior, preprocess
from agents.nets.readouts import Readouts
from agents.weighting import Weighting


def kl_shares(cfg: ModelConfig) -> tuple[dict[str, float], dict[str, float]]:
    """(base scale, regulariser share) per loss for V3's weighting (see the module doc)."""
    total = cfg.dyn_scale + cfg.rep_scale
    return {"dyn": total}, {"dyn": cfg.dyn_scale / total}


def kl_pair(kl_dyn: torch.Tensor, kl_rep: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """The dyn and rep KL terms as one loss for the weighting, their ratio kept."""
    return (cfg.dyn_scale * kl_dyn + cfg.rep_scale * kl_rep) / (cfg.dyn_scale + cfg.rep_scale)


class WorldModel(Readouts, nn.Module):
    def __init__(self, cfg: ModelConfig, action_dim: int, image_size: int, weighting: Weighting):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg.depth, image_size)
        self.rssm = RSSM(self.encoder.out_dim, action_dim, cfg.deter, cfg.hidden, cfg.stoch,
                         cfg.classes, cfg.unimix)
        feat = self.rssm.feat_dim
        self.decoder = Decoder(feat, cfg.depth, image_size)
        self.reward = mlp(feat, cfg.bins, cfg.mlp_layers, cfg.mlp_units, zero_out=True)
        self.cont = mlp(feat, 1, cfg.mlp_layers, cfg.mlp_units)
        self.weighting = weighting
        # GradNorm's layer: the GRU's gates, the last layer all three losses reach
        weighting.layer = [self.rssm.gru.linear.weight]

    def reward_dist(self, feat: torch.Tensor) -> TwoHotSymlog:
        return TwoHotSymlog(self.reward(feat))

    def reward_mean(self, feat: torch.Tensor) -> torch.Tensor:
        return self.reward_dist(feat).mean

    def cont_dist(self, feat: torch.Tensor) -> D.Bernoulli:
        return D.Bernoulli(logits=self.cont(feat).squeeze(-1).float(), validate_args=False)

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
        free = self.cfg.free_bits
        kl_dyn = self.rssm.kl(post.detach(), prior).clamp(min=free).mean()
        kl_rep = self.rssm.kl(post, prior.detach()).clamp(min=free).mean()
        rew_feat = feat.detach() if self.weighting.detach_reward_features else feat
        losses = {
            "obs": (recon.float() - image).pow(2).sum((-3, -2, -1)).mean(),
            "rew": -self.reward_dist(rew_feat).log_prob(batch["reward"]).mean(),
            "dyn": kl_pair(kl_dyn, kl_rep, self.cfg),
        }
        cont = -self.cont_dist(feat).log_prob(1.0 - batch["terminal"]).mean()
        total, logs = self.weighting(losses)
        total = total + cont
        if self.weighting.terms is not None:  # an aggregator: the continue loss is a task too
            self.weighting.terms["cont"] = cont
        logs.update(loss_cont=cont.detach(), kl_dyn=kl_dyn.detach(), kl_rep=kl_rep.detach(),
                    recon_mse=(recon.detach().float() - image).pow(2).mean())
        return total, logs, Posterior(deter.detach(), stoch.detach())

    # Open loop as on DreamerV2 (posterior for `context` frames, then the prior's mode under
    # the real actions): the same steps through this family's RSSM, decoder and reward mean.
