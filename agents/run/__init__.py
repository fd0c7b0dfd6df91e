"""The machinery that runs an agent: the online loop, the offline diagnostics, the run
directory and its resume, checkpoints, logging, status, outputs and videos; it hands on the
CLI helpers of agents/cli.py.

The names below are its front door, what `study/` and `analyses/` import (tests/test_layout.py
holds them to it). The torch-bound ones load on first use, so `study.run` starts without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from agents.cli import Parser, path_arg, positive_int
from agents.parent_death import die_with_parent
from agents.run.lock import RunBusyError, RunFinishedError, holder, run_lock
from agents.run.logger import parse_row
from agents.run.session import resolve_device, stop_on_signals
from agents.run.status import describe, last_eval, read_status, repair, write_status

_TORCH_BOUND = {
    "load_checkpoint": ("agents.run.checkpoint", "load"),
    "snapshot_path": ("agents.run.offline", "snapshot_path"),
    "heldout_metrics": ("agents.run.offline", "heldout_metrics"),
}

__all__ = ["Parser", "path_arg", "positive_int", "RunBusyError", "RunFinishedError", "holder",
           "run_lock", "parse_row", "die_with_parent", "resolve_device",
           "stop_on_signals", "describe", "last_eval", "read_status", "repair", "write_status",
           *_TORCH_BOUND]


def __getattr__(name: str) -> Any:
    if name in _TORCH_BOUND:
        module, attr = _TORCH_BOUND[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
