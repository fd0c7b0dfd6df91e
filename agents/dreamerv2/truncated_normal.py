"""A truncated Normal on [low, high] with reparameterised samples (torch has none built in).

DreamerV2's actor for continuous actions: Normal(tanh(mu), std) truncated to [-1, 1], sampled
by the inverse CDF, u ~ U(Phi(alpha), Phi(beta)) and x = loc + scale * Phi^-1(u), so gradients
reach loc and scale through alpha, beta and Phi^-1. Unlike a clipped Normal, no probability
mass sits on the bounds: at the actor's initial std (~1.1) a clipped Normal puts over a third
of its samples at +-1.
"""

from __future__ import annotations

import math

import torch
from torch import distributions as D

_CLIP = 1e-6  # samples stay this far inside the bounds (straight-through), as officially


def uniform(shape: torch.Size, low: float, high: float, like: torch.Tensor) -> torch.Tensor:
    """U(low, high) noise: the sampler's only noise source (the equivalence tests replace it
    to feed this code and the official code the same noise)."""
    return torch.empty(shape, dtype=like.dtype, device=like.device).uniform_(low, high)


def _phi(x: torch.Tensor) -> torch.Tensor:
    return torch.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))


def _cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1 + torch.erf(x * (1 / math.sqrt(2))))


def _icdf(p: torch.Tensor) -> torch.Tensor:
    return math.sqrt(2) * torch.erfinv(2 * p - 1)


class TruncatedNormal(D.Distribution):
    """The official code's computation (toshas/torch_truncnorm as wmlib-torch uses it): the
    standardised bounds alpha, beta; the mass Z inside them floored at the dtype's epsilon;
    samples Phi^-1(Phi(alpha) + p Z) with p ~ U(eps, 1 - eps)."""

    arg_constraints = {"loc": D.constraints.real, "scale": D.constraints.positive}
    has_rsample = True

    def __init__(self, loc: torch.Tensor, scale: torch.Tensor, low: float = -1.0,
                 high: float = 1.0, validate_args: bool = False):
        self.loc, self.scale = torch.broadcast_tensors(loc, scale)
        self.low, self.high = low, high
        self.alpha = (low - self.loc) / self.scale
        self.beta = (high - self.loc) / self.scale
        self.eps = torch.finfo(self.loc.dtype).eps
        self._cdf_a = _cdf(self.alpha)
        self.z = (_cdf(self.beta) - self._cdf_a).clamp_min(self.eps)  # mass inside the bounds
        super().__init__(self.loc.shape, validate_args=validate_args)

    @property
    def support(self):
        return D.constraints.interval(self.low, self.high)

    def rsample(self, sample_shape: tuple[int, ...] = ()) -> torch.Tensor:
        shape = self._extended_shape(torch.Size(sample_shape))
        p = uniform(shape, self.eps, 1 - self.eps, self.loc)
        x = _icdf(self._cdf_a + p * self.z) * self.scale + self.loc
        # Far in a tail the inverse CDF can land a hair outside; keep samples strictly inside
        # with straight-through gradients, as the official code clips at 1e-6.
        clipped = x.clamp(self.low + _CLIP, self.high - _CLIP)
        return x - x.detach() + clipped.detach()

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        x = (value - self.loc) / self.scale
        return (-math.log(math.sqrt(2 * math.pi)) - torch.log(self.z) - x * x * 0.5
                - torch.log(self.scale))

    def entropy(self) -> torch.Tensor:
        a, b = self.alpha, self.beta
        return (math.log(math.sqrt(2 * math.pi * math.e)) + torch.log(self.z)
                - 0.5 * (_phi(b) * b - _phi(a) * a) / self.z + torch.log(self.scale))

    @property
    def mean(self) -> torch.Tensor:
        return self.loc + self.scale * (_phi(self.alpha) - _phi(self.beta)) / self.z

    @property
    def mode(self) -> torch.Tensor:
        return self.loc.clamp(self.low, self.high)

    @property
    def variance(self) -> torch.Tensor:
        a, b = self.alpha, self.beta
        r = (_phi(a) - _phi(b)) / self.z
        return self.scale**2 * (1 + (a * _phi(a) - b * _phi(b)) / self.z - r * r)
