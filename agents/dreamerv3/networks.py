"""DreamerV3 building blocks: LayerNorm + SiLU everywhere, a LayerNorm GRU, categorical
latents with unimix, and a learned initial state."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import distributions as D
from torch import nn

from agents.dreamerv3.distributions import unimix_logits
from agents.nets.categorical import OneHot, kl
from agents.nets.init import ZeroLinear, uniform
from agents.nets.rssm import NormGRU, RecurrentCore


def dense(inp: int, out: int) -> list[nn.Module]:
    """Linear (no bias: the norm follows) -> LayerNorm -> SiLU."""
    return [nn.Linear(inp, out, bias=False), nn.LayerNorm(out, eps=1e-3), nn.SiLU()]


def mlp(inp: int, out: int, layers: int, units: int, zero_out: bool = False) -> nn.Sequential:
    """`layers` normed SiLU layers and a linear output; `zero_out` starts the output at 0
    (V3's reward head and critic: predictions start at zero instead of at random), else it
    starts uniform (the official `Dist` output layers)."""
    mods: list[nn.Module] = []
    for _ in range(layers):
        mods += dense(inp, units)
        inp = units
    head = ZeroLinear(inp, out) if zero_out else uniform(nn.Linear(inp, out))
    return nn.Sequential(*mods, head)


class ChannelNorm(nn.LayerNorm):
    """LayerNorm over the channels of a [B, C, H, W] map."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def conv_stages(image_size: int, minres: int = 4) -> int:
    stages, size = 0, image_size
    while size > minres:
        size, stages = size // 2, stages + 1
    return stages


class Encoder(nn.Module):
    """Stride-2 4x4 convolutions down to 4x4, channels depth * (1, 2, 4, 8), norm + SiLU."""

    def __init__(self, depth: int, image_size: int):
        super().__init__()
        mods: list[nn.Module] = []
        channels = 3
        for i in range(conv_stages(image_size)):
            out = depth * 2**i
            mods += [nn.Conv2d(channels, out, 4, 2, 1, bias=False), ChannelNorm(out, eps=1e-3),
                     nn.SiLU()]
            channels = out
        self.net = nn.Sequential(*mods, nn.Flatten())
        self.out_dim = channels * 4 * 4

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        lead = image.shape[:-3]
        return self.net(image.reshape(-1, *image.shape[-3:])).reshape(*lead, -1)


class Decoder(nn.Module):
    """Features -> 4x4 map -> stride-2 transposed convolutions -> image mean."""

    def __init__(self, feat_dim: int, depth: int, image_size: int):
        super().__init__()
        n = conv_stages(image_size)
        self.channels = depth * 2 ** (n - 1)
        self.linear = uniform(nn.Linear(feat_dim, self.channels * 16))  # officially uniform
        mods: list[nn.Module] = []
        channels = self.channels
        for i in range(n):
            last = i == n - 1
            out = 3 if last else depth * 2 ** (n - 2 - i)
            layer = nn.ConvTranspose2d(channels, out, 4, 2, 1, bias=last)
            mods.append(uniform(layer) if last else layer)  # the official last one: uniform
            if not last:
                mods += [ChannelNorm(out, eps=1e-3), nn.SiLU()]
            channels = out
        self.net = nn.Sequential(*mods)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        lead = feat.shape[:-1]
        x = self.linear(feat.reshape(-1, feat.shape[-1])).reshape(-1, self.channels, 4, 4)
        x = self.net(x)
        return x.reshape(*lead, *x.shape[1:])


class RSSM(RecurrentCore):
    def __init__(self, embed_dim: int, action_dim: int, deter: int, hidden: int, stoch: int,
                 classes: int, unimix: float):
        super().__init__()
        self.deter, self.stoch, self.classes, self.unimix = deter, stoch, classes, unimix
        self.img_in = nn.Sequential(*dense(stoch * classes + action_dim, hidden))
        self.gru = NormGRU(hidden, deter)
        # The stats layers (official `img_stats`, `obs_stats`) start uniform.
        self.img_out = nn.Sequential(*dense(deter, hidden),
                                     uniform(nn.Linear(hidden, stoch * classes)))
        self.obs_out = nn.Sequential(*dense(deter + embed_dim, hidden),
                                     uniform(nn.Linear(hidden, stoch * classes)))
        self.initial_deter = nn.Parameter(torch.zeros(deter))  # learned initial state

    @property
    def feat_dim(self) -> int:
        return self.stoch * self.classes + self.deter

    def logits(self, raw: torch.Tensor) -> torch.Tensor:
        raw = raw.reshape(*raw.shape[:-1], self.stoch, self.classes)
        return unimix_logits(raw, self.unimix)

    def dist(self, logits: torch.Tensor) -> D.Independent:
        return D.Independent(OneHot(logits.float()), 1, validate_args=False)

    def sample(self, logits: torch.Tensor) -> torch.Tensor:
        return self.dist(logits).rsample().flatten(-2)

    def mode(self, logits: torch.Tensor) -> torch.Tensor:
        return F.one_hot(logits.argmax(-1), self.classes).float().flatten(-2)

    def initial(self, n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        deter = torch.tanh(self.initial_deter).expand(n, -1)
        return deter, self.mode(self.logits(self.img_out(deter)))

    @property
    def post_net(self) -> nn.Sequential:
        return self.obs_out

    def post_logits(self, raw: torch.Tensor) -> torch.Tensor:
        return self.logits(raw)

    def prior_logits(self, deter: torch.Tensor) -> torch.Tensor:
        return self.logits(self.img_out(deter))

    def kl(self, lhs: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
        """KL(lhs || rhs) of the categorical latents, summed over the stoch variables."""
        return kl(lhs, rhs).sum(-1)
