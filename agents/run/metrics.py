"""Training metrics summed on the device, read back once per log interval.

An update's metrics are 0-dim tensors on the training device (and a few Python floats, such
as fixed loss weights). Turning each into a float is a host sync per metric per update, which
on a GPU stalls the launch queue and makes CUDA-graph replay pointless; `Metrics` stacks them
into one running sum per metric name set and copies it to the host only in `means()`.
"""

from __future__ import annotations

import math

import torch

from agents.update.learner import NonFiniteLossError


class Metrics:
    """Running sums of update metrics. Updates may log different name sets (a probed update
    adds its gradient norms): each set keeps its own stacked sum, and a metric's mean is over
    the updates that logged it."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self._sums: dict[tuple[str, ...], list] = {}  # names -> [stacked sum, updates]
        self._floats: dict[str, list[float]] = {}  # name -> [sum, updates]
        self.count = 0

    def add(self, logs: dict[str, torch.Tensor | float]) -> None:
        names = tuple(k for k, v in logs.items() if isinstance(v, torch.Tensor))
        values = torch.stack([logs[k].detach().float().reshape(()) for k in names])
        if names in self._sums:
            self._sums[names][0] += values
            self._sums[names][1] += 1
        else:
            self._sums[names] = [values.clone(), 1]
        for k, v in logs.items():
            if not isinstance(v, torch.Tensor):
                acc = self._floats.setdefault(k, [0.0, 0])
                acc[0], acc[1] = acc[0] + float(v), acc[1] + 1
        self.count += 1

    def means(self) -> dict[str, float]:
        """Mean of every metric since the last reset (one device-to-host copy per name set)."""
        totals: dict[str, list[float]] = {}
        for names, (total, count) in self._sums.items():
            for k, v in zip(names, total.tolist(), strict=True):
                acc = totals.setdefault(k, [0.0, 0])
                acc[0], acc[1] = acc[0] + v, acc[1] + count
        totals.update(self._floats)
        return {k: v / n for k, (v, n) in totals.items()}

    def drain(self, check_at: int | None = None) -> dict[str, float]:
        """`means()`, then reset; with `check_at` (a step), `check_finite` on the same read."""
        out = self.means() if check_at is None else self.check_finite(check_at)
        self.reset()
        return out

    def nonfinite(self, prefix: str = "loss_", means: dict[str, float] | None = None
                  ) -> list[str]:
        """Names of the `prefix` metrics whose sum is NaN or infinite (a non-finite value in
        any update since the reset)."""
        means = self.means() if means is None else means
        return [k for k, v in means.items() if k.startswith(prefix) and not math.isfinite(v)]

    def check_finite(self, step: int) -> dict[str, float]:
        """The graphed update's NaN/Inf guard: it cannot stop at the bad update without a
        sync per update, so callers check the summed losses before every log row and
        checkpoint (eager updates were each checked before their optimiser step). Returns
        the means it read."""
        means = self.means()
        bad = self.nonfinite(means=means)
        if bad:
            names = ", ".join(k.removeprefix("loss_") for k in bad)
            raise NonFiniteLossError(f"non-finite {names} loss in an update before step {step} "
                                     "(graphed updates are checked at each log row and "
                                     "checkpoint)")
        return means


def floats(logs: dict[str, torch.Tensor | float]) -> dict[str, float]:
    """One update's metrics as Python floats (a sync per tensor: for tests and tools)."""
    return {k: float(v) for k, v in logs.items()}
