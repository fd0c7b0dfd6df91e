"""Named presets (paper, gpu, quick, smoke) and the per-suite paper configs, and
`make_config`: preset + task + overrides -> a validated Config."""

from __future__ import annotations

from typing import Any

from agents.config.families import FAMILIES
from agents.config.parsing import apply_overrides
from agents.config.schema import Config, ConfigError
from agents.config.validation import suite_of, validate

# --- presets -------------------------------------------------------------------------------
# `paper` is the official DreamerV2 configuration of the HarmonyDream code (Meta-world, with the
# DMC-vision differences applied for dmc/ tasks). `quick` fits a 2-core CPU; `smoke` is for tests.

# The official training script evaluates first when prefill ends (after the pretraining
# updates), then every eval_every steps, and stops after the evaluation at stop_steps or once
# `steps` is passed. Meta-world: evaluations at 5K, 15K, ..., 255K, then stop.
# The official config's nominal `steps` is 256K; its loop stops at stop_steps, 255K.
# Precision: the official `precision: 16` on CUDA (fp16 autocast, a GradScaler per optimiser),
# fp32 on a CPU, where the official script refuses to run (agents/update/precision.py).
PAPER_METAWORLD = {"train.steps": 255_000, "train.eval_offset": 5_000, "train.precision": "auto"}

# The official dmc_vision config (wmlib-torch configs/dreamerv2.yaml; danijar/dreamerv2's, whose
# curves dreamer_check compares with, is the same). Its step counts are agent steps (its counter
# ticks once per policy step, at action repeat 2), ours are frames: prefill 1K agent steps = 2K
# frames, an update every 5 agent steps = every 10 frames, evaluation every 10K agent steps =
# 20K frames from the end of prefill: 2K, 22K, ..., 1,002K frames. Its loop then trains 10K more
# agent steps that no evaluation sees (to 511K > its 502K `steps`); we stop at that last one.
PAPER_DMC = {
    "env.action_repeat": 2,
    "replay.prioritize_ends": False,
    "replay.capacity": 2_000_000,
    "env.episode_length": 1000,
    "replay.batch_size": 16,
    "model.deter": 200,
    "model.hidden": 200,
    "model.free_nats": 1.0,
    "train.steps": 1_002_000,
    "train.prefill": 2_000,
    "train.train_every": 10,
    "train.eval_every": 20_000,
    "train.eval_offset": 2_000,
    "train.precision": "auto",  # as PAPER_METAWORLD
}

# The official `dmc_natural_background` and `dmc_remastered` configs: dmc_vision's, but with the
# default RSSM (deter and hidden 1024; only dmc_vision shrinks it to 200).
PAPER_DMC_DISTRACTED = {k: v for k, v in PAPER_DMC.items()
                        if k not in ("model.deter", "model.hidden")}

# Atari 100K (DreamerV3's protocol): 64 x 64 colour, action repeat 4 (max over the last two
# frames), 108,000-frame episode cap; 101K agent steps (404K frames), one update per agent step
# (train ratio 1024 = batch 16 x 64 per env step), evaluation every 5K agent steps over 100
# episodes. train.steps and train_every count frames, as everywhere in this project.
PAPER_ATARI = {
    "env.action_repeat": 4,
    "env.episode_length": 108_000,
    "env.camera": "none",
    "train.steps": 404_000,
    # The official train_eval script prefills with uniform-random actions in chunks of 100
    # agent steps until the replay holds one batch of windows (16 x 64 = 1,024; a window for
    # every step once 64 exist): 1,100 agent steps = 4,400 frames.
    "train.prefill": 4_400,
    "train.pretrain": 0,
    "train.train_every": 4,
    "train.eval_every": 20_000,
    "train.eval_episodes": 100,
    "train.eval_initial": False,
    "train.chunk": 400,  # 100 agent steps
    "train.log_every": 4_000,
    "train.checkpoint_every": 20_000,
}

# Crafter, the open-world stand-in for Minecraft: the official dreamerv3-jax `crafter` config
# (defaults + crafter): the XL model (deter 4096, CNN depth 96, 5 x 1024 MLPs), train ratio 512
# (batch 16 x 64: one update per 2 agent steps), 1.01M steps, evaluation every 20K over 10
# episodes (eval_initial: the first right after the prefill), float16 (the defaults' JAX
# precision; fp16 autocast here, on CUDA). No action repeat; episodes end at 10,000 steps.
PAPER_CRAFTER = {
    "model.deter": 4096,
    "model.hidden": 1024,
    "model.depth": 96,
    "model.mlp_layers": 5,
    "model.mlp_units": 1024,
    "env.action_repeat": 1,
    "env.episode_length": 10_000,
    "env.camera": "none",
    "train.steps": 1_010_000,
    "train.prefill": 1_100,  # the official fill: 1,024 windows of 64 (as for Atari)
    "train.pretrain": 0,
    "train.train_every": 2,
    "train.eval_every": 20_000,
    "train.eval_episodes": 10,
    "train.eval_initial": True,
    "train.chunk": 100,
    "train.precision": "fp16",
    "train.log_every": 5_000,
    "train.checkpoint_every": 20_000,
}

# The official dreamerv3-jax README: Chopper Command's episodes are cut at 5,400 frames (not
# 108,000), because an agent easily gets stuck there and training fails.
CHOPPER_COMMAND_FRAMES = 5_400

QUICK = {
    "replay.batch_size": 16,
    "replay.seq_len": 50,
    "model.deter": 200,
    "model.hidden": 200,
    "model.stoch": 16,
    "model.classes": 16,
    "model.depth": 16,
    "model.mlp_layers": 2,
    "model.mlp_units": 200,
    "train.steps": 20_000,
    "train.prefill": 2_500,
    "train.train_every": 10,
    "train.pretrain": 50,
    "train.eval_every": 5_000,
    "train.eval_offset": 0,
    "train.eval_episodes": 5,
    "train.log_every": 500,
    "train.checkpoint_every": 5_000,
    "train.precision": "fp32",  # the default; Crafter's paper config asks for fp16 (CUDA)
}

SMOKE = {
    "env.episode_length": 50,
    "replay.batch_size": 4,
    "replay.seq_len": 10,
    "model.deter": 32,
    "model.hidden": 32,
    "model.stoch": 4,
    "model.classes": 4,
    "model.depth": 4,
    "model.mlp_layers": 1,
    "model.mlp_units": 32,
    "behaviour.horizon": 5,
    "train.steps": 300,
    "train.prefill": 100,
    "train.pretrain": 2,
    "train.train_every": 10,
    "train.eval_every": 100,
    "train.eval_offset": 0,
    "train.eval_episodes": 1,
    "train.log_every": 50,
    "train.checkpoint_every": 100,
    "train.precision": "fp32",
}

# Atari at smoke: episodes cut at 400 frames (100 agent steps at action repeat 4).
SMOKE_ATARI = {"env.episode_length": 400, "train.steps": 1200, "train.eval_every": 400,
               "train.checkpoint_every": 400}

# gpu: the quick model on one CUDA GPU with bf16 autocast, for diagnostics that need many more
# updates than a CPU gives (the studies' gpu grids, study/specs.py).
GPU = {**QUICK, "train.device": "cuda", "train.precision": "bf16"}

PRESETS = ("smoke", "quick", "gpu", "paper")
# The paper's settings per suite (agents/envs/registry.py names the suites); a suite without an
# entry runs the defaults. DMC suites record camera 0, which `corner` stands for there.
_DMC_CAMERA = {"env.camera": "0"}
PAPER_SUITES = {
    "metaworld": PAPER_METAWORLD,
    "dmc": {**PAPER_DMC, **_DMC_CAMERA},
    "dmc_distracted": {**PAPER_DMC_DISTRACTED, **_DMC_CAMERA},
    "dmc_remastered": {**PAPER_DMC_DISTRACTED, **_DMC_CAMERA},
    "atari": PAPER_ATARI,
    "crafter": PAPER_CRAFTER,
}


def _agent_of(overrides: list[str] | dict[str, Any]) -> str:
    """The agent family an override list asks for (its defaults go in before the preset)."""
    items = overrides.items() if isinstance(overrides, dict) else (
        item.partition("=")[::2] for item in overrides)
    agent = "dreamerv2"
    for key, value in items:
        if str(key).strip() == "model.agent":
            agent = str(value).strip()
    return agent


def make_config(
    preset: str = "paper",
    task: str = "metaworld/lever-pull",
    overrides: list[str] | dict[str, Any] | None = None,
) -> Config:
    """Resolve preset + task + overrides into a validated Config."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    cfg = Config(preset=preset)
    cfg.env.task = task
    overrides = overrides or {}
    suite = suite_of(task)
    family = FAMILIES.get(_agent_of(overrides))
    if family is not None and family.defaults:
        apply_overrides(cfg, {"model.agent": family.name, **family.defaults})
    apply_overrides(cfg, PAPER_SUITES.get(suite, {}))
    if task == "atari/chopper_command":  # the official README caps it: agents get stuck
        apply_overrides(cfg, {"env.episode_length": CHOPPER_COMMAND_FRAMES})
    if preset == "quick":
        apply_overrides(cfg, QUICK)
    elif preset == "gpu":
        apply_overrides(cfg, GPU)
    elif preset == "smoke":
        apply_overrides(cfg, {**SMOKE, **(SMOKE_ATARI if suite == "atari" else {})})
    apply_overrides(cfg, overrides)
    validate(cfg)
    return cfg
