"""Where a CPU update's time goes (`agents.bench --breakdown`): convolutions, matrix multiplies
and everything else (element-wise ops, activations, copies, the optimiser: many small calls),
each with its share of the time and, for the first two, its fraction of the matmul peak.

Times are torch.profiler's self CPU times over `reps` updates (the profiler adds a few
microseconds per call, so `other` reads a little high); FLOPs are FlopCounterMode's
(`flop_counts`, which every update row of agents.bench uses for its TFLOP/s).
"""

from __future__ import annotations

import torch

CONV = ("aten::convolution", "aten::_convolution", "aten::mkldnn_convolution",
        "aten::convolution_backward")
MATMUL = ("aten::mm", "aten::addmm", "aten::bmm")


def full_update(agent, data: dict[str, torch.Tensor]) -> None:
    _, post = agent.update_world_model(data)
    agent.update_behaviour(post)


def flop_counts(agent, batch) -> dict[str, float]:
    """FLOPs of one full update (world model + behaviour) by aten op, as torch counts them."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        full_update(agent, agent.to_torch(batch))
    return {str(k): float(v) for k, v in counter.get_flop_counts()["Global"].items()}


def breakdown(agent, batch, reps: int, peak: float, flops: dict[str, float]
              ) -> dict[str, float]:
    """conv/matmul/other seconds per update, their shares, the first two's fractions of
    `peak` (TFLOP/s) and the calls per update of each; `flops`: `flop_counts`'s."""
    from torch.profiler import ProfilerActivity, profile

    data = agent.to_torch(batch)
    conv_flops = sum(v for k, v in flops.items() if "convolution" in k)
    flop = {"conv": conv_flops, "matmul": sum(flops.values()) - conv_flops}
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(reps):
            full_update(agent, data)
    groups = {"conv": CONV, "matmul": MATMUL}
    seconds = dict.fromkeys(("conv", "matmul", "other"), 0.0)
    calls = dict.fromkeys(seconds, 0.0)
    for event in prof.key_averages():
        group = next((g for g, keys in groups.items() if event.key in keys), "other")
        seconds[group] += event.self_cpu_time_total / 1e6 / reps
        calls[group] += event.count / reps
    total = sum(seconds.values())
    out = {}
    for group, s in seconds.items():
        out[f"{group}_s"] = s
        out[f"{group}_share"] = s / total
        out[f"{group}_calls"] = calls[group]
        if group in flop:
            out[f"{group}_peak_fraction"] = flop[group] / s / 1e12 / peak
    return out
