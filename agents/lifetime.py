"""How a process ends: child processes that do not outlive their parent, and runs that stop
cleanly (interrupted, resumable) on SIGINT / SIGTERM."""

from __future__ import annotations

import signal


def die_with_parent(sig: signal.Signals = signal.SIGTERM) -> None:
    """Linux: have the kernel send `sig` to this process when its parent dies, even by
    SIGKILL (prctl PR_SET_PDEATHSIG); elsewhere a no-op."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig)
    except (OSError, AttributeError):
        pass


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
