"""Episode replay: whole episodes in memory (and on disk), fixed-length sequence sampling.

Layout of an episode (DreamerV2 convention), arrays of length T+1:
  image[t], state[t]   observation at t
  action[t]            the action that led to t (zeros at t=0)
  reward[t]            the reward received on arriving at t (0 at t=0)
  success[t]           task success flag at t
  terminal[t]          1 where the episode ended in a true terminal state (Atari game over;
                       never on Meta-world / DMC, whose episodes are only cut by time)
Each finished episode is also written to `<dir>/ep_NNNNNN.npz` (atomically), so a resumed
run reloads exactly the episodes its checkpoint knew about.
"""

from __future__ import annotations

import errno
import os
import sys
from collections import deque
from pathlib import Path

import numpy as np

from agents.files import writing

Episode = dict[str, np.ndarray]
KEYS = ("image", "state", "action", "reward", "success", "terminal")


class EpisodeFileError(OSError):
    """An episode file that cannot be read (truncated, corrupt, missing, not an episode); its
    message names the file. An OSError: the command lines report it as an I/O failure."""

    def __init__(self, path: str | Path, why: str, code: int = errno.EIO):
        super().__init__(code, f"episode file {path} {why}", str(path))

    def __str__(self) -> str:
        return str(self.strerror)


def load_episode(path: str | Path) -> Episode:
    """One episode file, read whole (a lazily read .npz fails later, far from its name)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            episode = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise EpisodeFileError(path, "is missing", errno.ENOENT) from None
    except Exception as exc:  # BadZipFile, EOFError, zlib.error, ValueError, OSError...
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise EpisodeFileError(path, f"is unreadable ({detail})") from exc
    missing = [k for k in ("image", "action", "reward") if k not in episode]
    lengths = {v.shape[0] if v.ndim else -1 for v in episode.values()}
    if missing or len(lengths) != 1:
        what = f"no {', '.join(missing)}" if missing else "arrays of different lengths"
        raise EpisodeFileError(path, f"is not an episode ({what})")
    return with_terminal(episode)


def save_episode(path: str | Path, episode: Episode) -> None:
    """Write an episode atomically: a temporary file (removed if the write fails, e.g. on a
    full disk, which is then reported with `path`), fsynced, then renamed into place."""
    path = Path(path)
    tmp = path.with_suffix(".tmp.npz")
    with writing(path, tmp):
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **episode)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


def remove_temporaries(directory: str | Path) -> None:
    """Remove the temporary episode files a write cut short (a kill, a full disk) left."""
    for stale in Path(directory).glob("*.tmp.npz"):
        stale.unlink(missing_ok=True)


def episode_length(ep: Episode) -> int:
    return len(ep["reward"])


def batches_by_length(episodes: list[Episode], size: int):
    """Indices of equal-length episodes, `size` at a time (each group stacks into one batch)."""
    by_length: dict[int, list[int]] = {}
    for i, ep in enumerate(episodes):
        by_length.setdefault(episode_length(ep), []).append(i)
    for group in by_length.values():
        for start in range(0, len(group), size):
            yield group[start:start + size]


def with_terminal(episode: Episode) -> Episode:
    """The episode's KEYS, with an all-zero `terminal` where it has none (episodes and
    datasets saved before the key existed)."""
    out = {k: episode[k] for k in KEYS if k in episode}
    out.setdefault("terminal", np.zeros(len(episode["reward"]), np.float32))
    return out


class Replay:
    def __init__(self, directory: str | Path | None, capacity: int, seq_len: int,
                 prioritize_ends: bool, rng: np.random.Generator, ongoing: bool = False,
                 stream: bool = False):
        self.dir = Path(directory) if directory else None
        if self.dir:
            self.dir.mkdir(parents=True, exist_ok=True)
        self.capacity = capacity
        self.seq_len = seq_len
        self.prioritize_ends = prioritize_ends
        self.rng = rng
        self.episodes: deque[Episode] = deque()
        self.num_saved = 0  # episodes ever added (file index of the next one)
        self.num_steps = 0  # steps currently held
        # Sample from episodes still running too (DreamerV3's replay is a stream of steps;
        # DreamerV2's official replay samples finished episodes only).
        self.ongoing = ongoing
        self.running: list[EpisodeBuilder] = []
        # DreamerV3's official replay: windows over the stream of steps, across episodes.
        self.stream = stream

    def __len__(self) -> int:
        return len(self.episodes)

    def add(self, episode: Episode) -> None:
        episode = with_terminal({k: np.asarray(v) for k, v in episode.items()})
        if self.dir:
            save_episode(self.dir / f"ep_{self.num_saved:06d}.npz", episode)
        self.num_saved += 1
        self._hold(episode)

    def _hold(self, episode: Episode) -> None:
        self.episodes.append(episode)
        self.num_steps += episode_length(episode)
        while self.num_steps > self.capacity and len(self.episodes) > 1:
            self.num_steps -= episode_length(self.episodes.popleft())

    def restore(self, num_saved: int) -> None:
        """Reload the first `num_saved` episodes from disk; drop files written after them."""
        assert self.dir is not None
        self.episodes.clear()
        self.num_steps = 0
        remove_temporaries(self.dir)  # a write cut short by a kill or a full disk
        for path in sorted(self.dir.glob("ep_*.npz")):
            if int(path.stem.split("_")[1]) >= num_saved:
                path.unlink()
        damaged = []
        for index in range(num_saved):
            try:
                self._hold(load_episode(self.dir / f"ep_{index:06d}.npz"))
            except EpisodeFileError as exc:  # resume without it: replay is a sample anyway
                damaged.append(exc)
        if damaged:
            print(f"warning: resuming without {len(damaged)} damaged replay episode(s): "
                  + "; ".join(str(exc) for exc in damaged), file=sys.stderr)
        self.num_saved = num_saved

    def track(self, running: list[EpisodeBuilder]) -> None:
        """The episodes being collected now (sampled from when `ongoing`)."""
        self.running = running

    def _usable(self) -> list[Episode]:
        running = [b.view() for b in self.running] if self.ongoing else []
        return [ep for ep in (*self.episodes, *running) if episode_length(ep) >= self.seq_len]

    def ready(self) -> bool:
        """True once one training sequence can be sampled."""
        if self.stream:
            return sum(episode_length(ep) for ep in self._stream()) >= self.seq_len
        return bool(self._usable())

    def _stream(self) -> list[Episode]:
        """Every step held, episode after episode (then those still running, if `ongoing`)."""
        running = [b.view() for b in self.running] if self.ongoing else []
        return [*self.episodes, *running]

    def sample(self, batch_size: int) -> dict[str, np.ndarray]:
        """Batch of sequences [B, T, ...], each inside one episode, episodes weighted by length
        (the official DreamerV2 picks episodes uniformly: the same on fixed-length episodes,
        docs/equivalence.md), or with `stream` windows of the step stream."""
        if self.stream:
            return stream_windows(self._stream(), self.seq_len, batch_size, self.rng)
        usable = self._usable()
        if not usable:
            raise RuntimeError("replay holds no episode as long as one training sequence")
        lengths = np.array([episode_length(ep) for ep in usable], dtype=np.float64)
        chosen = self.rng.choice(len(usable), size=batch_size, p=lengths / lengths.sum())
        out: dict[str, list[np.ndarray]] = {k: [] for k in KEYS}
        for index in chosen:
            ep = usable[index]
            last_start = episode_length(ep) - self.seq_len
            if self.prioritize_ends:
                # Draw over the whole episode and clip: the final window gets extra mass, as
                # in the official code, so rare end-of-episode outcomes are seen more often.
                start = min(int(self.rng.integers(0, episode_length(ep))), last_start)
            else:
                start = int(self.rng.integers(0, last_start + 1))
            for k in KEYS:
                out[k].append(ep[k][start:start + self.seq_len])
        return {k: np.stack(v) for k, v in out.items()}


def stream_windows(episodes: list[Episode], seq_len: int, batch_size: int,
                   rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Windows drawn uniformly over every start in the stream of `episodes` laid end to end,
    so a window may run from one episode into the next, with `is_first` set where an episode
    starts and at each window's first step (the official DreamerV3 replay: a window for every
    step once seq_len steps exist, sampled uniformly, is_first[0] forced)."""
    lengths = np.array([episode_length(ep) for ep in episodes])
    ends = np.cumsum(lengths)
    total = int(ends[-1]) if len(ends) else 0
    if total < seq_len:
        raise RuntimeError("replay holds fewer steps than one training sequence")
    out: dict[str, list[np.ndarray]] = {k: [] for k in (*KEYS, "is_first")}
    for start in rng.integers(0, total - seq_len + 1, batch_size):
        parts: dict[str, list[np.ndarray]] = {k: [] for k in out}
        pos, need = int(start), seq_len
        index = int(np.searchsorted(ends, pos, side="right"))
        while need:
            ep, offset = episodes[index], pos - (int(ends[index - 1]) if index else 0)
            take = min(need, episode_length(ep) - offset)
            for k in KEYS:
                parts[k].append(ep[k][offset:offset + take])
            first = np.zeros(take, np.float32)
            first[0] = offset == 0 or need == seq_len
            parts["is_first"].append(first)
            pos, need, index = pos + take, need - take, index + 1
        for k, v in parts.items():
            out[k].append(np.concatenate(v))
    return {k: np.stack(v) for k, v in out.items()}


class EpisodeBuilder:
    """Collects one episode step by step in the layout above, in arrays that double when
    full, so an episode still running can be sampled from (`view`) without copying."""

    def __init__(self, obs, action_dim: int, capacity: int = 256):
        first = {"image": obs["image"], "state": np.asarray(obs["state"], np.float32),
                 "action": np.zeros(action_dim, np.float32), "reward": 0.0, "success": 0.0,
                 "terminal": 0.0}
        self.data = {k: np.zeros((capacity, *np.shape(v)),
                                 np.uint8 if k == "image" else np.float32)
                     for k, v in first.items()}
        self.n = 0
        self._put(first)

    def _put(self, step: dict) -> None:
        if self.n == len(self.data["reward"]):
            for k, v in self.data.items():
                self.data[k] = np.concatenate([v, np.zeros_like(v)])
        for k, v in step.items():
            self.data[k][self.n] = v
        self.n += 1

    def add(self, obs, action, reward, success, terminal: bool = False) -> None:
        self._put({"image": obs["image"], "state": obs["state"], "action": action,
                   "reward": reward, "success": success, "terminal": float(terminal)})

    def view(self) -> Episode:
        """The steps so far (views into the buffers: valid until the next `add`)."""
        return {k: v[:self.n] for k, v in self.data.items()}

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: v[:self.n].copy() for k, v in self.data.items()}
