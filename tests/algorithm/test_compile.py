"""train.compile: the compiled loss functions compute the eager ones' maths, up to rounding.

Two agents from the same seed take the same updates on the same batch, one eager and one
compiled (inductor, on the CPU); their logged losses and their parameters must agree within
`RTOL` of each quantity's scale (docs/equivalence.md says why that bound). The check is
shown to fail on a real error: an eager agent with one encoder weight changed by 1e-3.
The first compiled update compiles (about a minute per family on 2 cores, cold cache).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.bench import fake_batch
from agents.config import ConfigError, make_config
from agents.config.identity import identity
from agents.config.validation import has_cxx
from agents.families import make_agent

RTOL = (5e-6, 5e-5)  # of each log's / parameter tensor's largest magnitude
UPDATES = 2


def relative_differences(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]
                         ) -> dict[str, float]:
    return {k: ((a[k] - b[k]).abs().max() / a[k].abs().max().clamp(min=1e-8)).item()
            for k in a if torch.is_tensor(a[k]) and a[k].is_floating_point()}


def trained(agent, batch) -> tuple[dict, dict]:
    """The logs of `UPDATES` updates (each from its own seed) and the parameters after."""
    logs = {}
    for step in range(UPDATES):
        torch.manual_seed(step)
        for k, v in agent.update(batch).items():
            logs[f"{k}@{step}"] = v
    return logs, {n: p.detach().clone() for n, p in agent.named_parameters()}


@pytest.mark.skipif(not has_cxx(), reason="no C++ compiler for inductor's CPU backend")
@pytest.mark.parametrize("family,task,actions", [("dreamerv2", "metaworld/lever-pull", 4),
                                                 ("dreamerv3", "atari/pong", 6)])
def test_compiled_update_equals_eager_up_to_rounding(family, task, actions):
    sets = [f"model.agent={family}", "train.probe_every=0"]
    cfg = make_config("smoke", task, sets)
    batch = fake_batch(cfg, actions, np.random.default_rng(0))
    agents = {}
    for name, extra in (("eager", []), ("compiled", ["train.compile=true"]),
                        ("perturbed", [])):
        torch.manual_seed(0)
        agents[name] = make_agent(make_config("smoke", task, sets + extra), actions,
                                  torch.device("cpu"))
    weight = next(agents["perturbed"].wm.encoder.parameters())
    with torch.no_grad():
        weight[(0,) * weight.dim()] += 1e-3
    runs = {name: trained(agent, batch) for name, agent in agents.items()}

    for i in (0, 1):  # the logs, then the parameters
        compiled = relative_differences(runs["eager"][i], runs["compiled"][i])
        assert max(compiled.values()) < RTOL[i], sorted(compiled.items(), key=lambda kv: -kv[1])[:3]
        perturbed = relative_differences(runs["eager"][i], runs["perturbed"][i])
        assert max(perturbed.values()) > RTOL[i]  # the bound catches a 1e-3 error


def test_compile_is_execution_only_and_refuses_what_it_cannot_fuse():
    plain = make_config("smoke", "metaworld/lever-pull")
    assert identity(plain) == identity(make_config("smoke", "metaworld/lever-pull",
                                                   ["train.compile=true"]))
    with pytest.raises(ConfigError, match="choose one"):
        make_config("smoke", "metaworld/lever-pull",
                    ["train.compile=true", "train.cuda_graphs=true"])
    with pytest.raises(ConfigError, match="train.compile=false"):
        make_config("smoke", "metaworld/lever-pull",
                    ["train.compile=true", "weighting.name=gradnorm"])
