"""Weight initialisation schemes (`model.init`), applied to a whole agent after it is built.

- glorot: Glorot-uniform weights, zero biases. TF's defaults, which the official DreamerV2
  code trains from (danijar/dreamerv2; wmlib-torch copies them).
- trunc_normal: a normal truncated at 2 std with std sqrt(1 / fan_avg) / 0.8796 (the factor
  makes the truncated draw's std sqrt(1 / fan_avg)), zero biases: the official DreamerV3
  code's `winit: normal, fan: avg` (HarmonyDream's dreamerv3-jax).
- dreamerv3: trunc_normal, except that layers marked with `uniform` start from a uniform draw
  of the same std (Glorot-uniform): the official DreamerV3 layers that its config's
  `winit: normal` never reaches keep their class default `winit='uniform'` (the decoder's
  input layer and last transposed convolution, the RSSM's stats layers, and the non-zero
  output layers of the heads: continuation and actor). The dreamerv3 family's default.
- torch: PyTorch's per-layer defaults (kept to reproduce results measured with them).

`ZeroLinear` layers (DreamerV3's `outscale: 0` heads) start at zero under every scheme, and
`DefaultInitLinear` layers (DreamerV2's GRU gates, as in the official code) keep PyTorch's
defaults.
"""

from __future__ import annotations

import math
from typing import TypeVar

from torch import nn

from agents.config import INIT_SCHEMES

_TRUNC_STD = 0.87962566103423978  # std of a standard normal truncated to [-2, 2]


class ZeroLinear(nn.Linear):
    """A linear layer whose weights and bias start at zero (an output head whose prediction
    should start at 0, not at random)."""

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)


class DefaultInitLinear(nn.Linear):
    """A linear layer that keeps PyTorch's own initialisation under every scheme."""


Layer = TypeVar("Layer", bound=nn.Module)


def uniform(layer: Layer) -> Layer:
    """Mark `layer` to start uniform under the dreamerv3 scheme (see the module's docstring)."""
    layer.winit = "uniform"
    return layer


def initialise(module: nn.Module, scheme: str) -> None:
    """Re-initialise every linear and convolution layer of `module` with `scheme`."""
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; choose from {', '.join(INIT_SCHEMES)}")
    if scheme == "torch":
        return
    for m in module.modules():
        if isinstance(m, (ZeroLinear, DefaultInitLinear)) or not isinstance(
                m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            continue
        if scheme == "glorot" or (scheme == "dreamerv3" and getattr(m, "winit", "") == "uniform"):
            nn.init.xavier_uniform_(m.weight)  # limit sqrt(3 / fan_avg): std sqrt(1 / fan_avg)
        else:
            # Fans as torch counts them (a transposed conv's are swapped, but their mean is not).
            fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(m.weight)
            std = math.sqrt(2 / (fan_in + fan_out)) / _TRUNC_STD
            nn.init.trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
