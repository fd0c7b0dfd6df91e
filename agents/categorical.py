"""One-hot categorical latents and actions, sampled and compared without a host sync.

torch.distributions draws a categorical sample with torch.multinomial, which checks its
input on the host (a device-to-host copy per call), and its categorical KL masks zero
probabilities by boolean indexing: neither can run inside a CUDA graph. `OneHot` draws the
same sample the same way multinomial does for one draw (argmax of p / q, q ~ Exp(1): the
exponential race, identical samples for the same generator state) with no check, and `kl`
is the KL written with log-softmax, finite wherever the logits are (a class whose
probability underflows to 0 adds 0, the limit torch's masking gives).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import distributions as D


class OneHot(D.OneHotCategoricalStraightThrough):
    """One-hot categorical with straight-through rsample and a sync-free sample."""

    def __init__(self, logits: torch.Tensor):
        # Not super().__init__: it builds its inner Categorical with argument validation on,
        # a host sync per distribution (tests/test_graphs.py found it).
        self._categorical = D.Categorical(logits=logits, validate_args=False)
        D.Distribution.__init__(self, self._categorical.batch_shape,
                                self._categorical.param_shape[-1:], validate_args=False)

    def sample(self, sample_shape: torch.Size | tuple = ()) -> torch.Tensor:
        probs = self.probs.expand(*sample_shape, *self.probs.shape)
        race = torch.empty_like(probs).exponential_(1)
        return F.one_hot((probs / race).argmax(-1), probs.shape[-1]).to(probs)


def kl(lhs_logits: torch.Tensor, rhs_logits: torch.Tensor) -> torch.Tensor:
    """KL(lhs || rhs) of categoricals over the last axis."""
    lhs = F.log_softmax(lhs_logits.float(), -1)
    rhs = F.log_softmax(rhs_logits.float(), -1)
    return (lhs.exp() * (lhs - rhs)).sum(-1)
