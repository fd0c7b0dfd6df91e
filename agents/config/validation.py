"""Whole-config checks, run before anything starts: every bad value is one ConfigError line."""

from __future__ import annotations

import dataclasses
import math
from importlib.util import find_spec

from agents.config.families import FAMILIES
from agents.config.mixes import parse as parse_mix
from agents.config.schema import (
    DATA_KINDS,
    INIT_SCHEMES,
    LOG_EXTRAS,
    LOG_OUTPUTS,
    PRECISIONS,
    Config,
    ConfigError,
)
from agents.config.weightings import REGISTRY as WEIGHTINGS_REGISTRY
from agents.config.weightings import REQUIRES


def did_you_mean(name: str, choices) -> str:
    """"; did you mean 'x'?" where `name` is a near miss of one of `choices` (case, - for _, a
    typo or two: difflib), else ""."""
    import difflib

    def norm(text: str) -> str:
        return str(text).strip().lower().replace("-", "_")

    by_norm = {norm(c): c for c in choices}
    match = by_norm.get(norm(name))
    if match is None:
        close = difflib.get_close_matches(norm(name), list(by_norm), n=1, cutoff=0.75)
        match = by_norm[close[0]] if close else None
    return f"; did you mean {match!r}?" if match is not None and match != name else ""


def _task_hint(task: str) -> str:
    from agents.envs import known_tasks

    tasks = known_tasks()
    hint = did_you_mean(task, tasks)
    if not hint and "/" not in task:  # a task named without its suite
        full = [t for t in tasks if t.partition("/")[2] == task]
        hint = f"; did you mean {full[0]!r}?" if full else ""
    return hint


def suite_of(task: str) -> str:
    """The suite name of `task` (agents/envs/registry.py), or ConfigError with the task forms
    and a near miss."""
    from agents.envs import SUITES

    suite, _, name = task.partition("/")
    if suite not in SUITES or not name:
        forms = [s.pattern for s in SUITES.values()]
        raise ConfigError(f"bad task {task!r}: expected {', '.join(forms[:-1])} or {forms[-1]}"
                          f"{_task_hint(task)}")
    return suite


def validate(cfg: Config) -> None:
    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise ConfigError(msg)

    from agents.envs import UnknownCameraError, UnknownTaskError, check_camera, check_task

    # Every float finite (inf and nan parse as floats and would pass the range checks below).
    for section in dataclasses.fields(cfg):
        values = getattr(cfg, section.name)
        if not dataclasses.is_dataclass(values):
            continue
        for f in dataclasses.fields(values):
            value = getattr(values, f.name)
            if f.type == "float" and isinstance(value, int | float):
                need(math.isfinite(value),
                     f"{section.name}.{f.name} must be finite, got {value}")
    suite_of(cfg.env.task)
    try:
        check_task(cfg.env.task)
    except UnknownTaskError as exc:
        raise ConfigError(f"{exc}{_task_hint(cfg.env.task)}") from None
    try:
        check_camera(cfg.env.task, cfg.env.camera)
    except UnknownCameraError as exc:
        raise ConfigError(str(exc)) from None
    need(cfg.model.agent in FAMILIES,
         f"unknown agent {cfg.model.agent!r}; choose from {', '.join(FAMILIES)}"
         f"{did_you_mean(cfg.model.agent, FAMILIES)}")
    from agents.envs import SUITES

    suite = SUITES[suite_of(cfg.env.task)]
    if cfg.model.agent not in suite.families:
        acts = [s.prefix for s in SUITES.values() if cfg.model.agent in s.families]
        raise ConfigError(f"{suite.prefix} tasks have {suite.actions} actions: use the "
                          f"{suite.families[0]} agent (--agent {suite.families[0]}); the "
                          f"{cfg.model.agent} agent here acts in {', '.join(acts) or 'no'} tasks")
    need(0 < cfg.behaviour.target_fraction <= 1, "behaviour.target_fraction must be in (0, 1]")
    need(0 <= cfg.behaviour.retnorm_low < cfg.behaviour.retnorm_high <= 100,
         "behaviour.retnorm_low/high must satisfy 0 <= low < high <= 100")
    need(cfg.model.bins >= 3 and cfg.model.bins % 2 == 1, "model.bins must be odd and >= 3")
    need(cfg.model.init in INIT_SCHEMES,
         f"model.init must be one of {', '.join(INIT_SCHEMES)}")
    name = cfg.weighting.name
    need(name in WEIGHTINGS_REGISTRY, f"unknown weighting {name!r}; choose from "
         f"{', '.join(WEIGHTINGS_REGISTRY)}{did_you_mean(name, WEIGHTINGS_REGISTRY)}")
    for name in ("w_o", "w_r", "w_d"):
        need(getattr(cfg.weighting, name) >= 0, f"weighting.{name} must be >= 0")
    check_weighting(cfg)
    positive = {
        "env.image_size": cfg.env.image_size, "env.action_repeat": cfg.env.action_repeat,
        "env.episode_length": cfg.env.episode_length, "replay.seq_len": cfg.replay.seq_len,
        "env.num_envs": cfg.env.num_envs,
        "replay.batch_size": cfg.replay.batch_size, "replay.capacity": cfg.replay.capacity,
        "model.deter": cfg.model.deter, "model.hidden": cfg.model.hidden,
        "model.stoch": cfg.model.stoch, "model.classes": cfg.model.classes,
        "model.depth": cfg.model.depth, "model.mlp_units": cfg.model.mlp_units,
        "model.lr": cfg.model.lr, "behaviour.horizon": cfg.behaviour.horizon,
        "behaviour.actor_lr": cfg.behaviour.actor_lr,
        "behaviour.critic_lr": cfg.behaviour.critic_lr,
        "train.steps": cfg.train.steps, "train.train_every": cfg.train.train_every,
        "train.eval_every": cfg.train.eval_every, "train.eval_episodes": cfg.train.eval_episodes,
        "train.log_every": cfg.train.log_every,
        "train.checkpoint_every": cfg.train.checkpoint_every,
        "behaviour.target_every": cfg.behaviour.target_every,
    }
    for key, value in positive.items():
        need(value > 0, f"{key} must be > 0, got {value}")
    need(cfg.model.mlp_layers >= 1, "model.mlp_layers must be >= 1")
    need(0 <= cfg.train.seed < 2**32,
         f"train.seed must be in [0, 2^32 - 1] (it seeds numpy, torch and the envs), "
         f"got {cfg.train.seed}")
    need(cfg.train.prefill >= 0 and cfg.train.pretrain >= 0, "train.prefill/pretrain must be >= 0")
    need(cfg.train.probe_every >= 0, f"train.probe_every must be >= 0, got {cfg.train.probe_every}")
    need(0 <= cfg.train.eval_offset < cfg.train.eval_every,
         "train.eval_offset must be in [0, train.eval_every)")
    need(0 < cfg.behaviour.discount <= 1, "behaviour.discount must be in (0, 1]")
    need(0 <= cfg.behaviour.lam <= 1, "behaviour.lam must be in [0, 1]")
    need(0 <= cfg.model.kl_balance <= 1, "model.kl_balance must be in [0, 1]")
    need(cfg.env.render in ("fast", "light", "default"),
         f"env.render must be fast, light or default, got {cfg.env.render!r}")
    need(cfg.train.mode in ("online", "offline"), "train.mode must be online or offline")
    if cfg.train.mode == "online":
        t = cfg.train
        # Updates start at the first env step >= prefill (train.pretrain of them at once),
        # then one every train_every steps: a run that would make none is bad input.
        need(t.prefill <= t.steps,
             f"train.prefill ({t.prefill}) > train.steps ({t.steps}): the run would end "
             "during prefill, with no update; lower train.prefill or raise train.steps")
        step = cfg.env.num_envs * cfg.env.action_repeat  # env steps per step of the pool
        need(t.chunk >= 0, f"train.chunk must be >= 0, got {t.chunk}")
        need(t.chunk % step == 0, f"train.chunk ({t.chunk}) must be a multiple of "
             f"env.num_envs x env.action_repeat ({step})")
        need(t.pretrain > 0 or t.steps - t.prefill >= t.train_every,
             f"train.steps - train.prefill ({t.steps - t.prefill}) < train.train_every "
             f"({t.train_every}) with train.pretrain=0: the run would make no update")
    if cfg.train.mode == "offline":
        o = cfg.offline
        offline = [name for name, family in FAMILIES.items() if family.offline]
        need(FAMILIES[cfg.model.agent].offline,
             f"train.mode=offline runs the {' or '.join(offline)} agent")
        need(cfg.env.task.startswith("metaworld/"),
             "train.mode=offline needs a Meta-world task (its scripted experts make the data)")
        need(0 < o.heldout < o.episodes, "offline.heldout must be in (0, offline.episodes)")
        need(o.updates > 0 and o.eval_every > 0, "offline.updates and eval_every must be > 0")
        need(len(o.noise_pct) > 0 and min(o.noise_pct) >= 0,
             "offline.noise_pct must be non-negative levels")
        need(o.data in DATA_KINDS, f"offline.data must be one of {', '.join(DATA_KINDS)}, got "
             f"{o.data!r}")
        if o.data == "replay_like":
            try:
                parse_mix(o.mix)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        need(0 < o.context < cfg.env.episode_length, "offline.context must be in (0, episode)")
        need(o.horizon_every > 0, "offline.horizon_every must be > 0")
        need(cfg.behaviour.horizon < cfg.env.episode_length,
             "behaviour.horizon must be shorter than an episode")
    need(cfg.train.device in ("auto", "cpu", "cuda"), "train.device must be auto, cpu or cuda")
    need(cfg.train.precision in PRECISIONS,
         f"train.precision must be one of {', '.join(PRECISIONS)}")
    need(not (cfg.train.cuda_graphs and cfg.train.precision in ("fp16", "auto")),
         "train.cuda_graphs needs fp32 or bf16 (fp16's gradient scaler syncs every step)")
    need(not cfg.train.compile or cfg.train.device == "cuda" or has_cxx(),
         "train.compile on a CPU needs a C++ compiler (inductor builds its kernels with one): "
         "install g++, or set CXX")
    need(not (cfg.train.compile and cfg.train.cuda_graphs),
         "train.compile and train.cuda_graphs are two ways to fuse the update: choose one")
    check_outputs(cfg.log.outputs)
    need(cfg.log.video_every >= 0, f"log.video_every must be >= 0 (0: no videos), got "
         f"{cfg.log.video_every}")
    need(cfg.log.video_context >= 1, f"log.video_context must be >= 1, got "
         f"{cfg.log.video_context}")
    need(cfg.log.video_max_frames > cfg.log.video_context, "log.video_max_frames must be > "
         f"log.video_context ({cfg.log.video_context}), got {cfg.log.video_max_frames}")
    need(len(cfg.model.enc_kernels) >= 1 and len(cfg.model.dec_kernels) >= 1,
         "model.enc_kernels and model.dec_kernels must not be empty")
    need(cfg.env.episode_length % cfg.env.action_repeat == 0,
         "env.episode_length must be a multiple of env.action_repeat")
    need(cfg.replay.seq_len <= cfg.env.episode_length // cfg.env.action_repeat + 1,
         "replay.seq_len is longer than an episode")
    check = FAMILIES[cfg.model.agent].check  # its own: image sizes its networks produce
    if check is not None:
        check(cfg)


def has_cxx() -> bool:
    """Whether inductor's CPU backend can find a C++ compiler ($CXX, g++ or clang++)."""
    import os
    import shutil

    return any(shutil.which(c) for c in (os.environ.get("CXX", ""), "g++", "clang++") if c)


def check_weighting(cfg: Config) -> None:
    """The arena's parameters, and what a weighting with host-side state cannot run with."""
    w, info = cfg.weighting, WEIGHTINGS_REGISTRY[cfg.weighting.name]
    if w.gradnorm_alpha < 0:
        raise ConfigError("weighting.gradnorm_alpha must be >= 0")
    for name in ("gradnorm_lr", "dwa_temperature", "cagrad_c"):
        if getattr(w, name) <= 0:
            raise ConfigError(f"weighting.{name} must be > 0")
    if w.dwa_window < 1:
        raise ConfigError("weighting.dwa_window must be >= 1 (world-model updates per window)")
    kind = "aggregates gradients with torchjd" if info.aggregates else "updates its own state"
    for fuse in ("cuda_graphs", "compile"):  # each fuses the update into fixed kernels
        if getattr(cfg.train, fuse) and not info.graphs_ok:
            raise ConfigError(f"weighting {w.name} {kind} on the host every update: it cannot "
                              f"run with train.{fuse} (set train.{fuse}=false)")
    if info.aggregates:
        missing = [m for m in REQUIRES.get(w.name, ("torchjd",)) if find_spec(m) is None]
        if missing:
            raise ConfigError(f"weighting {w.name} needs {', '.join(missing)}, not installed: "
                              'pip install -e ".[arena]"')
    if info.aggregates and cfg.train.precision == "fp16":
        raise ConfigError(f"weighting {w.name} aggregates unscaled per-loss gradients: it "
                          "needs train.precision fp32 or bf16, not fp16's gradient scaler")


def check_outputs(outputs) -> None:
    """log.outputs: known names, and each extra installed (found, not imported: importing
    wandb takes a second, and study.run validates every run of a grid)."""
    import importlib.util

    for name in outputs:
        if name not in LOG_OUTPUTS:
            raise ConfigError(f"unknown log output {name!r} in log.outputs; choose from "
                              f"{', '.join(LOG_OUTPUTS)}{did_you_mean(name, LOG_OUTPUTS)}")
        if name in LOG_EXTRAS:
            module, extra = LOG_EXTRAS[name]
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                raise ConfigError(f"log.outputs asks for {name}, which is not installed: "
                                  f"pip install 'harmonydream-repro[{extra}]'")
