"""A child process that dies with its parent: the environment workers and the local study
executor's runs both ask the kernel for it, so neither outlives the process that started it."""

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
