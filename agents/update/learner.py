"""What every learner shares: the device, Adam optimisers with global-norm clipping, mixed
precision (one gradient scaler per optimiser), the non-finite loss guard, the batch on the
device and checkpoint state (`Learner`, the base of agents/update/dreamer.py's `Dreamer`)."""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

from agents.config import ConfigError
from agents.update.precision import amp_dtype


class NonFiniteLossError(RuntimeError):
    pass


def adam(params, lr: float, eps: float, weight_decay: float = 0.0,
         capturable: bool = False) -> torch.optim.Optimizer:
    """Adam with L2 weight decay added to the gradient before the moments, as the official
    code's torch.optim.Adam(weight_decay=wd) (not AdamW's decoupled decay)."""
    # foreach: one fused kernel launch per parameter group instead of one per tensor;
    # capturable: the step count lives on the device, as a CUDA graph needs.
    return torch.optim.Adam(params, lr=lr, eps=eps, weight_decay=weight_decay, foreach=True,
                            capturable=capturable)


def check_finite(logs: dict[str, torch.Tensor | float], total: torch.Tensor, step: int) -> None:
    """Stop on the first NaN/Inf raw loss (logged as loss_*) or total, naming it (one sync
    per update: the eager path's guard)."""
    losses = {k.removeprefix("loss_"): v for k, v in logs.items() if k.startswith("loss_")}
    for name, value in {**losses, "total world-model": total}.items():
        if not torch.isfinite(torch.as_tensor(value)):
            raise NonFiniteLossError(f"non-finite {name} loss ({float(value)}) at step {step}")


class Learner(nn.Module):
    def __init__(self, precision: str, device: torch.device, graphs: bool = False):
        super().__init__()
        self.device = device
        self.graphs = graphs and device.type == "cuda"  # CUDA graphs: on CUDA only
        self.opt: dict[str, torch.optim.Optimizer] = {}
        # Mixed precision (agents/update/precision.py): autocast on either device; fp16 also
        # scales each optimiser's loss by a GradScaler of its own, as the official code does.
        self.amp_dtype = amp_dtype(precision, device)
        if self.graphs and self.amp_dtype == torch.float16:
            raise ConfigError("train.cuda_graphs needs fp32 or bf16: fp16's gradient scaler "
                              "reads its overflow check on the host every step")
        self.scalers: dict[str, torch.amp.GradScaler] = {}
        self.updates = 0

    def scaler(self, name: str) -> torch.amp.GradScaler:
        """Optimiser `name`'s gradient scaler (PyTorch's defaults, the official settings:
        scale 2^16, x2 after 2,000 finite steps, x0.5 after an overflow); off unless fp16."""
        if name not in self.scalers:
            self.scalers[name] = torch.amp.GradScaler(
                self.device.type, enabled=self.amp_dtype == torch.float16)
        return self.scalers[name]

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        # Autocast's weight-cast cache would hold tensors from outside a graph's memory pool.
        return torch.autocast(self.device.type, dtype=self.amp_dtype,
                              cache_enabled=not self.graphs)

    def step(self, name: str, loss: torch.Tensor, params, clip: float) -> torch.Tensor:
        """One optimiser step on `loss` with global-norm clipping; returns the norm (on the
        device: clip_grad_norm_ scales by min(1, clip / norm) without a host sync)."""
        opt, scaler = self.opt[name], self.scaler(name)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        norm = nn.utils.clip_grad_norm_(params, clip, foreach=True)
        scaler.step(opt)  # skipped where the gradients overflowed
        scaler.update()
        return norm.detach()

    def to_torch(self, batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        """The batch on the device. To a GPU it goes through pinned memory without blocking:
        a copy from pageable memory would make the host wait for every kernel already queued
        (the last update's), so it could not step the envs while the GPU trains."""
        if self.device.type == "cuda":
            out = {k: torch.as_tensor(v).pin_memory().to(self.device, non_blocking=True)
                   for k, v in batch.items()}
        else:
            out = {k: torch.as_tensor(v, device=self.device) for k, v in batch.items()}
        # fp16: the batch's floats in fp16, as the official DreamerV2 feeds its model.
        floats = torch.float16 if self.amp_dtype == torch.float16 else torch.float32
        for k in ("action", "reward", "state", "terminal"):
            if k in out:
                out[k] = out[k].to(torch.float32 if k == "state" else floats)  # state: probes
        return out

    def checkpoint_state(self) -> dict:
        return {"modules": self.state_dict(),
                "opt": {k: o.state_dict() for k, o in self.opt.items()},
                "scalers": {k: self.scaler(k).state_dict() for k in self.opt},
                "updates": self.updates}

    def load_checkpoint_state(self, state: dict) -> None:
        self.load_state_dict(state["modules"])
        for k, o in self.opt.items():
            o.load_state_dict(state["opt"][k])
        for k in self.opt:  # one shared "scaler" in checkpoints written before per-optimiser ones
            self.scaler(k).load_state_dict(state["scalers"][k] if "scalers" in state
                                           else state["scaler"])
        self.updates = state["updates"]
