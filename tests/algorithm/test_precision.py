"""train.precision: "auto" is fp16 on CUDA and fp32 elsewhere; a low precision the CPU has no
units for warns in one line; fp16 keeps a gradient scaler per optimiser, in the checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.bench import fake_batch
from agents.config import make_config
from agents.dreamerv2.agent import Agent
from agents.update import precision


def test_auto_is_fp16_on_cuda_and_fp32_elsewhere():
    assert precision.resolve("auto", torch.device("cuda")) == "fp16"
    assert precision.resolve("auto", torch.device("cpu")) == "fp32"
    assert precision.resolve("bf16", torch.device("cuda")) == "bf16"
    assert precision.amp_dtype("auto", torch.device("cpu")) is None


@pytest.mark.parametrize("name,units", [("bf16", "avx512_bf16"), ("fp16", "avx512_fp16")])
def test_a_precision_without_cpu_units_warns_in_one_line(monkeypatch, capsys, name, units):
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "f16c"}))
    precision._warn_once.cache_clear()
    assert precision.amp_dtype(name, torch.device("cpu")) == precision.DTYPES[name]
    precision.amp_dtype(name, torch.device("cpu"))  # once per process
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and units in err and "use fp32" in err
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", units}))
    assert precision.slow_on_cpu(name) is None
    assert precision.slow_on_cpu("fp32") is None


def test_fp16_scalers_are_per_optimiser_and_survive_a_checkpoint():
    cfg = make_config("smoke", "metaworld/lever-pull", ["train.precision=fp16"])
    torch.manual_seed(0)
    agent = Agent(cfg, 4, torch.device("cpu"))
    agent.update(fake_batch(cfg, 4, np.random.default_rng(0)))
    scales = {k: agent.scaler(k).get_scale() for k in agent.opt}
    assert set(scales) == {"model", "actor", "critic"}
    agent.scaler("actor").update(new_scale=8.0)  # the actor's scale alone moves
    state = agent.checkpoint_state()
    fresh = Agent(cfg, 4, torch.device("cpu"))
    fresh.load_checkpoint_state(state)
    assert {k: fresh.scaler(k).get_scale() for k in fresh.opt} == {**scales, "actor": 8.0}
    # A checkpoint from before per-optimiser scalers held one shared scaler.
    old = {k: v for k, v in state.items() if k != "scalers"} | {
        "scaler": state["scalers"]["critic"]}
    fresh.load_checkpoint_state(old)
    assert {fresh.scaler(k).get_scale() for k in fresh.opt} == {scales["critic"]}
