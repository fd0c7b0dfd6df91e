"""A function of fixed-shape tensors, replayed as one CUDA graph.

The paper-shape update is bound by kernel launches, not arithmetic: the 50-step observe loop
and the 15-step imagination launch thousands of small kernels. A CUDA graph records them once
and replays them with one launch. What the recorded function may do follows from that:
- read its inputs only from the tensors it is given (copied into fixed buffers before each
  replay) and return tensors (fixed buffers, overwritten by the next replay);
- never copy to or from the host (no .item(), float(), tensor-valued `if`, torch.tensor of a
  Python list): tests/run/test_graphs.py checks both agent families for this on the CPU;
- keep its optimiser state on the device (Adam with capturable=True).

The first `warmup` calls run eagerly on a side stream, as torch.cuda.graph asks (lazy state
such as Adam's moments and cuBLAS workspaces is created there, outside the graph); the next
call records, and every call replays. Every call is a real call: none is a dry run.

On the CPU there are no graphs; a CapturedStep there runs `fn` eagerly with the same fixed
input and output buffers, so the tests can check on any machine that callers respect them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Tensors = dict[str, torch.Tensor]
WARMUP = 3  # eager calls before recording


class CapturedStep:
    def __init__(self, fn: Callable[[Tensors], Tensors], warmup: int = WARMUP):
        self.fn, self.warmup, self.calls = fn, warmup, 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.inputs: Tensors = {}
        self.outputs: Tensors = {}

    def __call__(self, inputs: Tensors) -> Tensors:
        self.calls += 1
        if not next(iter(inputs.values())).is_cuda:
            return self._static_call(inputs)
        if self.graph is None and self.calls <= self.warmup:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                out = self.fn(inputs)
            torch.cuda.current_stream().wait_stream(side)
            return out
        self._load(inputs)
        if self.graph is None:
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.outputs = self.fn(self.inputs)
        self.graph.replay()  # recording does not run the kernels: the first replay does
        return self.outputs

    def _load(self, inputs: Tensors) -> None:
        """Copy `inputs` into the fixed input buffers (made from the first call's)."""
        if not self.inputs:
            self.inputs = {k: v.clone() for k, v in inputs.items()}
        else:
            for k, v in inputs.items():
                self.inputs[k].copy_(v, non_blocking=True)

    def _static_call(self, inputs: Tensors) -> Tensors:
        """The CPU stand-in: fixed buffers in and out, the function run eagerly."""
        self._load(inputs)
        out = self.fn(self.inputs)
        if not self.outputs:
            self.outputs = out
        else:  # overwritten in place, as a replay overwrites a graph's outputs
            for k, v in out.items():
                if isinstance(v, torch.Tensor):
                    self.outputs[k].copy_(v)
        return self.outputs
