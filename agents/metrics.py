"""Training metrics summed on the device, read back once per log interval.

An update's metrics are 0-dim tensors on the training device (and a few Python floats, such
as fixed loss weights). Turning each into a float is a host sync per metric per update, which
on a GPU stalls the launch queue and makes CUDA-graph replay pointless; `Metrics` stacks them
into one running sum per metric name set and copies it to the host only in `means()`.
"""

from __future__ import annotations

import math

import torch

from agents.learner import NonFiniteLossError


class Metrics:
    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self._names: tuple[str, ...] = ()
        self._sum: torch.Tensor | None = None
        self._floats: dict[str, float] = {}
        self.count = 0

    def add(self, logs: dict[str, torch.Tensor | float]) -> None:
        names = tuple(k for k, v in logs.items() if isinstance(v, torch.Tensor))
        values = torch.stack([logs[k].detach().float().reshape(()) for k in names])
        if self._sum is None:
            self._names, self._sum = names, torch.zeros_like(values)
        elif names != self._names:
            raise ValueError(f"metrics changed from {self._names} to {names}")
        self._sum += values
        for k, v in logs.items():
            if not isinstance(v, torch.Tensor):
                self._floats[k] = self._floats.get(k, 0.0) + float(v)
        self.count += 1

    def means(self) -> dict[str, float]:
        """Mean of every metric since the last reset (one device-to-host copy)."""
        if not self.count:
            return {}
        out = dict(zip(self._names, (self._sum / self.count).tolist(), strict=True))
        out.update({k: v / self.count for k, v in self._floats.items()})
        return out

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
