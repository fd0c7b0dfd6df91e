"""The official HarmonyDream code, imported at test time to run beside ours.

Where it comes from: `$HD_OFFICIAL` (a clone of github.com/thuml/HarmonyDream, commit 0a22e33),
else `../shared/official/HarmonyDream` beside this checkout. Nothing of it is copied into the
project; tests that need it skip with one line saying how to get it.

The official DreamerV2 (wmlib-torch) needs no env package for its model: `wmlib.envs` is
stubbed before import. It needs `ruamel.yaml`, `torchtyping` and `typeguard<3` (test extras).

`Noise` feeds both codes the same sampling noise by replacing only their noise sources:
  - categorical latents: the official code draws through torch's Categorical.sample
    (multinomial), ours through agents/nets/categorical.py `uniform_like`; both become the
    exponential race argmax(p / E), E = -log(u), on the same u;
  - the actor's truncated Normal: the official rsample's `uniform_(eps, 1 - eps)` and ours
    (agents/dreamerv2/truncated_normal.py `uniform`) get the same p.
Each draw is assigned a stream by where it happens (posterior, prior in imagination, action),
found from the call stack, because the two codes draw in different orders: the official
observe also samples every prior latent (and throws the samples away), ours does not.
"""

from __future__ import annotations

import os
import pathlib
import sys
import types
import zlib

import pytest
import torch

HERE = pathlib.Path(__file__).resolve().parent
HOW = ("official HarmonyDream code not found: clone github.com/thuml/HarmonyDream (commit "
       "0a22e33) and set HD_OFFICIAL to it")


def official_root(marker: str = "wmlib-torch/wmlib") -> pathlib.Path | None:
    """The official code's folder ($HD_OFFICIAL, else ../shared's), if it holds `marker`."""
    for root in (os.environ.get("HD_OFFICIAL"), HERE.parents[2] / "shared/official/HarmonyDream"):
        if root and (pathlib.Path(root) / marker).exists():
            return pathlib.Path(root)
    return None


def import_wmlib() -> types.SimpleNamespace:
    """The official wmlib package (skips the calling test where it cannot be imported)."""
    root = official_root()
    if root is None:
        pytest.skip(HOW)
    for name in ("ruamel.yaml", "torchtyping", "typeguard"):
        pytest.importorskip(name, reason=f"{name} missing: pip install -e '.[test]'")
    torch_root = str(root / "wmlib-torch")
    if "wmlib" not in sys.modules:
        stub = types.ModuleType("wmlib.envs")  # the model needs none of the env packages
        sys.modules["wmlib.envs"] = stub
        sys.path.insert(0, torch_root)
    import ruamel.yaml as yaml
    import wmlib
    import wmlib.agents
    import wmlib.core.dists
    import wmlib.utils

    configs = yaml.YAML(typ="safe", pure=True).load(
        (root / "wmlib-torch/configs/dreamerv2.yaml").read_text())
    return types.SimpleNamespace(wmlib=wmlib, agents=wmlib.agents, utils=wmlib.utils,
                                 dists=wmlib.core.dists, configs=configs)


class Box:
    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape


def official_config(off, name: str, updates: dict | None = None):
    """defaults + the named config (metaworld | dmc_vision) + updates, fp32."""
    config = off.utils.Config(off.configs["defaults"]).update(off.configs[name])
    return config.update({"precision": 32, **(updates or {})})


def official_agent(off, config, action_dim: int):
    """The official DreamerV2 agent with its optimisers, built as its train script builds it
    (its layers are created by one dummy forward pass inside the constructor)."""
    size = tuple(config.render_size)
    obs_space = {"image": Box((*size, 3)), "reward": Box(()), "is_first": Box(()),
                 "is_last": Box(()), "is_terminal": Box(())}
    agent = off.agents.DreamerV2(config, obs_space, {"action": Box((action_dim,))},
                                 off.utils.Counter(0))
    agent.init_optimizers()
    return agent


def parameter_map(layers: int) -> dict[str, str]:
    """Official parameter name -> ours (module prefixes; `.weight` / `.bias` appended)."""
    names = {
        "wm.rssm._cell._layer": "wm.rssm.gru.linear",
        "wm.rssm._cell._norm": "wm.rssm.gru.norm",
        "wm.rssm.img_in": "wm.rssm.img_in.0",
        "wm.rssm.img_out_0": "wm.rssm.prior_head.0",
        "wm.rssm.img_dist_0": "wm.rssm.prior_head.2",
        "wm.rssm.obs_out": "wm.rssm.post_head.0",
        "wm.rssm.obs_dist": "wm.rssm.post_head.2",
        "wm.heads.decoder.convin": "wm.decoder.linear",
        "_task_behavior.actor.out.out": "behaviour.actor.mean",
        "_task_behavior.actor.out.std": "behaviour.actor.std",
    }
    for i in range(4):
        names[f"wm.encoder.conv{i}"] = f"wm.encoder.net.{2 * i}"
        names[f"wm.heads.decoder.conv{i}"] = f"wm.decoder.net.{2 * i}"
    for i in range(layers):
        names[f"_task_behavior.actor.dense{i}"] = f"behaviour.actor.net.{2 * i}"
    mlps = {"wm.heads.reward": "wm.reward", "_task_behavior.critic": "behaviour.critic",
            "_task_behavior._target_critic": "behaviour.target"}
    for theirs, ours in mlps.items():
        for i in range(layers):
            names[f"{theirs}.dense{i}"] = f"{ours}.{2 * i}"
        names[f"{theirs}.out.out"] = f"{ours}.{2 * layers}"
    full = {f"{k}.{p}": f"{v}.{p}" for k, v in names.items() for p in ("weight", "bias")}
    # HarmonyDream's s_i: s1 weighs the reward loss, s2 the image loss, s3 the KL.
    full.update({"wm.harmony_s1": "wm.weighting.s.rew", "wm.harmony_s2": "wm.weighting.s.obs",
                 "wm.harmony_s3": "wm.weighting.s.dyn"})
    return full


def matched_parameters(official, ours, layers: int) -> dict[str, tuple]:
    """Official name -> (official parameter, our parameter); fails on any parameter of
    either model without a counterpart of the same shape."""
    theirs = dict(official.named_parameters())
    mine = dict(ours.named_parameters())
    names = {k: v for k, v in parameter_map(layers).items() if k in theirs}
    unmatched = sorted(set(theirs) - set(names))
    assert not unmatched, f"official parameters without a counterpart: {unmatched}"
    missing = sorted(v for v in names.values() if v not in mine)
    assert not missing, f"mapped names absent from ours: {missing}"
    extra = sorted(set(mine) - set(names.values()))
    assert not extra, f"our parameters without an official counterpart: {extra}"
    pairs = {k: (theirs[k], mine[v]) for k, v in names.items()}
    for k, (a, b) in pairs.items():
        assert a.shape == b.shape, f"{k}: official {tuple(a.shape)}, ours {tuple(b.shape)}"
    return pairs


_SITES = {"obs_step": "obs", "observe": "obs", "img_step": "img", "imagine": "imagine",
          "policy": "act", "_act": "act"}


def call_path(names: dict[str, str], depth: int, skip: int = 3) -> list[str]:
    """The first `depth` of `names`' values met walking out from the caller's caller (each
    repeated run of one value counted once): where in the code a draw happens."""
    frame, where = sys._getframe(skip), []
    while frame is not None and len(where) < depth:
        name = names.get(frame.f_code.co_name)
        if name and (not where or where[-1] != name):
            where.append(name)
        frame = frame.f_back
    return where


def _site(kind: str) -> str:
    """Which stream a draw belongs to, from the functions that lead to it."""
    where = call_path(_SITES, 2)
    if not where:
        return f"{kind} elsewhere"
    if where[:2] == ["img", "obs"]:
        return "discarded prior"  # the official observe's prior samples: never used
    if where[0] == "img":
        where = where[1:]
    return f"{kind} in {where[0] if where else '?'}"


class Noise:
    """Streams of U(0, 1) noise, one per draw site, seeded; `reset` restarts them all."""

    def __init__(self, seed: int = 0):
        self.seed, self.streams = seed, {}
        self.sites: list[str] = []

    def reset(self) -> None:
        self.streams, self.sites = {}, []

    def uniform(self, kind: str, shape, like: torch.Tensor) -> torch.Tensor:
        site = _site(kind)
        self.sites.append(site)
        if site not in self.streams:
            gen = torch.Generator().manual_seed(self.seed * 7919 + zlib.crc32(site.encode()))
            self.streams[site] = gen
        return torch.rand(torch.Size(shape), generator=self.streams[site]).to(like)

    def patch(self, monkeypatch, off) -> None:
        """Replace both codes' noise sources (and nothing else) with these streams."""
        import agents.dreamerv2.truncated_normal as ours_tn
        import agents.nets.categorical

        def categorical_sample(dist, sample_shape=()):  # the official latents
            probs = dist.probs.expand(torch.Size(sample_shape) + dist.probs.shape)
            return (probs / -self.uniform("latent", probs.shape, probs).log()).argmax(-1)

        def official_rsample(dist, sample_shape=()):  # the official actor
            shape = dist._extended_shape(torch.Size(sample_shape))
            low, high = dist._dtype_min_gt_0, dist._dtype_max_lt_1
            p = low + (high - low) * self.uniform("action", shape, dist.a)
            return dist.icdf(p)

        monkeypatch.setattr(torch.distributions.Categorical, "sample", categorical_sample)
        monkeypatch.setattr(off.dists.TruncatedStandardNormal, "rsample", official_rsample)
        monkeypatch.setattr(agents.nets.categorical, "uniform_like",
                            lambda t: self.uniform("latent", t.shape, t))
        monkeypatch.setattr(
            ours_tn, "uniform",
            lambda shape, low, high, like: low + (high - low) * self.uniform("action", shape,
                                                                             like))
