"""The gradient-aggregation update of the world model (UPGrad, MGDA, PCGrad, CAGrad, Nash-MTL,
IMTL-G, Aligned-MTL), from torchjd (the optional `arena` extra: pip install -e ".[arena]").

Which parameters are shared: the encoder and the RSSM, the parameters every loss reaches (the
ones `Dreamer.probe` measures). The dynamics (KL) loss reaches only the RSSM, so its row of
the Jacobian is zero on the encoder: it is a task like the others, whose gradient lands on
shared parameters. Each head (decoder, reward, DreamerV3's continue) reads only its own loss,
so one ordinary backward pass of the sum gives every head its own loss's gradient; only the
shared parameters get one gradient per loss (one backward pass each, torchjd's
`autojac.backward`), which the aggregator combines (`jac_to_grad`). DreamerV3's continue loss
is a fourth task. Rows are computed one at a time (parallel_chunk_size=1): the RSSM's
LoopLinear layers keep per-pass state that torch.vmap cannot batch.
"""

from __future__ import annotations

import warnings

import torch

# weighting name -> how torchjd builds it (n tasks, CAGrad's c); torchjd's own defaults else
BUILDERS = {
    "upgrad": lambda A, n, c: A.UPGrad(),
    "mgda": lambda A, n, c: A.MGDA(),
    "pcgrad": lambda A, n, c: A.PCGrad(),
    "cagrad": lambda A, n, c: A.CAGrad(c=c),
    "nash_mtl": lambda A, n, c: A.NashMTL(n_tasks=n),
    "imtl_g": lambda A, n, c: A.IMTLG(),
    "aligned_mtl": lambda A, n, c: A.AlignedMTL(),
}
EXTRA = 'pip install -e ".[arena]" (torchjd with its solvers)'

# Notices Nash-MTL's cvxpy solver prints about its own problem, not errors of the update: it is
# not DPP (so no faster re-solves), and a loss whose gradient on the shared layers is zero
# (DreamerV2's KL held at its free nats: loss_dyn = 1.0 exactly) makes it degenerate, where
# torchjd keeps its previous weights. Silenced here, where they arise, and named in
# docs/arena.md.
SOLVER_NOTICES = ("You are solving a parameterized problem that is not DPP",
                  "Solution may be inaccurate", "divide by zero encountered in divide",
                  "invalid value encountered in matmul")


def make_aggregator(method: str, n_tasks: int, cagrad_c: float = 0.4):
    """torchjd's aggregator for a weighting name; ImportError naming the extra without it."""
    try:
        from torchjd import aggregation
    except ImportError as exc:
        raise ImportError(f"weighting {method} needs torchjd: {EXTRA}") from exc
    try:
        return BUILDERS[method](aggregation, n_tasks, cagrad_c)
    except ImportError as exc:  # its solver (quadprog, cvxpy) is missing
        raise ImportError(f"weighting {method}: {exc}; {EXTRA}") from exc


def aggregated_backward(terms: dict[str, torch.Tensor], shared: list[torch.Tensor],
                        heads: list[torch.Tensor], aggregator) -> dict[str, torch.Tensor]:
    """Fill .grad: the heads' from the sum of `terms`, the shared parameters' from the
    aggregated per-term Jacobian. Returns weight_<k> (the aggregator's weight on term k's
    gradient) and gradnorm_<k> = |weight_k| ||grad of term k|| on the shared parameters (its
    weighted gradient's norm, what `Dreamer.probe` measures for a weighted sum)."""
    from torchjd.autojac import backward, jac_to_grad

    names, tensors = list(terms), list(terms.values())
    if heads:
        torch.autograd.backward(sum(tensors), inputs=heads, retain_graph=True)
    backward(tensors, inputs=shared, parallel_chunk_size=1)
    norms = torch.stack([p.jac.flatten(1).float().pow(2).sum(1) for p in shared]).sum(0).sqrt()
    with warnings.catch_warnings():
        for notice in SOLVER_NOTICES:
            warnings.filterwarnings("ignore", message=notice)
        weights = jac_to_grad(shared, aggregator)
    weights = torch.ones_like(norms) if weights is None else weights.detach().to(norms)
    return {**{f"weight_{k}": weights[i] for i, k in enumerate(names)},
            **{f"gradnorm_{k}": weights[i].abs() * norms[i] for i, k in enumerate(names)}}
