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

The arena's methods (docs/arena.md; their metadata: agents/config/weightings.py): GradNorm and
DWA are weightings with state of their own, advanced once per world-model update (never in a
probe's or an evaluation's forward pass); an aggregator (UPGrad, MGDA, ...) is a weighting
whose total is the plain sum and whose per-loss terms the update combines on the shared
parameters with torchjd (agents/aggregation.py).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from agents.config import WEIGHTINGS_REGISTRY
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
    #: True for an aggregator: forward keeps each loss's term in `terms` for the update.
    aggregates: bool = False
    terms: dict[str, torch.Tensor] | None = None
    #: GradNorm's layer (the world model sets it: the RSSM's GRU, every loss's last shared
    #: layer); other weightings ignore it.
    layer: list[torch.Tensor] | None = None

    def own_parameters(self) -> list[torch.Tensor]:
        """Parameters the weighting trains itself, kept out of the world-model optimiser."""
        return []

    def advancing(self) -> bool:
        """Whether this forward pass is an update's (state may advance): training, with
        gradients, and not a probe's."""
        return self.training and torch.is_grad_enabled() and self.probe is None

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
        if self.aggregates:
            self.terms = {k: weights[k] * losses[k] for k in LOSSES} if self.advancing() else None
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


class GradNorm(Weighting):
    """Chen et al. (2018): sum_i w_i L_i, the w_i trained by their own Adam on
    L_grad = sum_i |G_i - mean_j(G_j) r_i^alpha| (the target held constant), then renormalised
    to sum to the number of losses. G_i = ||grad_W w_i L_i|| on the layer W every loss reaches
    last (`layer`); r_i = L~_i / mean_j L~_j, L~_i = L_i(t) / L_i(0) the inverse training rate.
    A step uses the weights from before its own GradNorm update."""

    def __init__(self, alpha: float = 1.5, lr: float = 0.025):
        super().__init__()
        self.alpha, self.lr = alpha, lr
        self.w = nn.Parameter(torch.ones(len(LOSSES)))
        self.register_buffer("initial", torch.zeros(len(LOSSES)))  # L_i(0); 0 until set
        self.opt: torch.optim.Optimizer | None = None  # built on first use (on the device)
        self._opt_state: dict | None = None

    def own_parameters(self) -> list[torch.Tensor]:
        return [self.w]

    def weights(self) -> dict[str, torch.Tensor]:
        w = self.w.detach().clone()  # this step's weights; the GradNorm step moves self.w
        return {k: w[i] for i, k in enumerate(LOSSES)}

    def forward(self, losses):
        total, logs = super().forward(losses)
        if self.advancing():
            logs.update(self.learn(losses))
        return total, logs

    def learn(self, losses: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One GradNorm step on the weights; returns the weighted norms G_i as gradnorm_gru_*."""
        tasks = {k: self.base.get(k, 1.0) * losses[k] for k in LOSSES}
        norms = gradient_norms(tasks, self.layer)
        g = torch.stack([norms[f"gradnorm_{k}"] for k in LOSSES]).detach()
        now = torch.stack([tasks[k] for k in LOSSES]).detach().float()
        if not bool(self.initial.any()):
            self.initial.copy_(now)
        ratio = now / self.initial
        weighted = self.w * g  # G_i, with the weights this step used
        target = (weighted.mean() * (ratio / ratio.mean()) ** self.alpha).detach()
        grad_loss = (weighted - target).abs().sum()
        if self.opt is None:
            self.opt = torch.optim.Adam([self.w], lr=self.lr)
            if self._opt_state is not None:
                self.opt.load_state_dict(self._opt_state)
        (self.w.grad,) = torch.autograd.grad(grad_loss, [self.w])
        self.opt.step()
        self.w.grad = None  # not seen by the world model's clipping
        with torch.no_grad():
            self.w.clamp_(min=1e-6).mul_(len(LOSSES) / self.w.sum())
        weighted = weighted.detach()
        return {f"gradnorm_gru_{k}": weighted[i] for i, k in enumerate(LOSSES)}

    def get_extra_state(self) -> dict:
        return {"opt": None if self.opt is None else self.opt.state_dict()}

    def set_extra_state(self, state: dict) -> None:
        self._opt_state = state["opt"]
        if self.opt is not None and state["opt"] is not None:
            self.opt.load_state_dict(state["opt"])


class DWA(Weighting):
    """Liu et al. (2019): w_i = K exp(r_i / T) / sum_j exp(r_j / T), r_i = the ratio of loss i's
    means over the last two windows of `window` updates (DWA's epochs); 1 for the first two."""

    def __init__(self, temperature: float = 2.0, window: int = 100):
        super().__init__()
        self.temperature, self.window = temperature, window
        self.register_buffer("w", torch.ones(len(LOSSES)))
        self.register_buffer("sums", torch.zeros(len(LOSSES)))  # this window's loss sums
        self.register_buffer("means", torch.zeros(2, len(LOSSES)))  # the last two windows'
        self.register_buffer("count", torch.zeros((), dtype=torch.long))  # updates this window
        self.register_buffer("windows", torch.zeros((), dtype=torch.long))  # windows closed

    def weights(self) -> dict[str, torch.Tensor]:
        w = self.w.clone()  # the window's end rewrites self.w in place
        return {k: w[i] for i, k in enumerate(LOSSES)}

    def forward(self, losses):
        total, logs = super().forward(losses)
        if self.advancing():
            self.sums += torch.stack([losses[k].detach().float() for k in LOSSES])
            self.count += 1
            if int(self.count) == self.window:  # one host read per update (eager only)
                self.means.copy_(torch.stack([self.means[1], self.sums / self.count]))
                self.windows += 1
                self.sums.zero_()
                self.count.zero_()
                if int(self.windows) >= 2:
                    rates = self.means[1] / self.means[0]
                    self.w.copy_(len(LOSSES) * torch.softmax(rates / self.temperature, 0))
        return total, logs


class Aggregated(Weighting):
    """A gradient aggregator (torchjd): the total is the plain sum of the (base-scaled) losses,
    so each head gets its own loss's gradient; the update combines the per-loss gradients on
    the shared parameters with `method` (agents/aggregation.py)."""

    aggregates = True

    def __init__(self, method: str, cagrad_c: float = 0.4):
        super().__init__()
        self.method, self.cagrad_c = method, cagrad_c

    def weights(self) -> dict[str, float]:
        return {k: 1.0 for k in LOSSES}


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
    "gradnorm": lambda cfg: GradNorm(cfg.gradnorm_alpha, cfg.gradnorm_lr),
    "dwa": lambda cfg: DWA(cfg.dwa_temperature, cfg.dwa_window),
    **{name: (lambda cfg, name=name: Aggregated(name, cfg.cagrad_c))
       for name, info in WEIGHTINGS_REGISTRY.items() if info.aggregates},
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
