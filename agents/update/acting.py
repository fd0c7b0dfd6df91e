"""Acting while the GPU trains (`train.overlap`): the weights the acting step reads.

A serial loop alternates: step the envs, launch an update, wait for it, act with the new
weights. With `train.overlap` the acting step reads its own copy of the world model and
behaviour, refreshed just before each update is launched: while update u runs, actions come
from the weights after update u-1. The policy lag is therefore exactly one update (logged as
`policy_lag`), never more, and acting never reads weights an update is writing. The update
ratio is untouched: the same updates at the same env steps on the same batches; only the
weights each action reads are one update older (as in danijar/dreamerv3's parallel runner,
where the lag is bounded but varies with timing; here it is fixed, so a run is as
reproducible as a serial one).

On CUDA the acting step runs on its own stream. The host launches a (graphed) update, which
returns at once, then acts and steps the envs while the GPU trains; a refresh orders itself
after the acts already issued and before the next update, on the GPU, without a host wait.
On the CPU the same computation runs in order, so CPU tests check what a GPU run computes.
"""

from __future__ import annotations

import contextlib
import copy

import torch
from torch import nn


class ActingCopy(nn.Module):
    """A frozen copy of `parts` ({name: module}) that acting reads, and the stream it runs on.
    Registered in the learner, so checkpoints hold it and a resumed run acts as it would
    have."""

    def __init__(self, parts: dict[str, nn.Module], device: torch.device):
        super().__init__()
        self.parts = nn.ModuleDict({k: copy.deepcopy(m) for k, m in parts.items()})
        self.parts.requires_grad_(False)
        self._src = [t for m in parts.values() for t in (*m.parameters(), *m.buffers())]
        self._dst = [t for m in self.parts.values() for t in (*m.parameters(), *m.buffers())]
        self.stream = torch.cuda.Stream(device) if device.type == "cuda" else None
        self.updates = 0  # the learner's update count when the copy was taken

    def __getitem__(self, name: str) -> nn.Module:
        return self.parts[name]

    @torch.no_grad()
    def refresh(self, updates: int) -> None:
        """Copy the live weights in (on CUDA, after every act issued so far, and before any
        act issued from now on)."""
        if self.stream is not None:
            torch.cuda.current_stream().wait_stream(self.stream)
        torch._foreach_copy_(self._dst, self._src)  # one launch, not one per tensor
        if self.stream is not None:
            self.stream.wait_stream(torch.cuda.current_stream())
        self.updates = updates

    def on_stream(self):
        """Where acting runs: its own CUDA stream, or the current one on the CPU."""
        return torch.cuda.stream(self.stream) if self.stream else contextlib.nullcontext()

    def get_extra_state(self) -> dict:
        return {"updates": self.updates}

    def set_extra_state(self, state: dict) -> None:
        self.updates = state["updates"]
