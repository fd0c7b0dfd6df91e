"""DreamerV3's output distributions: symlog, two-hot symlog bins, and unimix categoricals."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from agents.nets.categorical import OneHot


def symlog(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.log1p(x.abs())


def symexp(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.expm1(x.abs())


def unimix_logits(logits: torch.Tensor, unimix: float) -> torch.Tensor:
    """Logits of (1 - unimix) * softmax(logits) + unimix * uniform: no class gets a
    vanishing probability, so KL terms and log-probs stay bounded."""
    if unimix <= 0:
        return logits
    probs = (1 - unimix) * F.softmax(logits.float(), -1) + unimix / logits.shape[-1]
    return torch.log(probs)


class TwoHotSymlog:
    """A categorical over `bins` fixed points spaced evenly in symlog space on [-20, 20].

    A scalar target is written as the two-hot weights of its two neighbouring bins (linear
    interpolation in symlog space); the loss is the cross-entropy with those weights and the
    prediction is symexp of the expected bin. Large and small rewards or returns then train
    at the same scale.
    """

    def __init__(self, logits: torch.Tensor, low: float = -20.0, high: float = 20.0):
        self.logits = logits.float()
        self.bins = torch.linspace(low, high, logits.shape[-1], device=logits.device)

    @property
    def mean(self) -> torch.Tensor:
        return symexp((F.softmax(self.logits, -1) * self.bins).sum(-1))

    def two_hot(self, x: torch.Tensor) -> torch.Tensor:
        bins = self.bins
        y = symlog(x.float()).clamp(bins[0], bins[-1])
        below = (torch.searchsorted(bins, y.contiguous(), right=True) - 1).clamp(0, len(bins) - 2)
        lo, hi = bins[below], bins[below + 1]
        w_hi = ((y - lo) / (hi - lo)).clamp(0, 1)
        out = F.one_hot(below, len(bins)).float() * (1 - w_hi)[..., None]
        return out + F.one_hot(below + 1, len(bins)).float() * w_hi[..., None]

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return (self.two_hot(x) * F.log_softmax(self.logits, -1)).sum(-1)


class OneHotActions(OneHot):
    """The discrete actor's distribution: one-hot categorical with 1% unimix; the mode is the
    most likely action as a one-hot vector."""

    def __init__(self, logits: torch.Tensor, unimix: float):
        super().__init__(unimix_logits(logits.float(), unimix))

    @property
    def mode(self) -> torch.Tensor:
        return F.one_hot(self.logits.argmax(-1), self.logits.shape[-1]).float()
