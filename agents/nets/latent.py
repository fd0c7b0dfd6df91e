"""What both world models share with everything that reads them: the posterior state of a
batch of sequences, the image preprocessing, and the sequence-start flags."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Posterior:
    """Posterior states of a batch of sequences (both families' RSSMs)."""

    deter: torch.Tensor  # [B, T, deter]
    stoch: torch.Tensor  # [B, T, stoch * classes]

    @property
    def feat(self) -> torch.Tensor:
        return torch.cat([self.stoch, self.deter], -1)


def first_steps(batch: int, length: int, device: torch.device) -> torch.Tensor:
    """is_first [B, T] for sequences that each start an episode segment at t = 0 (how both
    official replays mark every training sequence: the RSSM starts afresh there)."""
    first = torch.zeros(batch, length, device=device)
    first[:, 0] = 1.0
    return first


def preprocess(image: torch.Tensor) -> torch.Tensor:
    """uint8 [..., H, W, 3] -> float [..., 3, H, W] in [-0.5, 0.5]."""
    return image.permute(*range(image.dim() - 3), -1, -3, -2).float() / 255.0 - 0.5
