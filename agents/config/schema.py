"""The run configuration's schema: nested dataclasses with their defaults (the paper's
DreamerV2 on Meta-world), the names every other part checks against, and ConfigError."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from agents.errors import ConfigError  # noqa: F401  (re-exported: config's error)


@dataclass
class EnvConfig:
    task: str = "metaworld/lever-pull"
    image_size: int = 64
    action_repeat: int = 1
    episode_length: int = 500  # env steps (frames) per episode; Meta-world's own limit is 500
    camera: str = "corner"
    # Render settings (see agents/envs/rendering.py RENDER): "fast" (default) drops shadows,
    # reflections and MSAA, ~4-7x faster than MuJoCo's defaults with every task object still
    # visible.
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
    agent: str = "dreamerv2"  # dreamerv2 | dreamerv3 (registered in agents/config/families.py)
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
    # Weight initialisation (agents/nets/init.py): "glorot" (the official DreamerV2's: TF's
    # defaults), "dreamerv3" (the official DreamerV3's: a fan-avg truncated normal, uniform of
    # the same std on the six layers its config's winit never reaches; the dreamerv3 family's
    # default), "trunc_normal" (that normal on every layer: this project's DreamerV3 runs
    # until 2026-12-07) or "torch" (PyTorch's defaults, this project's until
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
    # GradNorm's restoring force alpha (Chen et al. 2018 use 1.5 on NYUv2)
    gradnorm_alpha: float = 1.5
    # learning rate of GradNorm's weights (their own Adam; 0.025, a common reimplementation value)
    gradnorm_lr: float = 0.025
    # DWA's temperature T (Liu et al. 2019: 2)
    dwa_temperature: float = 2.0
    # DWA's "epoch": world-model updates per window whose mean losses give the next weights
    dwa_window: int = 100
    # CAGrad's radius c (Liu et al. 2021 use 0.4 on NYUv2 and Cityscapes)
    cagrad_c: float = 0.4


# The replay_like default: the replay of a DreamerV2 agent on Lever Pull at 50K steps, by the
# paper's setting and the published curves. 5K random prefill steps (10%), then the agent's
# own exploration, which the reference DreamerV2 runs (8 seeds, APV) turn into no success before
# 50K: heavy-noise expert episodes stand in for it. The other candidate mixes, and which one
# the quick preset uses, are in study/specs.py (PREMISE_DATA) and docs/results.md.
DEFAULT_MIX = ("random:0.1", "noise1000:0.45", "noise300:0.45")
DATA_KINDS = ("expert", "replay_like")  # offline.data (agents/data/mixes.py)


@dataclass
class OfflineConfig:
    """Offline world-model diagnostics (train.mode=offline): one world model trained on a
    fixed dataset of Meta-world episodes (agents/data/mixes.py), evaluated on held-out ones."""

    # expert: the scripted expert at the noise_pct levels; replay_like: the behaviours of
    # `mix` in its shares, shaped like an online agent's early replay (agents/data/mixes.py)
    data: str = "expert"
    mix: tuple[str, ...] = DEFAULT_MIX  # replay_like only: behaviour:share items
    episodes: int = 40  # episodes collected (train + held-out), cached on disk
    heldout: int = 8  # of which held out for evaluation (the last ones)
    noise_pct: tuple[int, ...] = (0, 50, 100)  # expert only: action-noise std levels, %
    updates: int = 2000  # world-model updates
    eval_every: int = 500  # updates between held-out evaluations (and checkpoints)
    context: int = 5  # frames observed before open-loop prediction
    horizon_every: int = 10  # imagination-horizon metric: start from every k-th posterior state


# Where metrics rows go besides metrics.jsonl (agents/run/outputs.py). The JSONL file is always
# written: every analysis reads it; the others are optional extras, imported only when asked
# for. How a run is recorded, not what it computes: an execution key (not in run identity).
LOG_OUTPUTS = ("jsonl", "tensorboard", "wandb")
# log.outputs name -> (the module it needs, the pip extra that installs it): config checks it
# before a run starts, agents/run/outputs.py imports it when the run opens its sinks.
LOG_EXTRAS = {"tensorboard": ("tensorboard", "tensorboard"), "wandb": ("wandb", "wandb")}


@dataclass
class LogConfig:
    # jsonl (always written, listed or not), tensorboard (RUN_DIR/tb/) and wandb (offline
    # unless WANDB_MODE says otherwise); `--set log.outputs=jsonl,tensorboard`
    outputs: tuple[str, ...] = ("jsonl",)
    # Videos (agents/run/videos.py) at every video_every-th evaluation and the last (0: none): an
    # evaluation episode and the world model's open loop (true | predicted | error) after
    # video_context frames, each cut at video_max_frames frames; RUN_DIR/videos/.
    video_every: int = 0
    video_max_frames: int = 500
    video_context: int = 5
    # Every console_every-th training row also printed under the progress bar (losses, fps,
    # memory), and every evaluation row; 0: none. Off with --no-progress / --quiet.
    console_every: int = 1


@dataclass
class TrainConfig:
    seed: int = 0
    mode: str = "online"  # online: the RL loop; offline: world-model diagnostics on a fixed dataset
    steps: int = 256_000  # env steps (frames, i.e. counting action repeat)
    prefill: int = 5_000
    # Updates right after prefill: the official script's `pretrain: 100` plus the first
    # "benchmarking" pass it makes before them, which is a real update.
    pretrain: int = 101
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
    # fp32 | fp16 (autocast + gradient scalers) | bf16 (autocast) | auto (fp16 on CUDA, else
    # fp32: the official DreamerV2's); agents/update/precision.py
    precision: str = "fp32"
    threads: int = 0  # torch intra-op threads; 0 keeps torch's default
    # On CUDA, record the update and the acting step as CUDA graphs (agents/update/graphs.py): the
    # same maths in one launch instead of thousands. Ignored on the CPU. Off by default until
    # tests/run/test_cuda.py's graphed-vs-eager checks have passed on a GPU (none was lent yet).
    cuda_graphs: bool = False
    # torch.compile the world model's and the behaviour's loss functions (agents/update/
    # compiled.py): the same maths in fused kernels, differing from eager by rounding only
    # (docs/equivalence.md). The first update compiles (minutes on a CPU; cached on disk).
    compile: bool = False
    # Act with the weights from before the latest update (agents/update/acting.py), so that on CUDA
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


# The environment suites, their tasks and the agents that act in them: agents/envs/registry.py.
PRECISIONS = ("fp32", "fp16", "bf16", "auto")  # agents/update/precision.py says what each is
INIT_SCHEMES = ("glorot", "dreamerv3", "trunc_normal", "torch")  # agents/nets/init.py applies them
