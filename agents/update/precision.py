"""`train.precision`: which arithmetic autocast uses, and whether this CPU has units for it.

- fp32: no autocast.
- fp16: autocast to float16 with a gradient scaler per optimiser (the official DreamerV2's
  `precision: 16`: wmlib-torch's Optimizer owns a default GradScaler and updates it after its
  own step).
- bf16: autocast to bfloat16, no scaler (bf16 has fp32's range).
- auto: fp16 on CUDA, fp32 elsewhere: the official DreamerV2 trains in fp16 on its GPU (its
  script refuses a CPU), and on a CPU without fp16 units fp16 is far slower than fp32.

On a CPU, a low-precision matmul without hardware units for it runs far slower than fp32
(measured on an AVX2-only EPYC: bf16 about 50x slower; fp16 about 90x slower on a CPU with
avx512_bf16 but no avx512_fp16). Such a choice is allowed, with one warning line.
"""

from __future__ import annotations

import functools
import sys

import torch

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}
# CPU flags (/proc/cpuinfo) that mean hardware arithmetic for each low precision.
UNITS = {"fp16": ("avx512_fp16", "amx_fp16"), "bf16": ("avx512_bf16", "amx_bf16")}


def resolve(precision: str, device: torch.device) -> str:
    """The precision a run uses on `device` ("auto" -> fp16 on CUDA, else fp32)."""
    if precision == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    return precision


@functools.cache
def cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def slow_on_cpu(precision: str) -> str | None:
    """One line saying why `precision` will be slow on this CPU, or None where it is not."""
    units = UNITS.get(precision)
    if units is None or not cpu_flags() or cpu_flags() & set(units):
        return None
    return (f"warning: train.precision={precision} on a CPU without {precision} units "
            f"({' or '.join(units)}): its matmuls run tens of times slower than fp32; "
            f"use fp32 on this machine")


def amp_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for `precision` on `device` (None: fp32), warning in one line
    where this CPU has no units for it."""
    precision = resolve(precision, device)
    if device.type == "cpu" and (why := slow_on_cpu(precision)):
        _warn_once(why)
    return DTYPES.get(precision)


@functools.cache
def _warn_once(line: str) -> None:
    print(line, file=sys.stderr)
