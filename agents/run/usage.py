"""What a run costs over one log window: throughput split into acting and training, memory and
CPU, as the peers log them (danijar's `fps/policy`, `fps/train`, `usage/`; sheeprl's
`Time/sps_env_interaction`, `Time/sps_train`).

Columns of a train row (dashboard names in agents/run/outputs.py GROUPS):

- `fps_window`: env steps per wall-clock second over the window (online runs);
- `fps_policy`: env steps per second of the time not spent in updates (stepping the envs,
  acting, replay; online runs);
- `fps_train`: updates per second of update time. On CUDA an update returns once its kernels
  are queued, so this counts the launch time until the queue fills;
- `usage_rss_gb`: the training process's resident memory now; `usage_rss_peak_gb` its peak;
- `usage_cpu_percent`: the training process's CPU time over the window's wall time (100 = one
  core busy; env workers are processes of their own and not counted);
- `usage_gpu_mem_gb`, `usage_gpu_mem_peak_gb`: CUDA memory allocated now and at the window's
  peak, on a GPU only.

Read from the standard library (/proc on Linux, `resource` elsewhere) and torch.cuda: no
extra dependency.
"""

from __future__ import annotations

import contextlib
import os
import resource
import sys
import time
from collections.abc import Iterator

GB = 1024**3
clock = time.perf_counter  # wall time (a name of its own: tests drive it)


def rss_bytes() -> int:
    """The process's resident memory now (Linux: /proc/self/statm), else its peak."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return peak_rss_bytes()


def peak_rss_bytes() -> int:
    """The process's peak resident memory (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def cpu_seconds() -> float:
    """User + system CPU time of this process, all its threads."""
    t = os.times()
    return t.user + t.system


def is_timing(column: str) -> bool:
    """Whether a train row's column measures the machine, not the run (fps, fps_*, usage_*):
    what two runs that compute the same things may differ in."""
    return column == "fps" or column.startswith(("fps_", "usage_"))


class Window:
    """Throughput and usage since the last `row()` (one log window). Wrap each update in
    `with window.update():`; `row(steps, updates)` takes the run's counters now."""

    def __init__(self, device=None, steps: int = 0, updates: int = 0):
        self.cuda = device is not None and getattr(device, "type", device) == "cuda"
        self._start(steps, updates)

    def _start(self, steps: int, updates: int) -> None:
        self._wall, self._cpu = clock(), cpu_seconds()
        self._steps, self._updates, self._update_time = steps, updates, 0.0
        if self.cuda:
            import torch

            torch.cuda.reset_peak_memory_stats()

    @contextlib.contextmanager
    def update(self) -> Iterator[None]:
        start = clock()
        try:
            yield
        finally:
            self._update_time += clock() - start

    def row(self, steps: int | None, updates: int) -> dict[str, float]:
        """The window's columns (module doc), then a new window starts. `steps`: env steps so
        far (None for offline runs, which have no environment)."""
        wall = max(clock() - self._wall, 1e-9)
        cpu = cpu_seconds() - self._cpu
        out: dict[str, float] = {}
        if steps is not None:
            acting = max(wall - self._update_time, 1e-9)
            out["fps_window"] = round((steps - self._steps) / wall, 3)
            out["fps_policy"] = round((steps - self._steps) / acting, 3)
        done = updates - self._updates
        out["fps_train"] = round(done / self._update_time, 3) if self._update_time > 0 else 0.0
        out["usage_rss_gb"] = round(rss_bytes() / GB, 3)
        out["usage_rss_peak_gb"] = round(peak_rss_bytes() / GB, 3)
        out["usage_cpu_percent"] = round(100.0 * cpu / wall, 1)
        if self.cuda:
            import torch

            out["usage_gpu_mem_gb"] = round(torch.cuda.memory_allocated() / GB, 3)
            out["usage_gpu_mem_peak_gb"] = round(torch.cuda.max_memory_allocated() / GB, 3)
        self._start(steps or 0, updates)
        return out
