"""Building blocks of DreamerV2: MLP, CNN encoder / decoder, RSSM with categorical latents.

As in DreamerV2, only the GRU is layer-normalised; MLPs and RSSM layers are plain ELU. Layer
for layer these are the official wmlib-torch networks (tests/algorithm/test_equivalence_v2.py
maps every parameter of one onto the other and compares their outputs).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import distributions as D
from torch import nn

from agents.nets.categorical import OneHot, kl
from agents.nets.rssm import NormGRU, RecurrentCore


def trunk(inp: int, layers: int, units: int) -> nn.Sequential:
    """`layers` x (Linear, ELU): an MLP's hidden layers."""
    mods: list[nn.Module] = []
    for _ in range(layers):
        mods += [nn.Linear(inp, units), nn.ELU()]
        inp = units
    return nn.Sequential(*mods)


def mlp(inp: int, out: int, layers: int, units: int) -> nn.Sequential:
    """Hidden layers, then a linear output layer."""
    net = trunk(inp, layers, units)
    net.append(nn.Linear(units if layers else inp, out))
    return net


class Encoder(nn.Module):
    """Strided CNN, channels depth * (1, 2, 4, 8), ELU; images in [-0.5, 0.5]."""

    def __init__(self, depth: int, kernels: tuple[int, ...], image_size: int):
        super().__init__()
        mods: list[nn.Module] = []
        channels, size = 3, image_size
        for i, k in enumerate(kernels):
            mods += [nn.Conv2d(channels, depth * 2**i, k, stride=2), nn.ELU()]
            channels, size = depth * 2**i, (size - k) // 2 + 1
        # channels_last: oneDNN's convolutions run ~25% faster in it on CPU (same maths).
        self.net = nn.Sequential(*mods, nn.Flatten()).to(memory_format=torch.channels_last)
        self.out_dim = channels * size * size

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """image: [..., 3, H, W] float -> [..., out_dim]."""
        lead = image.shape[:-3]
        x = image.reshape(-1, *image.shape[-3:]).contiguous(memory_format=torch.channels_last)
        return self.net(x).reshape(*lead, -1)


class ConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d whose 1x1-input case runs as one matrix multiply.

    On a 1x1 input a transposed convolution is a linear map to [C_out, k, k]; written as a
    matmul it is the same maths but ~6x faster on CPU than the generic kernel, which loops
    over the batch. Parameters (and so checkpoints and initialisation) are unchanged.
    """

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        if x.shape[-2:] != (1, 1) or output_size is not None or self.groups != 1:
            return super().forward(x, output_size)
        c_in, c_out, kh, kw = self.weight.shape
        y = x.flatten(1) @ self.weight.reshape(c_in, c_out * kh * kw)
        y = y.reshape(-1, c_out, kh, kw)
        return y if self.bias is None else y + self.bias[:, None, None]


class Decoder(nn.Module):
    """Features -> linear -> 1x1 map -> transposed convolutions -> image mean."""

    def __init__(self, feat_dim: int, depth: int, kernels: tuple[int, ...]):
        super().__init__()
        n = len(kernels)
        self.inp = depth * 2 ** (n - 1) * 4  # 32 * depth for the four-layer default
        self.linear = nn.Linear(feat_dim, self.inp)
        mods: list[nn.Module] = []
        channels = self.inp
        for i, k in enumerate(kernels):
            last = i == n - 1
            out = 3 if last else depth * 2 ** (n - 2 - i)
            mods.append(ConvTranspose2d(channels, out, k, stride=2))
            if not last:
                mods.append(nn.ELU())
            channels = out
        self.net = nn.Sequential(*mods).to(memory_format=torch.channels_last)  # as the encoder

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        lead = feat.shape[:-1]
        x = self.linear(feat).reshape(-1, self.inp, 1, 1)
        x = self.net(x)
        return x.reshape(*lead, *x.shape[1:])


class RSSM(RecurrentCore):
    """Recurrent state-space model with `stoch` categorical variables of `classes` classes.

    State = (deter [.., deter], stoch [.., stoch * classes] one-hot). Samples are
    straight-through one-hot categoricals (agents/nets/categorical.py).
    """

    def __init__(self, embed_dim: int, action_dim: int, deter: int, hidden: int,
                 stoch: int, classes: int):
        super().__init__()
        self.deter, self.stoch, self.classes = deter, stoch, classes
        flat = stoch * classes
        self.img_in = nn.Sequential(nn.Linear(flat + action_dim, hidden), nn.ELU())
        # The official cell's gate layer has a bias and keeps PyTorch's initialisation.
        self.gru = NormGRU(hidden, deter, bias=True, default_init=True)
        self.prior_head = nn.Sequential(nn.Linear(deter, hidden), nn.ELU(),
                                        nn.Linear(hidden, flat))
        self.post_head = nn.Sequential(nn.Linear(deter + embed_dim, hidden), nn.ELU(),
                                       nn.Linear(hidden, flat))

    @property
    def feat_dim(self) -> int:
        return self.deter + self.stoch * self.classes

    def initial(self, batch: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        return (torch.zeros(batch, self.deter, device=device),
                torch.zeros(batch, self.stoch * self.classes, device=device))

    def dist(self, logits: torch.Tensor) -> D.Independent:
        logits = logits.reshape(*logits.shape[:-1], self.stoch, self.classes)
        # No argument validation: it checks every sample and logit tensor on every step.
        return D.Independent(OneHot(logits.float()), 1, validate_args=False)

    def sample(self, logits: torch.Tensor) -> torch.Tensor:
        return self.dist(logits).rsample().flatten(-2)

    @property
    def post_net(self) -> nn.Sequential:
        return self.post_head

    def post_logits(self, raw: torch.Tensor) -> torch.Tensor:
        return raw  # DreamerV2's logits are the raw output, flat [.., stoch * classes]

    def prior_logits(self, deter: torch.Tensor) -> torch.Tensor:
        return self.prior_head(deter)

    def mode(self, logits: torch.Tensor) -> torch.Tensor:
        """Most likely class of each categorical, as a flat one-hot vector."""
        logits = logits.reshape(*logits.shape[:-1], self.stoch, self.classes)
        return F.one_hot(logits.argmax(-1), self.classes).flatten(-2).float()

    def kl(self, lhs_logits: torch.Tensor, rhs_logits: torch.Tensor) -> torch.Tensor:
        """KL(lhs || rhs) of the categorical latents, summed over the stoch variables."""
        shape = (*lhs_logits.shape[:-1], self.stoch, self.classes)
        return kl(lhs_logits.reshape(shape), rhs_logits.reshape(shape)).sum(-1)
