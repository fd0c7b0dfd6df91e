"""agents.bench's update rows report the fraction of the matmul peak they reach, measured in
the same run, in their own precision."""

from __future__ import annotations

import pytest
import torch

from agents.bench import bench_update, matmul_peak


def test_an_update_row_reports_its_fraction_of_the_matmul_peak():
    peaks: dict = {}
    row = bench_update("smoke", [], reps=1, peaks=peaks)
    assert set(peaks) == {torch.float32}  # measured once, in the row's precision
    assert row["peak_tflop_per_s"] == peaks[torch.float32] > 0
    assert row["peak_fraction"] == pytest.approx(row["tflop_per_s"] / row["peak_tflop_per_s"])
    assert 0 < row["peak_fraction"] < 2


def test_the_breakdown_splits_an_update_into_convolutions_matmuls_and_the_rest():
    row = bench_update("smoke", [], reps=1, peaks={torch.float32: 0.1}, split=True)
    shares = [row[f"{g}_share"] for g in ("conv", "matmul", "other")]
    assert sum(shares) == pytest.approx(1.0) and min(shares) > 0
    assert row["conv_calls"] > 0 and row["matmul_calls"] > row["conv_calls"]
    for group in ("conv", "matmul"):
        assert 0 < row[f"{group}_peak_fraction"] < 20  # of the made-up 0.1 TFLOP/s peak
    # the profiled seconds account for the update's time (the profiler adds a little)
    total = row["conv_s"] + row["matmul_s"] + row["other_s"]
    assert 0.5 * row["total_s"] < total < 3 * row["total_s"]


def test_the_peak_is_the_best_size():
    size, peak = matmul_peak(torch.device("cpu"), torch.float32, reps=1)
    assert size in (1024, 2048, 3072, 4096) and peak > 0


def test_the_arena_row_times_every_method_beside_the_plain_update():
    pytest.importorskip("torchjd", reason='the arena extra (pip install -e ".[arena]")')
    from agents.bench import bench_arena
    from agents.config import ARENA_WEIGHTINGS

    tiny = ["model.deter=32", "model.hidden=32", "model.stoch=4", "model.classes=4",
            "model.depth=4", "model.mlp_layers=1", "model.mlp_units=32", "replay.seq_len=8"]
    rows = bench_arena(tiny, reps=1, batch=2)
    assert [r["row"] for r in rows] == [f"arena-{n}" for n in ARENA_WEIGHTINGS]
    assert rows[0]["row"] == "arena-fixed" and rows[0]["vs_plain"] == 1.0
    assert all(r["world_model_s"] > 0 and r["gflop"] > 0 for r in rows)
    assert max(r["flop_vs_plain"] for r in rows) > 1  # an aggregator: a pass per loss
