"""Tidy metrics file: one JSON object per line (step, split, metric columns).

`pandas.read_json(path, lines=True)` reads it directly. The logger knows its byte offset so a
resumed run can cut the file back to what its checkpoint had seen: no row is duplicated or lost.
"""

from __future__ import annotations

import errno
import json
import math
import os
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _out_of_space(exc: BaseException | None) -> bool:
    while exc is not None:  # torch.save re-raises a full disk as a RuntimeError
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


@contextmanager
def writing(path: str | Path, tmp: str | Path | None = None) -> Iterator[None]:
    """Writes inside this block name `path` if the disk is full (ENOSPC with the path, however
    the library reported it), and remove the temporary file `tmp` on any failure."""
    try:
        yield
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if _out_of_space(exc):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from exc
        raise


class MetricsLogger:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.touch(exist_ok=True)
        self._pending: dict[str, list[float]] = defaultdict(list)

    @property
    def offset(self) -> int:
        return self.path.stat().st_size

    def truncate(self, offset: int) -> None:
        with open(self.path, "r+b") as f:
            f.truncate(offset)

    def write(self, step: int, split: str, metrics: dict[str, float]) -> None:
        row = {"step": int(step), "split": split}
        row.update({k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                    for k, v in metrics.items()})
        with writing(self.path), open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def accumulate(self, metrics: dict[str, float]) -> None:
        for k, v in metrics.items():
            self._pending[k].append(float(v))

    def flush_mean(self, step: int, split: str, extra: dict[str, float] | None = None) -> None:
        """Write the mean of everything accumulated since the last flush as one row."""
        if not self._pending and not extra:
            return
        row = {k: sum(v) / len(v) for k, v in self._pending.items()}
        row.update(extra or {})
        self._pending.clear()
        self.write(step, split, row)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write then rename, so readers never see a half-written file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with writing(path, tmp):
        tmp.write_text(text)
    os.replace(tmp, path)
