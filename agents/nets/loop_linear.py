"""A linear layer applied at every step of a recurrent loop, with one weight gradient.

Autograd gives a weight used at T steps T weight-sized gradients, each the outer product of a
small batch (16 sequences in the paper's observe loop: a 16-row product writing a 3072 x 2048
matrix), written in full and summed one by one. On a CPU that is memory-bound and a large
part of the loop's backward; on a GPU it is 2T extra kernels. `LoopLinear` keeps each step's
input and output gradient instead, and the weight's own autograd node, which runs only after
every step's backward, turns them into the gradient with one product over all steps: the same
sum (tests/algorithm/test_networks.py checks it against plain autograd), as one large, efficient
matmul. It works with .backward() and torch.autograd.grad alike, on weight slices, and for
several calls on one graph (retain_graph=True): the kept entries belong to one backward pass
(autograd's graph task id), so those of a pass that never ran the weight's node (a gradient of
the inputs only) are dropped, not counted in a later one.

Under autocast the weight is cast once per loop, not once per step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class LoopLinear:
    """y = x W^T + b at every step of one loop (build a new one for each forward pass)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None):
        self.xs: list[torch.Tensor] = []
        self.dys: list[torch.Tensor] = []
        self.task = -1  # the backward pass (graph task id) xs and dys were collected in
        w = weight
        if w.requires_grad and torch.is_grad_enabled():
            w = _Collect.apply(w, self)
        device = w.device.type
        if torch.is_autocast_enabled(device):
            w = w.to(torch.get_autocast_dtype(device))
        self.weight, self.bias = w, bias

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        y = _Step.apply(x, self.weight, self)
        return y if self.bias is None else y + self.bias.to(y.dtype)


class _Step(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, loop: LoopLinear):
        ctx.loop = loop
        ctx.save_for_backward(x, weight)
        with torch.autocast(x.device.type, enabled=False):  # the weight is already cast
            return F.linear(x.to(weight.dtype), weight)

    @staticmethod
    def backward(ctx, dy):
        x, weight = ctx.saved_tensors
        dx = None
        if ctx.needs_input_grad[0]:
            dx = (dy.to(weight.dtype) @ weight).to(x.dtype)
        if ctx.needs_input_grad[1]:  # kept for _Collect; the weight's gradient is theirs
            loop, task = ctx.loop, torch._C._current_graph_task_id()
            if loop.task != task:  # a new pass: drop what an earlier one left unconsumed
                loop.xs, loop.dys, loop.task = [], [], task
            loop.xs.append(x.reshape(-1, x.shape[-1]))
            loop.dys.append(dy.reshape(-1, dy.shape[-1]))
        return dx, None, None


class _Collect(torch.autograd.Function):
    """Identity on the weight; its backward runs after every step's (autograd waits for all
    the uses of its output) and returns the summed gradient."""

    @staticmethod
    def forward(ctx, weight, loop: LoopLinear):
        ctx.loop, ctx.dtype = loop, weight.dtype
        ctx.set_materialize_grads(False)  # the steps send none: no weight-sized zeros
        return weight.view_as(weight)

    @staticmethod
    def backward(ctx, grad):
        loop = ctx.loop
        if loop.task != torch._C._current_graph_task_id():  # no step sent one in this pass
            loop.xs, loop.dys = [], []
        if not loop.dys:
            return grad, None
        dy = torch.cat(loop.dys)
        x = torch.cat(loop.xs).to(dy.dtype)
        loop.xs, loop.dys = [], []
        total = (dy.t() @ x).to(ctx.dtype)
        return total if grad is None else grad + total, None
