"""What every agent family shares: the device, Adam optimisers with global-norm clipping,
mixed precision, the non-finite loss guard, image preprocessing and checkpoint state.

A family's Agent (agents/dreamerv2, agents/dreamerv3) subclasses `Learner`, builds its
modules, registers its optimisers in `self.opt` and implements `update` and `act`.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn


class NonFiniteLossError(RuntimeError):
    pass


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device=cuda but no CUDA device is available")
    return torch.device(name)


def adam(params, lr: float, eps: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    # foreach: one fused kernel launch per parameter group instead of one per tensor.
    return torch.optim.AdamW(params, lr=lr, eps=eps, weight_decay=weight_decay, foreach=True)


def preprocess(image: torch.Tensor) -> torch.Tensor:
    """uint8 [..., H, W, 3] -> float [..., 3, H, W] in [-0.5, 0.5]."""
    return image.permute(*range(image.dim() - 3), -1, -3, -2).float() / 255.0 - 0.5


def check_finite(losses: dict[str, torch.Tensor], step: int) -> None:
    """Stop on the first NaN/Inf loss, naming it (one sync per update, by design)."""
    for name, value in losses.items():
        if not torch.isfinite(value):
            raise NonFiniteLossError(
                f"non-finite {name} loss ({float(value.detach())}) at step {step}")


class Learner(nn.Module):
    def __init__(self, precision: str, device: torch.device):
        super().__init__()
        self.device = device
        self.opt: dict[str, torch.optim.Optimizer] = {}
        # Mixed precision: autocast on either device (bf16 uses AMX / tensor cores where the
        # hardware has them); fp16 needs CUDA and a gradient scaler.
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        if self.amp_dtype == torch.float16 and device.type != "cuda":
            raise ValueError("train.precision=fp16 needs CUDA; use bf16 on the CPU")
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.updates = 0

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def step(self, name: str, loss: torch.Tensor, params, clip: float) -> float:
        """One optimiser step on `loss` with global-norm clipping; returns the norm."""
        opt = self.opt[name]
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(opt)
        norm = nn.utils.clip_grad_norm_(params, clip)
        self.scaler.step(opt)
        return float(norm)

    def to_torch(self, batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        out = {k: torch.as_tensor(v, device=self.device) for k, v in batch.items()}
        for k in ("action", "reward", "state", "terminal"):
            if k in out:
                out[k] = out[k].float()
        return out

    def checkpoint_state(self) -> dict:
        return {"modules": self.state_dict(),
                "opt": {k: o.state_dict() for k, o in self.opt.items()},
                "scaler": self.scaler.state_dict(), "updates": self.updates}

    def load_checkpoint_state(self, state: dict) -> None:
        self.load_state_dict(state["modules"])
        for k, o in self.opt.items():
            o.load_state_dict(state["opt"][k])
        self.scaler.load_state_dict(state["scaler"])
        self.updates = state["updates"]
