"""Where metrics rows go besides metrics.jsonl: TensorBoard and Weights & Biases (`log.outputs`).

metrics.jsonl is the record every analysis reads and is always written. The extras get every
row it gets (train, eval and episode splits, online and offline runs) as scalars at the row's
step, named by `dashboard_tag`: eval and episode rows as `split/metric`, the train row's
columns in groups (`loss/`, `weight/`, `grad/`, `actor/`, `critic/`, `model/`, `fps/`,
`usage/`, and `train/` for the rest); MetricsLogger hands each row to them (`sinks`), and
agents/run/videos.py each video (`log.video_every`) as `video/<kind>`. Each extra is an optional
dependency, imported only when a run asks for it:

- `tensorboard`: event files in RUN_DIR/tb/ (torch.utils.tensorboard.SummaryWriter). A resumed
  run appends to the same directory with `purge_step` just past its checkpoint's step, so the
  rows redone after the checkpoint are not shown twice.
- `wandb`: `mode="offline"` unless WANDB_MODE is set; files under RUN_DIR/wandb/; project
  $WANDB_PROJECT or "harmonydream-repro"; group $HD_STUDY (the study the run belongs to, when
  the study executor sets it); name the run's label (`run_label`: study, task, weighting,
  seed), id the run directory's name, so a resumed run continues the same W&B run
  (`resume="allow"`); config the resolved config.
"""

from __future__ import annotations

import math
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from agents.config import LOG_EXTRAS as EXTRAS  # log.outputs name -> (module, pip extra)

STUDY_ENV = "HD_STUDY"  # the study a run belongs to: its W&B group
DEFAULT_PROJECT = "harmonydream-repro"


# A train row's column -> its dashboard group, as the peers group them (danijar's and
# sheeprl's loss/, fps/, usage/ ...). The optimiser's norms (grad_norm_*) and each loss's norm
# on the shared layers (gradnorm_*, the probe) get names that cannot be mistaken for each other.
GROUPS = ((r"loss_(.+)", "loss/{}"), (r"kl_(.+)", "loss/kl_{}"), (r"recon_mse", "loss/recon_mse"),
          (r"weight_(.+)", "weight/{}"), (r"s_(.+)", "weight/s_{}"),
          (r"gradnorm_(.+)", "grad/shared_layers_norm_{}"),
          (r"grad_norm_(.+)", "grad/optimiser_norm_{}"), (r"clipped_(.+)", "grad/clipped_share_{}"),
          (r"actor_(.+)", "actor/{}"), (r"imag_(.+)", "actor/imagined_{}"),
          (r"return_scale", "actor/return_scale"), (r"critic_(.+)", "critic/{}"),
          (r"post_entropy", "model/posterior_entropy"), (r"fps", "fps/env_steps_total"),
          (r"fps_window", "fps/env_steps_window"), (r"fps_policy", "fps/policy"),
          (r"fps_train", "fps/train"),
          (r"updates", "fps/updates"), (r"policy_lag", "fps/policy_lag"),
          (r"usage_(.+)", "usage/{}"))


def dashboard_tag(split: str, key: str) -> str:
    """The dashboard name of metrics.jsonl's column `key` in a `split` row (module doc)."""
    if split == "train":
        for pattern, tag in GROUPS:
            if m := re.fullmatch(pattern, key):
                return tag.format(*m.groups())
    return f"{split}/{key}"


def scalars(split: str, metrics: dict[str, Any]) -> dict[str, float]:
    """A row's numbers as dashboard scalars (`dashboard_tag`); what is not a finite number
    (None, where metrics.jsonl says a value was non-finite; text) is left out."""
    out = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(value):
            out[dashboard_tag(split, key)] = float(value)
    return out


def require(outputs) -> None:
    """Import every extra `outputs` asks for, or raise ConfigError (one line) before anything
    is written: validate() only checked that each is installed."""
    import importlib

    from agents.config import ConfigError, check_outputs

    check_outputs(outputs)
    for name in outputs:
        if name in EXTRAS:
            module, extra = EXTRAS[name]
            try:
                importlib.import_module(module)
                if name == "tensorboard":
                    importlib.import_module("torch.utils.tensorboard")
            except ImportError as exc:
                raise ConfigError(f"log.outputs asks for {name}, which cannot be imported "
                                  f"({exc}): pip install 'harmonydream-repro[{extra}]'"
                                  ) from None


class TensorBoardSink:
    def __init__(self, out: Path, purge_step: int):
        from torch.utils.tensorboard import SummaryWriter

        logdir = Path(out) / "tb"
        _after_existing_event_files(logdir)
        self.writer = SummaryWriter(str(logdir), purge_step=purge_step)

    def write(self, step: int, split: str, metrics: dict[str, Any]) -> None:
        for tag, value in scalars(split, metrics).items():
            self.writer.add_scalar(tag, value, global_step=step)
        # Rows are rare (one per log interval): on disk at once, like metrics.jsonl, so a kill
        # after a checkpoint loses none of the rows it had seen.
        self.writer.flush()

    def video(self, step: int, name: str, path: Path, frames) -> None:
        """A video (agents/run/videos.py) as an animated GIF image `video/<name>`. Not through
        SummaryWriter.add_video: it encodes with moviepy 1.x's `moviepy.editor`, gone in 2.x."""
        from tensorboard.compat.proto.summary_pb2 import Summary

        from agents.run.videos import gif_bytes

        data = path.read_bytes() if path.suffix == ".gif" else gif_bytes(frames)
        _, h, w, c = frames.shape
        image = Summary.Image(height=h, width=w, colorspace=c, encoded_image_string=data)
        self.writer._get_file_writer().add_summary(
            Summary(value=[Summary.Value(tag=f"video/{name}", image=image)]), global_step=step)
        self.writer.flush()

    def close(self, failed: bool = False) -> None:
        self.writer.close()


def _after_existing_event_files(logdir: Path) -> None:
    """TensorBoard reads a directory's event files in name order, which starts with the
    creation second: a resumed run's file must sort after the earlier ones, purge included,
    so it is not created in the same second as the newest of them."""
    stamps = [int(m.group(1)) for f in logdir.glob("events.out.tfevents.*")
              if (m := re.match(r"events\.out\.tfevents\.(\d+)\.", f.name))]
    if stamps:
        wait = max(stamps) + 1 - time.time()
        if wait > 0:
            time.sleep(wait)


def run_label(config: dict) -> str:
    """What a dashboard names a run: '[study ]task weighting sSEED' (study: $HD_STUDY), not
    its directory's hash."""
    weighting = config.get("weighting", {})
    name = weighting.get("name", "fixed")
    if name == "fixed" and weighting.get("w_r", 1.0) != 1.0:
        name = f"w_r={weighting['w_r']:g}"
    parts = [os.environ.get(STUDY_ENV) or "", config.get("env", {}).get("task", "?"), name,
             f"s{config.get('train', {}).get('seed', 0)}"]
    return " ".join(p for p in parts if p)


def wandb_id(out: Path) -> str:
    """The run directory's name as a W&B run id (which may not hold / \\ # ? % :)."""
    return re.sub(r"[/\\#?%:]", "-", Path(out).resolve().name)


class WandbSink:
    def __init__(self, out: Path, config: dict):
        # The W&B Weave hint fires on any module named `agents` (ours is not the LLM SDK).
        os.environ.setdefault("WANDB_DISABLE_WEAVE", "true")
        import wandb

        out = Path(out)
        kwargs: dict[str, Any] = {}
        if not os.environ.get("WANDB_MODE"):
            kwargs["mode"] = "offline"  # nothing leaves the machine unless the user says so
        try:
            self.run = wandb.init(
                project=os.environ.get("WANDB_PROJECT") or DEFAULT_PROJECT,
                group=os.environ.get(STUDY_ENV) or None,
                name=run_label(config), id=wandb_id(out), resume="allow",
                dir=str(out), config=config,
                settings=wandb.Settings(console="off", silent=True, x_disable_stats=True),
                **kwargs)
        except Exception as exc:  # no API key for WANDB_MODE=online, a bad project name...
            from agents.config import ConfigError

            detail = (str(exc).strip().splitlines() or [""])[0][:200]
            raise ConfigError(f"log.outputs wandb: wandb.init failed ({type(exc).__name__}: "
                              f"{detail})") from None

    def write(self, step: int, split: str, metrics: dict[str, Any]) -> None:
        values = scalars(split, metrics)
        if values:
            self.run.log(values, step=step)

    def video(self, step: int, name: str, path: Path, frames) -> None:
        """A video file (agents/run/videos.py) as `video/<name>` at `step`."""
        import wandb

        self.run.log({f"video/{name}": wandb.Video(str(path))}, step=step)

    def close(self, failed: bool = False) -> None:
        self.run.finish(exit_code=1 if failed else 0)


# What a console line shows of a train row, in order: (column, short name).
CONSOLE = (("loss_obs", "obs"), ("loss_rew", "rew"), ("loss_dyn", "dyn"), ("fps_window", "fps"),
           ("fps_train", "upd/s"), ("usage_rss_gb", "rss GB"))


def console_line(step: int, split: str, metrics: dict[str, Any]) -> str:
    """One row as a console line: a train row's losses, throughput and memory; an eval row's
    return and success online, its reward errors offline (what the row has)."""
    if split == "train":
        keys = CONSOLE
    else:
        keys = tuple((k, k) for k in ("return", "success", "reward_rmse_horizon",
                                      "reward_skill_horizon", "recon_mse"))
    parts = [f"{short} {metrics[k]:.4g}" for k, short in keys
             if isinstance(metrics.get(k), int | float) and not isinstance(metrics[k], bool)]
    return f"{split} step {step}: " + ", ".join(parts)


class ConsoleSink:
    """Every `every`-th train row and every eval row as one line under the progress bar
    (`log.console_every`; tqdm.write keeps the bar whole)."""

    def __init__(self, every: int, bar=None):
        self.every, self.bar, self.rows = every, bar, 0

    def write(self, step: int, split: str, metrics: dict[str, Any]) -> None:
        if self.every <= 0 or split not in ("train", "eval"):
            return
        if split == "train":
            self.rows += 1
            if self.rows % self.every:
                return
        line = console_line(step, split, metrics)
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    def video(self, step: int, name: str, path: Path, frames) -> None:
        pass

    def close(self, failed: bool = False) -> None:
        pass


def open_outputs(outputs, out: str | Path, config: dict, resumed_step: int | None) -> list:
    """The sinks `outputs` (log.outputs) asks for besides metrics.jsonl. `resumed_step`: the
    checkpoint's step the run resumes from (None: it starts from scratch), so the rows it
    redoes replace those an earlier attempt wrote after that step."""
    require(outputs)
    sinks: list = []
    purge = 0 if resumed_step is None else resumed_step + 1
    try:
        for name in dict.fromkeys(outputs):  # in order, once each
            if name == "tensorboard":
                sinks.append(TensorBoardSink(Path(out), purge))
            elif name == "wandb":
                sinks.append(WandbSink(Path(out), config))
    except BaseException:
        for sink in sinks:
            sink.close(failed=True)
        raise
    return sinks
