"""N environments stepped together: one simulator per worker process, frames in shared memory.

`EnvPool(spec, n)` builds `n` copies of the environment `spec` (an EnvSpec: task and
options, agents/envs/registry.py) describes. With n = 1 the env
lives in this process (no IPC: the CPU default stays as cheap as before). With n > 1 each env
runs in its own spawned process; a step sends every worker its action at once, so the
simulators and their renderers run in parallel, and each worker writes its frame into a
shared-memory array the pool reads without copying through a pipe.

A worker that raises reports the env and the exception, and the pool raises EnvWorkerError;
a worker that dies is reported the same way. Workers die with their parent (Linux
PR_SET_PDEATHSIG), so no simulator outlives a killed run.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
from multiprocessing.shared_memory import SharedMemory
from typing import Any

import numpy as np

from agents.envs.registry import EnvSpec
from agents.envs.suites import make_env
from agents.parent_death import die_with_parent


class EnvWorkerError(RuntimeError):
    """An environment worker raised or died; the message names the env and the cause."""


def _worker(spec: EnvSpec, index: int, conn, shm_name: str) -> None:
    die_with_parent(signal.SIGKILL)  # a simulator has nothing to save
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    shm = SharedMemory(name=shm_name)
    size = spec.options.size
    frame = np.ndarray((size, size, 3), np.uint8, buffer=shm.buf)
    env = None
    try:
        env = make_env(spec)
        conn.send(("ready", (env.action_dim, env.discrete)))
        while True:
            cmd, arg = conn.recv()
            if cmd == "close":
                break
            if cmd == "reset":
                obs, info = env.reset(arg)
                frame[:] = obs["image"]
                conn.send(("ok", (obs["state"], info)))
            else:
                obs, reward, terminated, truncated, info = env.step(arg)
                frame[:] = obs["image"]
                conn.send(("ok", (obs["state"], reward, terminated, truncated, info)))
    except (EOFError, KeyboardInterrupt):
        pass
    except BaseException as exc:  # reported to the parent, which raises it as one line
        try:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        except (OSError, ValueError):
            pass
    finally:
        if env is not None:
            env.close()
        del frame
        shm.close()


class EnvPool:
    """`n` environments of one spec; `reset(seeds)` and `step(actions)` act on a subset
    (indices) or all of them and return per-env results in index order."""

    def __init__(self, spec: EnvSpec, n: int):
        self.spec, self.n = spec, n
        self.action_repeat = spec.options.action_repeat
        self._local = make_env(spec) if n == 1 else None
        self._procs, self._conns, self._shms, self._frames = [], [], [], []
        if self._local is not None:
            self.action_dim, self.discrete = self._local.action_dim, self._local.discrete
            return
        ctx = mp.get_context("spawn")
        shape = (spec.options.size, spec.options.size, 3)
        try:
            for i in range(n):
                shm = SharedMemory(create=True, size=int(np.prod(shape)))
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_worker, args=(spec, i, child, shm.name), daemon=True,
                                   name=f"env-{i}")
                proc.start()
                child.close()
                self._shms.append(shm)
                self._frames.append(np.ndarray(shape, np.uint8, buffer=shm.buf))
                self._conns.append(parent)
                self._procs.append(proc)
            dims = {self._receive(i) for i in range(n)}
        except BaseException:
            self.close()
            raise
        self.action_dim, self.discrete = dims.pop()

    def _receive(self, i: int) -> Any:
        conn, proc = self._conns[i], self._procs[i]
        try:
            while not conn.poll(1.0):
                if not proc.is_alive():
                    raise EOFError
            kind, payload = conn.recv()
        except (EOFError, OSError):
            proc.join(5)  # reap it, so its exit code is known
            raise EnvWorkerError(f"env worker {i} ({self.spec.task}) died with exit code "
                                 f"{proc.exitcode}") from None
        if kind == "error":
            raise EnvWorkerError(f"env worker {i} ({self.spec.task}) failed: {payload}")
        return payload

    def _obs(self, i: int, state: np.ndarray) -> dict[str, np.ndarray]:
        return {"image": self._frames[i].copy(), "state": state}

    def reset(self, seeds: dict[int, int]) -> dict[int, tuple[dict, dict]]:
        """{env index: seed} -> {env index: (obs, info)}."""
        if self._local is not None:
            return {i: self._local.reset(s) for i, s in seeds.items()}
        for i, seed in seeds.items():
            self._conns[i].send(("reset", seed))
        out = {}
        for i in seeds:
            state, info = self._receive(i)
            out[i] = (self._obs(i, state), info)
        return out

    def step(self, actions: dict[int, np.ndarray]) -> dict[int, tuple]:
        """{env index: action} -> {env index: (obs, reward, terminated, truncated, info)}."""
        if self._local is not None:
            return {i: self._local.step(a) for i, a in actions.items()}
        for i, action in actions.items():
            self._conns[i].send(("step", action))
        out = {}
        for i in actions:
            state, reward, terminated, truncated, info = self._receive(i)
            out[i] = (self._obs(i, state), reward, terminated, truncated, info)
        return out

    def close(self) -> None:
        if self._local is not None:
            self._local.close()
            self._local = None
        for conn in self._conns:
            try:
                conn.send(("close", None))
            except (OSError, ValueError):
                pass
        for proc in self._procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for conn in self._conns:
            conn.close()
        self._frames.clear()
        for shm in self._shms:
            shm.close()
            shm.unlink()
        self._procs, self._conns, self._shms = [], [], []

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]
