"""One optimiser step, checked element by element against the official optimiser applied to
our own gradients.

Gradients are compared with the official ones elsewhere (at 1e-5 of their scale). Comparing
our step with the official step on the official gradients would have to allow for that
rounding, which a first Adam step (lr g / (|g| + eps)) can grow by lr / eps: a slack that a
doubled learning rate fits inside. Here the official optimiser (its optax chain, or its
wmlib Optimizer) gets our gradients as they were before clipping, so the two steps differ by
float rounding only: per element at most 1e-5 of the official step plus one float32 spacing
of the weight (the step is read off the updated float32 weights). A wrong learning rate,
epsilon, weight decay or clip moves some elements far outside that
(tests/algorithm/test_equivalence_v2.py and _v3.py hold the negative controls).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

STEP_RTOL = 1e-5

# In-memory changes of our optimisers that the check must catch (the negative controls).
PERTURBATIONS = ("lr x2", "eps x10", "weight decay 1e-4", "clip at a tenth of the norm")


@contextlib.contextmanager
def gradients_before_clipping(module: nn.Module) -> Iterator[dict[str, torch.Tensor]]:
    """Every gradient of `module`'s parameters as `clip_grad_norm_` receives it (before
    clipping: every agent's optimiser step clips first), by parameter name."""
    names = {id(p): n for n, p in module.named_parameters()}
    seen: dict[str, torch.Tensor] = {}
    original = torch.nn.utils.clip_grad_norm_

    def capture(params, *args, **kwargs):
        params = list(params)
        for p in params:
            if p.grad is not None and id(p) in names:
                seen[names[id(p)]] = p.grad.detach().clone()
        return original(params, *args, **kwargs)

    torch.nn.utils.clip_grad_norm_ = capture
    try:
        yield seen
    finally:
        torch.nn.utils.clip_grad_norm_ = original


def weights(module: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in module.named_parameters()}


def check_steps(module: nn.Module, before: dict[str, torch.Tensor], expected: dict, what: str,
                rtol: float = STEP_RTOL) -> None:
    """Our step (weights now minus `before`) equals `expected` (name -> the official step)
    element by element, within rtol of it plus one float32 spacing of the weight."""
    assert expected, what
    now = dict(module.named_parameters())
    for name, theirs in expected.items():
        old = before[name].double()
        new = now[name].detach().double()
        theirs = torch.as_tensor(np.asarray(theirs, np.float64)).reshape(old.shape)
        spacing = torch.as_tensor(np.spacing(np.maximum(old.abs().numpy(), new.abs().numpy())
                                             .astype(np.float32)), dtype=torch.float64)
        excess = (new - old - theirs).abs() - (rtol * theirs.abs() + spacing)
        worst = int(excess.argmax())
        assert excess.flatten()[worst] <= 0, (
            f"{what} of {name}: element {worst} moved {(new - old).flatten()[worst]:.6g}, "
            f"officially {theirs.flatten()[worst]:.6g} (tolerance {rtol:g} of it + one float32 "
            f"spacing)")


@contextlib.contextmanager
def perturbed_optimisers(agent, perturbation: str, norm: float) -> Iterator[None]:
    """Our optimisers changed in memory by one of PERTURBATIONS (`norm`: the global gradient
    norm of the step to come, for a clip that binds); restored afterwards."""
    cfg = agent.cfg
    if perturbation == "clip at a tenth of the norm":
        agent.cfg = dataclasses.replace(
            cfg, model=dataclasses.replace(cfg.model, clip=norm / 10),
            behaviour=dataclasses.replace(cfg.behaviour, clip=norm / 10))
    key, change = {"lr x2": ("lr", lambda v: 2 * v), "eps x10": ("eps", lambda v: 10 * v),
                   "weight decay 1e-4": ("weight_decay", lambda v: 1e-4)}.get(
        perturbation, (None, None))
    if key is not None:
        for opt in agent.opt.values():
            for group in opt.param_groups:
                group[key] = change(group[key])
    try:
        yield
    finally:
        agent.cfg = cfg
