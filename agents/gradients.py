"""Which loss drives the shared representation: each weighted world-model loss's gradient norm
on the parameters every head reads (encoder and RSSM).

This is the paper's argument made visible: with w_o = w_r = w_d = 1 the observation term's
gradient on the shared parameters is far larger than the reward term's. Measured on a copy of
an update's forward pass (`Dreamer.probe`), every `train.probe_every` updates.
"""

from __future__ import annotations

import torch


def gradient_norms(terms: dict[str, torch.Tensor], params: list[torch.Tensor]
                   ) -> dict[str, torch.Tensor]:
    """{"gradnorm_<k>": ||d terms[k] / d params||} (global L2 norm over all `params`; zero
    for a term that does not reach them, e.g. a detached reward head)."""
    out = {}
    for name, term in terms.items():
        grads = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)
        norms = [g.float().norm() for g in grads if g is not None]
        out[f"gradnorm_{name}"] = (torch.stack(norms).norm() if norms
                                   else torch.zeros((), device=term.device))
    return out
