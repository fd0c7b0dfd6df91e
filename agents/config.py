"""Run configuration: nested dataclasses, named presets and `key=value` overrides.

A config is fully resolved before anything runs, so a bad override fails fast (exit 2 in the
CLI) and the saved config.json describes the run exactly.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any


class ConfigError(ValueError):
    """A bad preset, override key or value. The CLI prints it as one line and exits 2."""


@dataclass
class EnvConfig:
    task: str = "metaworld/lever-pull"
    image_size: int = 64
    action_repeat: int = 1
    episode_length: int = 500  # env steps (frames) per episode; Meta-world's own limit is 500
    camera: str = "corner"
    # Render settings (see agents/envs.py RENDER): "fast" (default) drops shadows, reflections
    # and MSAA, ~4-7x faster than MuJoCo's defaults with every task object still visible.
    render: str = "fast"
    # Environments stepped together, each in its own worker process (1: in this process).
    # The update ratio counts env steps summed over all envs (one update per
    # train.train_every of them), so a run with N envs trains exactly as many updates on as
    # many env steps as a run with one: sample efficiency means the same thing.
    num_envs: int = 1


@dataclass
class ReplayConfig:
    capacity: int = 1_000_000  # env steps kept
    seq_len: int = 50
    batch_size: int = 50
    prioritize_ends: bool = True
    ongoing: bool = False  # also sample from episodes still being collected (DreamerV3)
    # Windows over the stream of all stored steps, crossing episode boundaries, is_first
    # marking starts (DreamerV3's official replay); off: windows inside one episode.
    stream: bool = False


@dataclass
class ModelConfig:
    agent: str = "dreamerv2"  # dreamerv2 | dreamerv3 (agents/families.py)
    deter: int = 1024
    hidden: int = 1024
    stoch: int = 32
    classes: int = 32
    depth: int = 48
    enc_kernels: tuple[int, ...] = (4, 4, 4, 4)
    dec_kernels: tuple[int, ...] = (5, 5, 6, 6)
    mlp_layers: int = 4
    mlp_units: int = 400
    kl_balance: float = 0.8
    free_nats: float = 0.0
    # Weight initialisation (agents/init.py): "glorot" (the official DreamerV2's: TF's
    # defaults), "trunc_normal" (the official DreamerV3's fan-avg truncated normal; the
    # dreamerv3 family's default) or "torch" (PyTorch's defaults, this project's until
    # 2026-11-24; they made DreamerV2's actor gradients ~500x smaller at the paper shapes than
    # the official code's).
    init: str = "glorot"
    lr: float = 3e-4
    eps: float = 1e-5
    clip: float = 100.0
    weight_decay: float = 1e-6
    # DreamerV3 only: KL split into dyn and rep terms with free bits, categorical unimix,
    # two-hot symlog bins of the reward head (and critic).
    dyn_scale: float = 0.5
    rep_scale: float = 0.1
    free_bits: float = 1.0
    unimix: float = 0.01
    bins: int = 255


@dataclass
class BehaviourConfig:
    horizon: int = 15
    discount: float = 0.99
    lam: float = 0.95
    actor_lr: float = 8e-5
    critic_lr: float = 8e-5
    eps: float = 1e-5
    clip: float = 100.0
    weight_decay: float = 1e-6
    actor_entropy: float = 1e-4
    actor_min_std: float = 0.1
    # DreamerV2's actor std = 2 sigmoid((x + actor_init_std) / 2) + min_std: 0 in the official
    # code (danijar/dreamerv2 and wmlib-torch: std about 1.1 at the start). This project used
    # 2 (std about 1.56) until 2026-11-24, which flattened the truncated Normal and shrank the
    # actor's gradients several-fold against the official code's on the same batches.
    actor_init_std: float = 0.0
    # DreamerV2: the critic also learns the actor's entropy bonus, which the official code adds
    # to the lambda-returns in place (actor_loss's `objective += ...` on a view of them);
    # False trains the critic on the plain returns.
    entropy_in_critic_target: bool = True
    # Evaluation acts with the actor's mode (official DreamerV2); False samples the action, as
    # the official DreamerV3 does (its `policy(mode="eval")`).
    eval_greedy: bool = True
    # Slow critic: updated after updates 1, 1 + every, 1 + 2 every, ... (the official counts)
    target_every: int = 100  # updates between slow-critic updates
    target_fraction: float = 1.0  # slow <- f * critic + (1 - f) * slow (1: a hard copy)
    # DreamerV3 only: returns scaled by their 5th-95th percentile range (EMA), and the critic
    # regularised towards the slow critic.
    retnorm_decay: float = 0.99
    retnorm_low: float = 5.0
    retnorm_high: float = 95.0
    slowreg: float = 1.0


@dataclass
class WeightingConfig:
    """Parameters of the loss weighting; which ones apply depends on `name`."""

    name: str = "fixed"
    w_o: float = 1.0
    w_r: float = 1.0
    w_d: float = 1.0


@dataclass
class OfflineConfig:
    """Offline world-model diagnostics (train.mode=offline): one world model trained on a
    fixed dataset of scripted-expert Meta-world episodes, evaluated on held-out episodes."""

    episodes: int = 40  # expert episodes collected (train + held-out), cached on disk
    heldout: int = 8  # of which held out for evaluation
    noise_pct: tuple[int, ...] = (0, 50, 100)  # action-noise std levels, % of the action range
    updates: int = 2000  # world-model updates
    eval_every: int = 500  # updates between held-out evaluations (and checkpoints)
    context: int = 5  # frames observed before open-loop prediction
    horizon_every: int = 10  # imagination-horizon metric: start from every k-th posterior state


# Where metrics rows go besides metrics.jsonl (agents/outputs.py). The JSONL file is always
# written: every analysis reads it; the others are optional extras, imported only when asked
# for. How a run is recorded, not what it computes: an execution key (not in run identity).
LOG_OUTPUTS = ("jsonl", "tensorboard", "wandb")


@dataclass
class LogConfig:
    # jsonl (always written, listed or not), tensorboard (RUN_DIR/tb/) and wandb (offline
    # unless WANDB_MODE says otherwise); `--set log.outputs=jsonl,tensorboard`
    outputs: tuple[str, ...] = ("jsonl",)
    # Videos (agents/videos.py) at every video_every-th evaluation and the last (0: none): an
    # evaluation episode and the world model's open loop (true | predicted | error) after
    # video_context frames, each cut at video_max_frames frames; RUN_DIR/videos/.
    video_every: int = 0
    video_max_frames: int = 500
    video_context: int = 5


@dataclass
class TrainConfig:
    seed: int = 0
    mode: str = "online"  # online: the RL loop; offline: world-model diagnostics on expert data
    steps: int = 256_000  # env steps (frames, i.e. counting action repeat)
    prefill: int = 5_000
    pretrain: int = 100  # updates right after prefill
    train_every: int = 5  # env steps per update
    eval_every: int = 10_000
    eval_offset: int = 0  # first evaluation at this env step, then every eval_every after it
    eval_initial: bool = True  # False: skip the evaluation at eval_offset (DreamerV3's Atari)
    eval_episodes: int = 10
    # 0: the run collects whole episodes (one per env), evaluates between them and ends after
    # the episode that passes `steps`. > 0: it checks for evaluation and the end every `chunk`
    # env steps, mid-episode, and evaluates in envs of its own, as DreamerV3's train_eval does
    # (chunks of 100 agent steps): evaluations land on the first chunk boundary at or past
    # each grid point (on it, when the grid is whole chunks) and the run ends at the first
    # boundary at or past `steps`, without a last evaluation.
    chunk: int = 0
    log_every: int = 1_000  # env steps between training-metric rows
    # World-model updates between measurements of each weighted loss's gradient norm on the
    # shared parameters (gradnorm_obs/rew/dyn; agents/gradients.py); 0: never.
    probe_every: int = 50
    checkpoint_every: int = 10_000  # env steps; checkpoints land on episode boundaries
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "fp32"  # fp32 | bf16 (autocast, CPU or CUDA) | fp16 (CUDA only)
    threads: int = 0  # torch intra-op threads; 0 keeps torch's default
    # On CUDA, record the update and the acting step as CUDA graphs (agents/graphs.py): the
    # same maths in one launch instead of thousands. Ignored on the CPU. Off by default until
    # tests/test_cuda.py's graphed-vs-eager checks have passed on a GPU (none was lent yet).
    cuda_graphs: bool = False
    # Act with the weights from before the latest update (agents/acting.py), so that on CUDA
    # the envs step while the GPU trains. The policy lag is exactly one update (logged as
    # policy_lag); the update ratio and the batches are unchanged. It pays off with
    # cuda_graphs (an eager update keeps the host busy launching it, and its NaN guard
    # syncs); on the CPU it computes the same thing, in order, no faster.
    overlap: bool = False


@dataclass
class Config:
    preset: str = "paper"
    env: EnvConfig = field(default_factory=EnvConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    behaviour: BehaviourConfig = field(default_factory=BehaviourConfig)
    weighting: WeightingConfig = field(default_factory=WeightingConfig)
    offline: OfflineConfig = field(default_factory=OfflineConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    log: LogConfig = field(default_factory=LogConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


# --- presets -------------------------------------------------------------------------------
# `paper` is the official DreamerV2 configuration of the HarmonyDream code (Meta-world, with the
# DMC-vision differences applied for dmc/ tasks). `quick` fits a 2-core CPU; `smoke` is for tests.

# The official training script evaluates first when prefill ends (after the pretraining
# updates), then every eval_every steps, and stops after the evaluation at stop_steps or once
# `steps` is passed. Meta-world: evaluations at 5K, 15K, ..., 255K, then stop.
PAPER_METAWORLD = {"train.steps": 255_000, "train.eval_offset": 5_000}

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
}

# DreamerV3, the official `atari100k` config of the HarmonyDream code (dreamerv3-jax,
# configs.yaml): deter 512, CNN depth 32, 2 x 512 MLPs, batch 16 x 64, model Adam lr 1e-4 eps
# 1e-8 clip 1000, actor/critic lr 3e-5 eps 1e-5 clip 100, horizon 333 (discount 1 - 1/333),
# lambda 0.95, entropy 3e-4, slow critic 0.02 per update, fp32.
PAPER_V3 = {
    "replay.batch_size": 16,
    "replay.seq_len": 64,
    "replay.prioritize_ends": False,
    "replay.ongoing": True,
    "replay.stream": True,
    "model.deter": 512,
    "model.hidden": 512,
    "model.depth": 32,
    "model.mlp_layers": 2,
    "model.mlp_units": 512,
    "model.lr": 1e-4,
    "model.eps": 1e-8,
    "model.clip": 1000.0,
    "model.weight_decay": 0.0,
    "model.init": "trunc_normal",
    "behaviour.discount": 1 - 1 / 333,
    "behaviour.actor_lr": 3e-5,
    "behaviour.critic_lr": 3e-5,
    "behaviour.weight_decay": 0.0,
    "behaviour.actor_entropy": 3e-4,
    "behaviour.target_every": 1,
    "behaviour.target_fraction": 0.02,
    "behaviour.eval_greedy": False,
}

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


SUITES = ("metaworld", "dmc", "dmc_distracted", "atari", "crafter")
DISCRETE_SUITES = ("atari", "crafter")  # one-hot actions: the dreamerv3 agent
INIT_SCHEMES = ("glorot", "trunc_normal", "torch")  # agents/init.py applies them
AGENTS = ("dreamerv2", "dreamerv3")  # agents/families.py builds them


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
    suite, _, name = task.partition("/")
    if suite not in SUITES or not name:
        raise ConfigError(f"bad task {task!r}: expected metaworld/<task>, dmc/<domain>-<task>, "
                          f"dmc_distracted/<domain>-<task>[?bg=...], atari/<game> or crafter/reward"
                          f"{_task_hint(task)}")
    return suite


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
    if _agent_of(overrides) == "dreamerv3":
        apply_overrides(cfg, {"model.agent": "dreamerv3", **PAPER_V3})
    if suite == "metaworld":
        apply_overrides(cfg, PAPER_METAWORLD)
    elif suite in ("dmc", "dmc_distracted"):  # distracted DMC: the same agent config
        apply_overrides(cfg, PAPER_DMC)
        cfg.env.camera = "0"
    elif suite == "crafter":
        apply_overrides(cfg, PAPER_CRAFTER)
    elif suite == "atari":
        apply_overrides(cfg, PAPER_ATARI)
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


def _parse(value: Any, typ: Any, key: str) -> Any:
    if not isinstance(value, str):
        if typ == "float" and isinstance(value, int):
            return float(value)
        if str(typ).startswith("tuple") and isinstance(value, list):
            return tuple(value)
        return value
    try:
        if typ == "bool":
            low = value.lower()
            if low not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return low in ("true", "1", "yes")
        if typ == "int":
            return int(float(value)) if float(value).is_integer() else int(value)
        if typ == "float":
            return float(value)
        if typ.startswith("tuple[str"):  # a,b or [a,b] (quotes optional)
            return tuple(v.strip().strip("'\"") for v in value.strip("()[] ").split(",")
                         if v.strip().strip("'\""))
        if typ.startswith("tuple"):
            return tuple(int(v) for v in value.strip("()[] ").split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"bad value for {key}: {value!r} is not a valid {typ}") from None
    return value


def apply_overrides(cfg: Config, overrides: list[str] | dict[str, Any]) -> Config:
    """Apply `section.field=value` overrides in place; unknown keys raise ConfigError."""
    if isinstance(overrides, list):
        pairs = {}
        for item in overrides:
            key, sep, value = item.partition("=")
            if not sep:
                raise ConfigError(f"bad override {item!r}: expected key=value")
            pairs[key.strip()] = value.strip()
        overrides = pairs
    for key, value in overrides.items():
        section_name, _, name = key.partition(".")
        section = getattr(cfg, section_name, None)
        if not dataclasses.is_dataclass(section) or not name:
            raise ConfigError(f"unknown config key {key!r}")
        types = {f.name: f.type for f in dataclasses.fields(section)}
        if name not in types:
            raise ConfigError(f"unknown config key {key!r}")
        setattr(section, name, _parse(value, types[name], key))
    return cfg


def validate(cfg: Config) -> None:
    from agents.weighting import WEIGHTINGS  # local: avoid a torch import for config-only users

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
    need(cfg.model.agent in AGENTS,
         f"unknown agent {cfg.model.agent!r}; choose from {', '.join(AGENTS)}"
         f"{did_you_mean(cfg.model.agent, AGENTS)}")
    suite = suite_of(cfg.env.task)
    need(not (suite in DISCRETE_SUITES and cfg.model.agent != "dreamerv3"),
         f"{suite}/ tasks have discrete actions: use the dreamerv3 agent (--agent dreamerv3)")
    need(not (cfg.model.agent == "dreamerv3" and suite not in DISCRETE_SUITES),
         "the dreamerv3 agent here has discrete (one-hot) actions only: use it on atari/ and "
         "crafter/ tasks, and dreamerv2 for metaworld/ and dmc/")
    need(0 < cfg.behaviour.target_fraction <= 1, "behaviour.target_fraction must be in (0, 1]")
    need(0 <= cfg.behaviour.retnorm_low < cfg.behaviour.retnorm_high <= 100,
         "behaviour.retnorm_low/high must satisfy 0 <= low < high <= 100")
    need(cfg.model.bins >= 3 and cfg.model.bins % 2 == 1, "model.bins must be odd and >= 3")
    need(cfg.model.init in INIT_SCHEMES,
         f"model.init must be one of {', '.join(INIT_SCHEMES)}")
    need(cfg.weighting.name in WEIGHTINGS,
         f"unknown weighting {cfg.weighting.name!r}; choose from {', '.join(WEIGHTINGS)}"
         f"{did_you_mean(cfg.weighting.name, WEIGHTINGS)}")
    for name in ("w_o", "w_r", "w_d"):
        need(getattr(cfg.weighting, name) >= 0, f"weighting.{name} must be >= 0")
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
        need(cfg.model.agent == "dreamerv2", "train.mode=offline runs the dreamerv2 agent")
        need(cfg.env.task.startswith("metaworld/"),
             "train.mode=offline needs a Meta-world task (its scripted experts make the data)")
        need(0 < o.heldout < o.episodes, "offline.heldout must be in (0, offline.episodes)")
        need(o.updates > 0 and o.eval_every > 0, "offline.updates and eval_every must be > 0")
        need(len(o.noise_pct) > 0 and min(o.noise_pct) >= 0,
             "offline.noise_pct must be non-negative levels")
        need(0 < o.context < cfg.env.episode_length, "offline.context must be in (0, episode)")
        need(o.horizon_every > 0, "offline.horizon_every must be > 0")
        need(cfg.behaviour.horizon < cfg.env.episode_length,
             "behaviour.horizon must be shorter than an episode")
    need(cfg.train.device in ("auto", "cpu", "cuda"), "train.device must be auto, cpu or cuda")
    need(cfg.train.precision in ("fp32", "bf16", "fp16"), "train.precision must be fp32/bf16/fp16")
    need(not (cfg.train.precision == "fp16" and cfg.train.device == "cpu"),
         "train.precision=fp16 needs CUDA; use bf16 on the CPU")
    need(not (cfg.train.cuda_graphs and cfg.train.precision == "fp16"),
         "train.cuda_graphs needs fp32 or bf16 (fp16's gradient scaler syncs every step)")
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
    if cfg.model.agent == "dreamerv3":
        need(cfg.env.image_size in (32, 64, 128), "dreamerv3 needs env.image_size 32, 64 or 128")
        return
    # The decoder's transposed convolutions must land exactly on the image size.
    size = 1
    for k in cfg.model.dec_kernels:
        size = (size - 1) * 2 + k
    need(size == cfg.env.image_size,
         f"model.dec_kernels {cfg.model.dec_kernels} produce {size}px images, "
         f"env.image_size is {cfg.env.image_size}")


def check_outputs(outputs) -> None:
    """log.outputs: known names, and each extra installed (found, not imported: importing
    wandb takes a second, and study.run validates every run of a grid)."""
    import importlib.util

    from agents.outputs import EXTRAS

    for name in outputs:
        if name not in LOG_OUTPUTS:
            raise ConfigError(f"unknown log output {name!r} in log.outputs; choose from "
                              f"{', '.join(LOG_OUTPUTS)}{did_you_mean(name, LOG_OUTPUTS)}")
        if name in EXTRAS:
            module, extra = EXTRAS[name]
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                raise ConfigError(f"log.outputs asks for {name}, which is not installed: "
                                  f"pip install 'harmonydream-repro[{extra}]'")


# How a run is executed or recorded, not what it computes: not part of a run's identity.
# Same run either way (a probe restores the random state it used; log.outputs only adds
# where the same rows go; videos draw on a forked random state).
EXECUTION_KEYS = (("train", "threads"), ("train", "cuda_graphs"), ("train", "probe_every"),
                  ("log", "outputs"), ("log", "video_every"), ("log", "video_max_frames"),
                  ("log", "video_context"))


# Fields added after runs existed, at the value that computes what those runs computed: left
# out of the identity at that value, so a finished run keeps its id (and is not run again)
# when the toolkit grows a switch it did not use.
LATER_KEYS = {("train", "overlap"): False, ("train", "chunk"): 0}


def identity(cfg: Config) -> dict[str, Any]:
    """The config as a dict without execution-only fields: equal identity = the same run."""
    data = config_from_dict(cfg.to_dict()).to_dict()  # round trip: tuples and lists agree
    for section, key in EXECUTION_KEYS:
        data[section].pop(key, None)
        if not data[section]:  # a section of execution keys only (log): runs kept their ids
            del data[section]
    for (section, key), before in LATER_KEYS.items():
        if data[section].get(key) == before:
            del data[section][key]
    return data


def config_from_dict(data: dict[str, Any]) -> Config:
    """Rebuild a Config from its saved dict (config.json)."""
    cfg = Config(preset=data.get("preset", "paper"))
    flat = {f"{s}.{k}": v
            for s, sec in data.items() if isinstance(sec, dict) for k, v in sec.items()}
    for key, value in flat.items():
        if isinstance(value, list):
            flat[key] = tuple(value)
    apply_overrides(cfg, flat)
    return cfg
