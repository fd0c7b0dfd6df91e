"""Offline world-model diagnostics: train one world model on a fixed dataset (scripted-expert
or replay-like episodes, agents/data/mixes.py), evaluate it on held-out episodes. No RL loop,
so a loss weighting's effect on the world model shows in minutes. Selected with
`train.mode=offline`; `agents.train` dispatches here.

Rows in metrics.jsonl use `step` = world-model updates. `train` rows: the raw losses, weights
and s_i (as online). `eval` rows, on the held-out episodes (see `heldout_metrics`): the reward
RMSE over the behaviour horizon (`reward_rmse_horizon`: H-step imaginations from every k-th
posterior state), the same frames' RMSE of a constant predictor that says the training mean
reward (`reward_rmse_baseline`) and the skill against it (`reward_skill_horizon`), the reward
RMSE from the posterior (`reward_rmse_post`) and whole-episode open loop after
`offline.context` frames (`reward_rmse_open_loop`), and the reconstruction MSE (`recon_mse`).
Each evaluation also keeps the world model's weights (`snapshots/wm_<updates>.pt`, see
`snapshot_path`), so analyses can probe the latents at every checkpoint, not only the last.
With `log.video_every`, evaluations also write the open-loop video of the first held-out
episode (agents/run/videos.py).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from agents.config import Config
from agents.data import experts
from agents.data.replay import Episode, Replay, batches_by_length
from agents.envs.variables import DATASETS_ENV
from agents.files import atomic_write_text
from agents.nets.latent import preprocess
from agents.run import checkpoint
from agents.run.logger import MetricsLogger
from agents.run.metrics import Metrics
from agents.run.session import Session, stream_state
from agents.run.status import hold_if_requested, keep_done, status_on_error, write_status
from agents.run.usage import Window


@dataclass
class Progress:
    updates: int = 0
    done: bool = False


def datasets_root(out: Path) -> Path:
    """Cached datasets live beside the runs (results/datasets/), or in $HD_DATASETS."""
    return Path(os.environ.get(DATASETS_ENV, Path(out).resolve().parent / "datasets"))


def snapshot_path(run_dir: str | Path, updates: int) -> Path:
    """The world model's weights after `updates` updates (written at each evaluation)."""
    return Path(run_dir) / "snapshots" / f"wm_{updates:06d}.pt"


def mean_reward(episodes: list[Episode]) -> float:
    """The constant predictor's guess: the mean reward of the training frames (t >= 1)."""
    return float(np.concatenate([ep["reward"][1:] for ep in episodes]).mean())


@torch.no_grad()
def heldout_metrics(wm, episodes: list[Episode], context: int, device, batch: int = 8,
                    recon: bool = True, horizon: int = 15, every: int = 10,
                    baseline: float | None = None) -> dict[str, float]:
    """Reward errors over `episodes`, each pooled over every predicted frame:

    - reward_rmse_horizon: `horizon`-step imaginations from every `every`-th posterior state
      given the real actions (what behaviour learning trains on); with `baseline` (a constant
      reward, the training mean) also reward_rmse_baseline, that constant's RMSE on the same
      frames, and reward_skill_horizon = 1 - horizon RMSE / baseline RMSE (> 0: beats it);
    - reward_rmse_post: from the posterior (filtering every frame);
    - reward_rmse_open_loop: the prior rolled from `context` frames to the episode's end;
    - recon_mse (with `recon`): reconstruction error per pixel.
    """
    sq = {"reward_rmse_post": 0.0, "reward_rmse_open_loop": 0.0, "recon_mse": 0.0,
          "reward_rmse_horizon": 0.0, "reward_rmse_baseline": 0.0}
    n = dict.fromkeys(sq, 0)
    for idx in batches_by_length(episodes, batch):
        image, action, reward = (
            torch.as_tensor(np.stack([episodes[i][k] for i in idx]), device=device)
            for k in ("image", "action", "reward"))
        out = wm.open_loop(image, action.float(), context, decode=recon)
        imagined, targets = wm.imagine_rewards(image, action.float(), horizon, every)
        truth = reward[:, targets]
        errors = {"reward_rmse_post": out["reward_post"] - reward,
                  "reward_rmse_open_loop": out["reward_open_loop"] - reward[:, context:],
                  "reward_rmse_horizon": imagined - truth}
        if baseline is not None:
            errors["reward_rmse_baseline"] = baseline - truth
        if recon:
            errors["recon_mse"] = out["recon"] - preprocess(image)
        for key, err in errors.items():
            sq[key] += float(err.pow(2).sum())
            n[key] += err.numel()
    rmse = {k: (sq[k] / n[k]) ** 0.5 for k in sq if k != "recon_mse" and n[k]}
    metrics = {k: rmse[k] for k in ("reward_rmse_horizon", "reward_rmse_post",
                                    "reward_rmse_open_loop")}
    if baseline is not None:
        metrics["reward_rmse_baseline"] = rmse["reward_rmse_baseline"]
        metrics["reward_skill_horizon"] = 1 - metrics["reward_rmse_horizon"] / max(
            metrics["reward_rmse_baseline"], 1e-12)
    if recon:
        metrics["recon_mse"] = sq["recon_mse"] / n["recon_mse"]
    return metrics


class OfflineTrainer:
    def __init__(self, cfg: Config, out: str | Path, progress_bar: bool = True):
        from agents.families import make_agent

        self.cfg, self.out, self.progress_bar = cfg, Path(out), progress_bar
        # Before minutes of data collection: a missing device or extra is one line now. The
        # checkpoint first: a finished run started again (a second command, a re-run after
        # its status.json was lost) must not say "running" for a moment, nor collect.
        self.session = Session(cfg, self.out, cfg.offline.updates, Progress(),
                               lambda p: p.updates)
        self.device, self.heartbeat = self.session.device, self.session.heartbeat
        self.p = self.session.progress
        self._resumed_step = self.session.resumed_step  # the checkpoint's update count
        if self.p.done:
            return  # run() writes "done" back if status.json lost it; nothing is loaded
        write_status(self.out, "running", step=self.p.updates,
                     phase="data")  # collecting the dataset, or waiting for it
        episodes = experts.load_or_collect(
            cfg, datasets_root(self.out), progress_bar,
            on_episode=lambda i, n: write_status(self.out, "running", step=self.p.updates,
                                                 phase="data", collected=i, episodes=n))
        self.train_eps, self.heldout = experts.split(cfg, episodes)
        # Written before training, so a checkpoint always has it beside it.
        first = len(self.train_eps)
        atomic_write_text(self.out / "heldout.json", json.dumps(
            {"dataset": str(datasets_root(self.out) / experts.dataset_key(self.cfg)),
             "episodes": list(range(first, first + len(self.heldout)))}))
        self.baseline = mean_reward(self.train_eps)  # the constant predictor's reward
        self.agent = make_agent(cfg, episodes[0]["action"].shape[-1], self.device)
        self.rng = np.random.default_rng(cfg.train.seed)
        self.replay = Replay(None, cfg.replay.capacity, cfg.replay.seq_len,
                             cfg.replay.prioritize_ends, self.rng)
        for ep in self.train_eps:
            self.replay.add(ep)
        self.logger = MetricsLogger(self.out / "metrics.jsonl")
        self.metrics = Metrics()  # summed on the device, read at each evaluation
        # The in-memory replay is rebuilt from the dataset: no episode files to restore.
        self.session.restore(self.agent, self.rng, self.logger, self._redo_evaluation)

    def _heldout(self) -> dict[str, float]:
        """The world model's held-out metrics now (in eval mode)."""
        self.agent.wm.eval()
        metrics = heldout_metrics(self.agent.wm, self.heldout, self.cfg.offline.context,
                                  self.device, horizon=self.cfg.behaviour.horizon,
                                  every=self.cfg.offline.horizon_every,
                                  baseline=self.baseline)
        self.agent.wm.train()
        return metrics

    def _redo_evaluation(self, record: dict | None) -> None:
        """The evaluation the checkpoint was taken after, whose row the resume cut (a damaged
        or torn line): computed again from the random state it started from (where the
        checkpoint recorded it), then the run's own random state is put back."""
        resumed = torch.get_rng_state()
        if isinstance(record, dict) and record.get("step") == self.p.updates:
            torch.set_rng_state(record["torch_rng"])
        self.logger.write(self.p.updates, "eval", self._heldout())
        torch.set_rng_state(resumed)
        print(f"warning: the evaluation at update {self.p.updates} was lost from "
              f"{self.logger.path}; recomputed from the checkpoint", file=sys.stderr)

    def _update(self) -> None:
        batch = self.agent.to_torch(self.replay.sample(self.cfg.replay.batch_size))
        with self.window.update():
            self.metrics.add(self.agent.train_world_model(batch, self.p.updates))
        self.p.updates += 1

    def _evaluate_and_checkpoint(self) -> dict[str, float]:
        self.logger.flush_mean(self.p.updates, "train", {**self.metrics.drain(self.p.updates),
                                                          **self.window.row(None, self.p.updates)})
        # The random state the evaluation starts from: a resume that lost its row redoes it.
        record = {"step": self.p.updates, "torch_rng": torch.get_rng_state()}
        metrics = self._heldout()
        self.logger.write(self.p.updates, "eval", metrics)
        self.p.done = self.p.updates >= self.cfg.offline.updates
        self._video()
        agent_state = self.agent.checkpoint_state()  # once: the snapshot is its wm part
        wm_only = {k: v for k, v in agent_state["modules"].items() if k.startswith("wm.")}
        path = snapshot_path(self.out, self.p.updates)
        path.parent.mkdir(exist_ok=True)
        checkpoint.save(path, {"modules": wm_only, "updates": self.p.updates},
                        keep_previous=False)
        checkpoint.save(self.out / "ckpt.pt", {
            "agent": agent_state, **stream_state(self.rng, self.logger),
            "progress": asdict(self.p), "config": self.cfg.to_dict(), "eval": record})
        self.heartbeat(self.p.updates, force=True)
        hold_if_requested()
        return metrics

    def _video(self) -> None:
        """The world model's open loop on the first held-out episode, at every
        log.video_every-th evaluation and the last (no policy: no episode video)."""
        log, o = self.cfg.log, self.cfg.offline
        index = -(-self.p.updates // o.eval_every) - 1  # this evaluation's, from 0
        if log.video_every == 0 or not (index % log.video_every == 0 or self.p.done):
            return
        from agents.run.videos import open_loop_frames, publish

        frames = open_loop_frames(self.agent.wm, self.heldout[0], log.video_context,
                                  log.video_max_frames, self.device)
        publish(self.out, self.p.updates, {"open_loop": frames}, self.logger.sinks)

    def run(self) -> dict[str, float]:
        from tqdm import tqdm

        from agents.run.outputs import ConsoleSink, open_outputs

        o = self.cfg.offline
        if self.p.done:  # finished: "done" stays (or is written back), nothing else
            return keep_done(self.out, self.p.updates)
        last: dict[str, float] = {}
        self.heartbeat(self.p.updates, force=True)
        bar = tqdm(total=o.updates, initial=self.p.updates, disable=not self.progress_bar,
                   desc=f"offline {self.cfg.env.task} {self.cfg.weighting.name}", unit="upd")
        failed = True
        try:
            with status_on_error(self.out, lambda: self.p.updates):
                self.logger.sinks = open_outputs(self.cfg.log.outputs, self.out,
                                                 self.cfg.to_dict(), self._resumed_step)
                if self.progress_bar:
                    self.logger.sinks.append(ConsoleSink(self.cfg.log.console_every, bar))
                self.window = Window(self.device, None, self.p.updates)
                while self.p.updates < o.updates:
                    self._update()
                    bar.update(1)
                    self.heartbeat(self.p.updates)
                    if self.p.updates % o.eval_every == 0 or self.p.updates == o.updates:
                        last = self._evaluate_and_checkpoint()
                        bar.set_postfix({k: f"{v:.3g}" for k, v in last.items()}, refresh=False)
            failed = False
        finally:
            bar.close()
            self.logger.close(failed)
        write_status(self.out, "done", step=self.p.updates, **last)
        return last
