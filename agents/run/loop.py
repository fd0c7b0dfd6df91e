"""The online loop: env -> replay -> world model -> behaviour -> logger, resumable.

Each run directory receives config.json, metrics.jsonl (tidy rows), status.json, ckpt.pt and
replay/. Starting the same run again resumes from the last checkpoint; a finished run does
nothing. Checkpoints are taken at episode boundaries, so the simulator never needs to be
pickled. `python -m agents.train` (agents/train.py) is its command line.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from agents.config import Config
from agents.data.episodes import episode_seed, evaluation_episodes, play, random_state, summary
from agents.run import checkpoint
from agents.run.logger import MetricsLogger
from agents.run.metrics import Metrics
from agents.run.session import Session, stream_state
from agents.run.status import (
    hold_if_requested,
    keep_done,
    status_on_error,
    write_status,
)
from agents.run.usage import Window
from agents.update.learner import NonFiniteLossError


@dataclass
class Progress:
    step: int = 0  # env steps (frames)
    episodes: int = 0
    last_train: int = 0  # env step of the last scheduled update
    pretrained: bool = False
    next_eval: int = 0
    next_log: int = 0  # set to log_every on a fresh run
    next_checkpoint: int = 0
    evals: int = 0
    done: bool = False


def next_multiple(step: int, every: int) -> int:
    """Cadences sit on a fixed grid (every K env steps), whatever the episode length."""
    return (step // every + 1) * every


def chunk_evaluation(step: int, next_eval: int, t) -> tuple[bool, int]:
    """At a chunk boundary of a chunked run (train config `t`): evaluate now? and the next
    evaluation step if not. As the official train_eval's `when.Every(eval_every,
    eval_initial)`: checks begin after the prefill; the first says `eval_initial`, and
    schedules the next evaluation on the grid past it; none at the run's end."""
    if step >= t.steps or step < t.prefill:
        return False, next_eval
    if step - t.chunk < t.prefill:  # the first boundary after the prefill
        if t.eval_initial:
            return True, next_eval
        return False, t.eval_offset + next_multiple(step - t.eval_offset, t.eval_every)
    return step >= next_eval, next_eval


class Trainer:
    def __init__(self, cfg: Config, out: str | Path, progress_bar: bool = True):

        from agents.data.replay import Replay
        from agents.envs.parallel import EnvPool, EnvSpec
        from agents.families import make_agent

        self.cfg, self.out = cfg, Path(out)
        t = cfg.train
        fresh = Progress(next_log=t.log_every,
                         next_eval=t.eval_offset + (0 if t.eval_initial else t.eval_every))
        self.session = Session(cfg, self.out, t.steps, fresh, lambda p: p.step)
        self.device, self.heartbeat = self.session.device, self.session.heartbeat
        self.p = self.session.progress
        e = cfg.env
        self.spec = EnvSpec.of(e)
        self.envs = EnvPool(self.spec, e.num_envs)
        self.eval_envs = None  # chunked runs evaluate in envs of their own, made when first due
        self.agent = make_agent(cfg, self.envs.action_dim, self.device)
        self.rng = np.random.default_rng(cfg.train.seed)
        self.replay = Replay(self.out / "replay", cfg.replay.capacity, cfg.replay.seq_len,
                             cfg.replay.prioritize_ends, self.rng, cfg.replay.ongoing,
                             cfg.replay.stream)
        self.logger = MetricsLogger(self.out / "metrics.jsonl")
        self.metrics = Metrics()  # update metrics, summed on the device between log rows
        self.progress_bar = progress_bar
        self._last_eval: dict[str, float] = {}
        # The last evaluation: its step, first episode index and the random state it started
        # from. Checkpoints keep it, so agents.evaluate can redo the evaluation a checkpoint
        # was taken after; it changes nothing the run computes.
        self._eval_record: dict | None = self.session.eval_record
        self._resumed_step = self.session.resumed_step  # the checkpoint's step, when resumed
        self._t0, self._s0 = time.time(), 0
        self.session.restore(self.agent, self.rng, self.logger, self._redo_evaluation,
                             self.replay)

    # --- persistence --------------------------------------------------------------------

    def _redo_evaluation(self, record: dict | None) -> None:
        """The evaluation the checkpoint was taken after, whose row the resume cut (a damaged
        or torn line): played again from the random state it started from, on the same
        episodes, so the run's evaluation series has no hole. The run's own random streams
        are put back after it. Nothing where the checkpoint followed no evaluation."""
        from agents.data.episodes import random_state, set_random_state

        if not (isinstance(record, dict) and record.get("step") == self.p.step):
            return
        resumed = random_state(self.device)
        self.agent.refresh_acting()
        set_random_state(record, self.device)
        self._last_eval = self._play_evaluation(int(record["first"]))
        self.logger.write(self.p.step, "eval", self._last_eval)
        set_random_state(resumed, self.device)
        print(f"warning: the evaluation at step {self.p.step} was lost from "
              f"{self.logger.path}; recomputed from the checkpoint", file=sys.stderr)

    def save_checkpoint(self) -> None:

        # Never checkpoint weights a non-finite (graphed) update has touched.
        self.metrics.check_finite(self.p.step)

        checkpoint.save(self.out / "ckpt.pt", {
            "agent": self.agent.checkpoint_state(),
            **stream_state(self.rng, self.logger, self.replay),
            "progress": asdict(self.p),
            "config": self.cfg.to_dict(),
            "eval": self._eval_record,
        })
        self.heartbeat(self.p.step, force=True)  # for study.status
        hold_if_requested()

    # --- loop ----------------------------------------------------------------------------
    def run(self) -> dict[str, float]:
        from tqdm import tqdm

        from agents.run.outputs import ConsoleSink, open_outputs

        cfg = self.cfg.train
        if self.p.done:  # finished: "done" stays (or is written back), nothing else
            self.envs.close()
            return keep_done(self.out, self.p.step)
        self.heartbeat(self.p.step, force=True)
        bar = tqdm(total=cfg.steps, initial=self.p.step, disable=not self.progress_bar,
                   desc=f"{self.cfg.env.task} {self.cfg.weighting.name} s{cfg.seed}",
                   unit="step", dynamic_ncols=True, mininterval=1.0)
        self._t0, self._s0 = time.time(), self.p.step
        self.window = Window(self.device, self.p.step, self.agent.updates)
        failed = True
        try:
            with status_on_error(self.out, lambda: self.p.step):
                self.logger.sinks = open_outputs(self.cfg.log.outputs, self.out,
                                                 self.cfg.to_dict(), self._resumed_step)
                if self.progress_bar:
                    self.logger.sinks.append(ConsoleSink(self.cfg.log.console_every, bar))
                self._loop(bar)
            failed = False
        finally:
            bar.close()
            self.envs.close()
            if self.eval_envs is not None:
                self.eval_envs.close()
            self.logger.close(failed)
        write_status(self.out, "done", step=self.p.step, **self._last_eval)
        return self._last_eval

    def _loop(self, bar) -> None:
        cfg = self.cfg.train
        while not self.p.done:
            self.collect_round(bar)
            # Chunked runs evaluate between chunks (collect_round), not at the end.
            if not cfg.chunk and (self.p.step >= self.p.next_eval or self.p.step >= cfg.steps):
                self._evaluate()
                bar.set_postfix(self._postfix(), refresh=False)
            self.p.done = self.p.step >= cfg.steps
            if self.p.step >= self.p.next_checkpoint or self.p.done:
                self.p.next_checkpoint = next_multiple(self.p.step, cfg.checkpoint_every)
                self.save_checkpoint()

    def _fps(self) -> float:
        return (self.p.step - self._s0) / max(time.time() - self._t0, 1e-9)

    def _postfix(self) -> dict[str, str]:
        post = {"fps": f"{self._fps():.1f}"}
        post.update({f"eval_{k}": f"{v:.3g}" for k, v in self._last_eval.items()
                     if k in ("success", "return")})
        return post

    def _run_episodes(self, seeds: dict[int, int], policy, on_step,
                      track: bool = False) -> dict[int, dict]:
        """`play` in the training envs (`track`: replay may sample the episodes while they
        run) or in the envs evaluation runs in."""
        if track:
            return play(self.envs, seeds, policy, on_step, self.replay.track)
        return play(self._eval_pool(), seeds, policy, on_step)

    def _eval_pool(self):
        """The envs evaluation runs in: the training envs, or (chunked runs, whose training
        episodes stay open across an evaluation) a pool of their own."""
        from agents.envs.parallel import EnvPool

        if not self.cfg.train.chunk:
            return self.envs
        if self.eval_envs is None:
            self.eval_envs = EnvPool(self.spec, self.envs.n)
        return self.eval_envs

    def _explore(self, images: np.ndarray, state):
        """Random actions during prefill, then the exploring policy."""
        if self.p.step < self.cfg.train.prefill:
            n, dim = len(images), self.envs.action_dim
            if self.envs.discrete:  # uniform over the actions, one-hot
                return np.eye(dim, dtype=np.float32)[self.rng.integers(0, dim, n)], state
            return self.rng.uniform(-1, 1, (n, dim)).astype(np.float32), state
        return self._act(images, state, explore=True)

    def _act(self, images: np.ndarray, state, explore: bool):
        actions, state = self.agent.act(images, state, explore)
        if not np.isfinite(actions).all():  # free: the actions are on the host anyway
            self.metrics.check_finite(self.p.step)  # names the loss a graphed update broke
            raise NonFiniteLossError(f"non-finite action at step {self.p.step}")
        return actions, state

    def collect_round(self, bar) -> None:
        """One episode per env (N at once), stored in env order; train at the update ratio,
        which counts env steps summed over all envs. A chunked run evaluates at chunk
        boundaries and stops at `steps` mid-round (the unfinished episodes are dropped)."""
        cfg, n = self.cfg.train, self.envs.n
        episode_round = self.p.episodes // n

        def on_step(live: int) -> bool:
            self.p.step += live * self.envs.action_repeat
            bar.update(live * self.envs.action_repeat)
            self.heartbeat(self.p.step)
            self._train_if_due()
            if self.p.step >= self.p.next_log:
                self.p.next_log = next_multiple(self.p.step, cfg.log_every)
                self.logger.flush_mean(self.p.step, "train",
                                       {**self.metrics.drain(self.p.step),
                                        "fps": round(self._fps(), 2),
                                        **self.window.row(self.p.step, self.agent.updates),
                                        "updates": self.agent.updates,
                                        "policy_lag": self.agent.policy_lag})
                bar.set_postfix(self._postfix(), refresh=False)
            if not cfg.chunk or self.p.step % cfg.chunk:
                return False
            due, self.p.next_eval = chunk_evaluation(self.p.step, self.p.next_eval, cfg)
            if due:
                self._evaluate()
                bar.set_postfix(self._postfix(), refresh=False)
            return self.p.step >= cfg.steps

        seeds = {i: episode_seed(cfg.seed, 0, i, episode_round) for i in range(n)}
        for ep in self._run_episodes(seeds, self._explore, on_step, track=True).values():
            self.replay.add(ep)
            self.p.episodes += 1
            self.logger.write(self.p.step, "episode",
                              summary(ep, self.envs.action_repeat, self.cfg.env.task))

    def _train_if_due(self) -> None:
        cfg = self.cfg.train
        if self.p.step < cfg.prefill:
            self.p.last_train = self.p.step
            return
        if not self.p.pretrained:
            # Training starts once replay holds a sequence-long episode (after prefill).
            if not self.replay.ready():
                self.p.last_train = self.p.step
                return
            for _ in range(cfg.pretrain):
                self._update()
            self.p.pretrained = True
        while self.p.step - self.p.last_train >= cfg.train_every:
            self.p.last_train += cfg.train_every
            self._update()

    def _update(self) -> None:
        batch = self.replay.sample(self.cfg.replay.batch_size)
        with self.window.update():
            self.metrics.add(self.agent.update(batch, self.p.step))

    def _evaluate(self) -> None:
        """`eval_episodes` evaluation episodes (behaviour.eval_greedy), up to N at a time."""
        cfg = self.cfg.train
        self.agent.refresh_acting()  # evaluate the weights as trained so far (no lag)
        first = self.p.evals * cfg.eval_episodes
        self._eval_record = {"step": self.p.step, "first": first,
                             "episodes": cfg.eval_episodes, **random_state(self.device)}
        every = self.cfg.log.video_every
        kept: dict[int, dict] = {}  # the first episode, when this evaluation makes videos
        filmed = every > 0 and (self.p.evals % every == 0 or self.p.step >= cfg.steps)
        self._last_eval = self._play_evaluation(
            first, (lambda i, ep: kept.setdefault(0, ep)) if filmed else None)
        self.logger.write(self.p.step, "eval", self._last_eval)
        if kept:
            self._videos(kept[0])
        self.p.evals += 1
        offset = cfg.eval_offset  # evaluations at offset + k * eval_every
        self.p.next_eval = offset + next_multiple(self.p.step - offset, cfg.eval_every)

    def _play_evaluation(self, first: int, on_episode=None) -> dict[str, float]:
        """The evaluation episodes from index `first`: mean return, success (and Crafter's
        achievement rates)."""
        cfg = self.cfg.train
        rows = evaluation_episodes(
            self._eval_pool(), lambda images, state: self._act(images, state, explore=False),
            cfg.seed, first, cfg.eval_episodes, on_episode)
        metrics = {"return": float(np.mean([row["return"] for row in rows]))}
        if "success" in rows[0]:  # the suite has a success flag (Meta-world)
            metrics["success"] = float(np.mean([row["success"] for row in rows]))
        metrics["episodes"] = len(rows)
        # Crafter: each achievement's success rate over the evaluation episodes.
        metrics.update({k: float(np.mean([row[k] for row in rows]))
                        for k in rows[0] if k.startswith("achievement_")})
        return metrics

    def _videos(self, episode: dict) -> None:
        """An evaluation episode and the world model's open loop on it (log.video_every)."""
        from agents.run.videos import episode_video, open_loop_frames, publish

        log = self.cfg.log
        frames = {"eval": episode_video(episode["image"][:log.video_max_frames],
                                        episode["reward"][:log.video_max_frames]),
                  "open_loop": open_loop_frames(self.agent.wm, episode, log.video_context,
                                                log.video_max_frames, self.device)}
        publish(self.out, self.p.step, frames, self.logger.sinks)
