"""Files that are never seen half-written: a write that fails leaves no temporary file and
names its path if the disk was full (`writing`); text written then renamed into place
(`atomic_write_text`). Checkpoints, episodes, metrics and study indexes all write this way."""

from __future__ import annotations

import errno
import os
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


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write then rename, so readers never see a half-written file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with writing(path, tmp):
        tmp.write_text(text)
    os.replace(tmp, path)
