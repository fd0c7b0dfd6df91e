"""`train.compile`: the world model's and the behaviour's loss functions through
torch.compile (inductor), so their many small element-wise kernels run fused.

The backward pass, clipping and the optimiser step stay eager. Random numbers come from the
eager generator (inductor's `fallback_random`), so a compiled update draws what the eager one
draws and differs from it only by rounding (tests/algorithm/test_compile.py; docs/equivalence.md
states the tolerance). The first update compiles: minutes on a 2-core CPU, seconds once
inductor's on-disk cache (TORCHINDUCTOR_CACHE_DIR) holds the graphs.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def compiled(fn: Callable) -> Callable:
    """`fn` compiled for the fixed shapes of a training batch (a new shape compiles again)."""
    import torch._inductor.config as inductor

    inductor.fallback_random = True  # process-wide; only compiled code reads it
    return torch.compile(fn, dynamic=False)
