"""One run's session, online or offline: its directory's identity (config.json), the process
settings it starts with, the random streams and metrics offset that a checkpoint saves and a
resume restores, and how the process ends (cleanly on SIGINT / SIGTERM, never outliving its
parent)."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from agents.config import Config, ConfigError, config_from_dict, identity
from agents.files import atomic_write_text

if TYPE_CHECKING:  # for the annotations only: this module loads without torch
    import numpy as np

    from agents.data.replay import Replay
    from agents.run.logger import MetricsLogger
    from agents.update.dreamer import Dreamer


def resolve_device(name: str):
    """`train.device` as a torch device: auto picks CUDA where there is one; an error where
    CUDA is asked for and absent."""
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device=cuda but this machine has no CUDA device")
    return torch.device(name)


def set_threads(threads: int) -> None:
    import torch

    if threads > 0:
        torch.set_num_threads(threads)


def check_config(out: Path, cfg: Config) -> None:
    """Write config.json, or refuse a directory that holds a run with another config. A
    damaged config.json is rebuilt from the run's checkpoint where that is this run (one
    line), else refused in one line that says what to do."""
    path = out / "config.json"
    if not path.exists():
        atomic_write_text(path, cfg.to_json())
        return
    try:
        theirs = config_from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError, AttributeError) as exc:  # ConfigError included
        from agents.run.status import recorded

        saved = recorded(out, "config")
        if saved is None:
            raise ConfigError(f"{path} is damaged ({type(exc).__name__}) and no checkpoint "
                              f"says which run {out} holds; delete {path} to start this run "
                              "there, or use another --out") from None
        theirs = config_from_dict(saved)
        if identity(theirs) == identity(cfg):
            atomic_write_text(path, theirs.to_json())
            print(f"warning: {path} was damaged; rebuilt from the run's checkpoint",
                  file=sys.stderr)
    if identity(theirs) != identity(cfg):
        raise ConfigError(f"{out} holds a run with a different config; use another --out")


def other_run(out: Path, cfg: Config) -> bool:
    """Whether `out` holds a run with another config (by a readable config.json): checked
    before the run's lock is taken, so a refused command writes nothing at all."""
    try:
        theirs = config_from_dict(json.loads((out / "config.json").read_text()))
    except (OSError, ValueError, TypeError, AttributeError):
        return False  # none, or damaged: check_config decides, under the lock
    return identity(theirs) != identity(cfg)


def check_setup(cfg: Config) -> None:
    """What a run needs before it writes anything: its device and the log outputs it asks
    for (else one ConfigError line)."""
    from agents.run.outputs import require

    resolve_device(cfg.train.device)
    require(cfg.log.outputs)


def start_run(cfg: Config, out: Path, total: int):
    """Before a run writes anything: the device and the log outputs it asks for exist (else
    one ConfigError line), then its directory and config.json, its threads and torch seed.
    Returns (device, heartbeat for `total` steps)."""
    import torch

    from agents.run.status import Heartbeat, read_status, write_status

    check_setup(cfg)
    device = resolve_device(cfg.train.device)
    out.mkdir(parents=True, exist_ok=True)
    check_config(out, cfg)
    # From here on every exception is recorded (agents.train: end_recorded), setup included.
    step = (read_status(out) or {}).get("step")
    write_status(out, "running", step=step if isinstance(step, int) else 0, phase="setup")
    set_threads(cfg.train.threads)
    torch.manual_seed(cfg.train.seed)
    return device, Heartbeat(out, total)


P = TypeVar("P")  # a trainer's Progress dataclass


class Session(Generic[P]):
    """A run's start, fresh or resumed, the one path both trainers take: `start_run` (device,
    directory, config.json, threads, seed), then its checkpoint, read before anything is
    built, so a finished run is known without collecting data or starting envs.

    `progress` is the trainer's Progress: `fresh` where the run starts, else the checkpoint's
    (same dataclass); `step` reads its counter (env steps, updates). `restore` then puts the
    built agent and streams back where the checkpoint left them."""

    def __init__(self, cfg: Config, out: Path, total: int, fresh: P, step: Callable[[P], int]):
        from agents.run import checkpoint

        self.device, self.heartbeat = start_run(cfg, out, total)
        self.state = checkpoint.load_latest(out / "ckpt.pt")
        self.progress: P = type(fresh)(**self.state["progress"]) if self.state else fresh
        # The checkpoint's step, where resumed (the log outputs continue from it).
        self.resumed_step: int | None = step(self.progress) if self.state else None

    @property
    def eval_record(self) -> dict | None:
        """What the checkpoint says of the evaluation it was taken after (None when fresh)."""
        return self.state.get("eval") if self.state else None

    def restore(self, agent: Dreamer, rng: np.random.Generator, logger: MetricsLogger,
                redo: Callable[[dict | None], None], replay: Replay | None = None) -> None:
        """Fresh: metrics.jsonl (and the replay's episode files) start empty. Resumed: the
        agent's weights and optimisers, the random streams, metrics.jsonl cut back to the
        checkpoint, the replay's episode files to the ones it counted; then `redo(eval
        record)` where the evaluation row at the checkpoint's step was lost. `replay`: a
        replay that keeps episode files (the online one; the offline one is rebuilt from its
        dataset)."""
        if self.state is None:
            # A run killed before its first checkpoint (or left with none readable) restarts
            # from scratch.
            logger.truncate(0)
            if replay is not None:
                replay.restore(0)
            return
        step = self.resumed_step
        agent.load_checkpoint_state(self.state["agent"])
        restore_streams(self.state, rng, logger, step)
        if replay is not None:
            replay.restore(self.state["replay_episodes"])
        if not logger.has_row(step, "eval"):
            redo(self.eval_record)


def stream_state(rng: np.random.Generator, logger: MetricsLogger,
                 replay: Replay | None = None) -> dict[str, Any]:
    """The run's random streams, metrics offset and (online) replay episode count, for its
    checkpoint: what `Session.restore` puts back."""
    import torch

    state = {"rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
             "metrics_offset": logger.offset}
    if replay is not None:
        state["replay_episodes"] = replay.num_saved
    return state


def restore_streams(state: dict[str, Any], rng: np.random.Generator, logger: MetricsLogger,
                    step: int) -> None:
    """Back to a checkpoint's streams; metrics.jsonl cut at a row boundary verified against
    the checkpoint's step (a damaged line must not fuse the next row with a torn one)."""
    import torch

    rng.bit_generator.state = state["rng"]
    torch.set_rng_state(state["torch_rng"])
    logger.truncate(state["metrics_offset"], step=step)


def quiet_teardown() -> None:
    """After Ctrl-C: objects cut short while being built (a MuJoCo renderer, say) fail in
    their __del__ as the process exits; drop that noise, so the interrupt stays one line."""
    sys.unraisablehook = lambda unraisable: None


def stop_on_signals() -> None:
    """SIGINT and SIGTERM (Ctrl-C, `kill`, the local executor stopping) stop a run as one
    KeyboardInterrupt: its status says interrupted and it resumes from its last checkpoint.
    Later signals are swallowed, so a second one cannot cut the status write short."""
    stopping = []

    def handler(signum, frame):
        if not stopping:
            stopping.append(signum)
            raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
