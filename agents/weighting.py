"""Loss weightings: how the world model combines its observation, reward and dynamics losses.

Each weighting is one small nn.Module. Its learnable scalars (if any) are parameters, so they
go into the world-model optimiser with everything else and train in the same backward pass.
`forward(losses)` takes the raw losses {"obs", "rew", "dyn"} and returns the total plus a dict
of logged scalars: each raw loss, each effective weight and, for learned weightings, each s_i
(detached tensors, fixed weights as floats: nothing is copied to the host, so the update can
be captured as a CUDA graph).

An agent family may give a loss a base scale, its default fixed weight, used wherever the
weight is not learned, and a regulariser share (`make_weighting(cfg, base, reg)`): DreamerV3
passes its KL pair normalised, (0.5 dyn + 0.1 rep) / 0.6, with base 0.6 (so fixed 1/1/1 is
V3's default 0.5 dyn + 0.1 rep) and a harmonizer regulariser counted 0.5 / 0.6 = 5/6, as the
official code has it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from agents.gradients import gradient_norms

LOSSES = ("obs", "rew", "dyn")


class Weighting(nn.Module):
    #: True where the reward head must not shape the representation (observation_only).
    detach_reward_features: bool = False
    #: Per-loss base scale (multiplies the weight) and regulariser share; missing: 1.
    base: dict[str, float] = {}
    reg: dict[str, float] = {}
    #: Parameters to measure each weighted loss's gradient norm on (agents/gradients.py), set
    #: for a probe's forward pass only; None: nothing is measured.
    probe: list[torch.Tensor] | None = None

    def weights(self) -> dict[str, torch.Tensor | float]:
        raise NotImplementedError

    def regulariser(self) -> torch.Tensor | float:
        return 0.0

    def forward(self, losses: dict[str, torch.Tensor]
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor | float]]:
        learned = self.named_scalars()  # a learned weight replaces the family's base scale
        weights = {k: w if k in learned else w * self.base.get(k, 1.0)
                   for k, w in self.weights().items()}
        total = sum(weights[k] * losses[k] for k in LOSSES) + self.regulariser()
        detach = lambda v: v.detach() if isinstance(v, torch.Tensor) else v  # noqa: E731
        logs = {f"loss_{k}": losses[k].detach() for k in LOSSES}
        logs.update({f"weight_{k}": detach(weights[k]) for k in LOSSES})
        logs.update({f"s_{k}": v.detach() for k, v in learned.items()})
        if self.probe is not None:
            logs.update(gradient_norms({k: weights[k] * losses[k] for k in LOSSES}, self.probe))
        return total, logs

    def named_scalars(self) -> dict[str, torch.Tensor]:
        return {}

    def _regularise(self, term) -> torch.Tensor:
        """sum_i share_i * term(s_i) over the learned scalars (share from `reg`, default 1)."""
        # Shares as Python floats: a tensor built from them would be a host-to-device copy.
        return sum(self.reg.get(k, 1.0) * term(s) for k, s in self.named_scalars().items())


class Fixed(Weighting):
    """w_o * L_o + w_r * L_r + w_d * L_d (Dreamer's default is 1/1/1)."""

    def __init__(self, w_o: float = 1.0, w_r: float = 1.0, w_d: float = 1.0,
                 detach_reward_features: bool = False):
        super().__init__()
        self.fixed = {"obs": w_o, "rew": w_r, "dyn": w_d}
        self.detach_reward_features = detach_reward_features

    def weights(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.fixed.items()}


class Harmony(Weighting):
    """HarmonyDream: sum_i L_i / sigma_i + reg(sigma_i), sigma_i = exp(s_i), s_i init 0.

    rectified=True uses reg = log(1 + sigma) (the method); False uses log(sigma), the
    unrectified form whose optimum is sigma = L. Losses not in `harmonized` keep weight 1.
    """

    def __init__(self, rectified: bool = True, harmonized: tuple[str, ...] = LOSSES):
        super().__init__()
        self.rectified = rectified
        self.s = nn.ParameterDict({k: nn.Parameter(torch.zeros(())) for k in harmonized})

    def named_scalars(self) -> dict[str, torch.Tensor]:
        return dict(self.s.items())

    def weights(self) -> dict[str, torch.Tensor | float]:
        return {k: torch.exp(-self.s[k]) if k in self.s else 1.0 for k in LOSSES}

    def regulariser(self) -> torch.Tensor:
        # log(1 + exp(s)) = softplus(s), stable for large s.
        return self._regularise(nn.functional.softplus if self.rectified else (lambda s: s))


class Uncertainty(Weighting):
    """Kendall et al. (2018): L_i / (2 sigma_i^2) + log sigma_i, sigma_i = exp(s_i), s_i init 0."""

    def __init__(self):
        super().__init__()
        self.s = nn.ParameterDict({k: nn.Parameter(torch.zeros(())) for k in LOSSES})

    def named_scalars(self) -> dict[str, torch.Tensor]:
        return dict(self.s.items())

    def weights(self) -> dict[str, torch.Tensor]:
        return {k: 0.5 * torch.exp(-2.0 * self.s[k]) for k in LOSSES}

    def regulariser(self) -> torch.Tensor:
        return self._regularise(lambda s: s)


def _fixed(cfg) -> Weighting:
    return Fixed(cfg.w_o, cfg.w_r, cfg.w_d)


WEIGHTINGS = {
    "fixed": _fixed,
    "reward_only": lambda cfg: Fixed(0.0, cfg.w_r, cfg.w_d),
    "observation_only": lambda cfg: Fixed(cfg.w_o, cfg.w_r, cfg.w_d, detach_reward_features=True),
    "harmony": lambda cfg: Harmony(rectified=True),
    "harmony_unrectified": lambda cfg: Harmony(rectified=False),
    "harmony_fixed_dyn": lambda cfg: Harmony(rectified=True, harmonized=("obs", "rew")),
    "uncertainty": lambda cfg: Uncertainty(),
}


def make_weighting(cfg, base: dict[str, float] | None = None,
                   reg: dict[str, float] | None = None) -> Weighting:
    """Build the weighting named by a WeightingConfig (name, w_o, w_r, w_d), with optional
    per-loss base scales and regulariser shares (see the module doc)."""
    weighting = WEIGHTINGS[cfg.name](cfg)
    weighting.base, weighting.reg = dict(base or {}), dict(reg or {})
    return weighting


def rectified_optimum(loss: float, share: float = 1.0) -> float:
    """sigma minimising L/sigma + c log(1 + sigma), c the regulariser share:
    (L + sqrt(L^2 + 4cL)) / (2c); (L + sqrt(L^2 + 4L)) / 2 for c = 1."""
    return (loss + math.sqrt(loss * loss + 4.0 * share * loss)) / (2.0 * share)
