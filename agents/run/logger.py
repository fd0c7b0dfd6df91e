"""Tidy metrics file: one JSON object per line (step, split, metric columns).

`pandas.read_json(path, lines=True)` reads it directly. The logger knows its byte offset so a
resumed run can cut the file back to what its checkpoint had seen: no row is duplicated or lost.
Every row also goes to the logger's sinks (`log.outputs`: TensorBoard, W&B; agents/run/outputs.py),
after it is in the file.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections import defaultdict
from pathlib import Path

from agents.files import writing


def is_row(obj: object) -> bool:
    """A metrics row: a JSON object with an integer `step` and a string `split`."""
    return (isinstance(obj, dict) and isinstance(obj.get("step"), int)
            and not isinstance(obj.get("step"), bool) and isinstance(obj.get("split"), str))


def parse_row(line: bytes | str) -> dict | None:
    """One line of metrics.jsonl as a row, or None where it is damaged or not a row."""
    try:
        row = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    return row if is_row(row) else None


class MetricsLogger:
    def __init__(self, path: str | Path, sinks: list | None = None):
        self.path = Path(path)
        self.path.touch(exist_ok=True)
        self._pending: dict[str, list[float]] = defaultdict(list)
        # Other outputs: objects with write(step, split, metrics) and close(failed)
        self.sinks: list = list(sinks or [])

    def close(self, failed: bool = False) -> None:
        """Close the sinks (metrics.jsonl is closed after every row)."""
        sinks, self.sinks = self.sinks, []
        for sink in sinks:
            sink.close(failed)

    @property
    def offset(self) -> int:
        return self.path.stat().st_size

    def truncate(self, offset: int, step: int | None = None) -> None:
        """Cut the file back to what a checkpoint had seen: its first `offset` bytes, the rows
        up to env step (or update) `step`. The cut lands only on a row boundary it has
        verified, so the next row can never fuse with a torn one: at `offset` when the line
        that ends there is the last row at or before `step`; else, when a damaged line (or a
        file shortened or lengthened by hand) moved the rows, after the last whole row at or
        before `step` (without `step`: at the last line boundary at or before `offset`),
        with one warning line. Damaged lines before the cut stay (readers skip them)."""
        if offset == 0:
            with open(self.path, "r+b") as f:
                f.truncate(0)
            return
        data = self.path.read_bytes()
        cut = self._verified_cut(data, offset, step)
        if cut != offset:
            seen = "the checkpoint's rows" if step is None else f"the rows up to step {step}"
            print(f"warning: {self.path} does not match its checkpoint at byte {offset} (a "
                  f"damaged line?); kept {seen}, cut at byte {cut}", file=sys.stderr)
        with open(self.path, "r+b") as f:
            f.truncate(cut)

    @staticmethod
    def _verified_cut(data: bytes, offset: int, step: int | None) -> int:
        lines, start = [], 0  # (end, row or None) of each whole line
        while (end := data.find(b"\n", start)) >= 0:
            lines.append((end + 1, parse_row(data[start:end])))
            start = end + 1
        if step is None:
            return max((end for end, _ in lines if end <= offset), default=0)
        # Rows are logged in step order: the checkpoint's are those before the first row past
        # its step; the cut follows the last of them.
        cut = 0
        for end, row in lines:
            if row is not None and row["step"] > step:
                break
            if row is not None:
                cut = end
        if cut < offset and any(c == offset for c, _ in lines):
            # Whole lines that are not rows between the last row and the offset (a damaged
            # row the checkpoint had seen) stay where they were, verified by the offset.
            later = [row for end, row in lines if cut < end <= offset]
            if all(row is None for row in later):
                cut = offset
        return cut

    def has_row(self, step: int, split: str) -> bool:
        """Whether the file holds a whole row of `split` at `step`."""
        with open(self.path, "rb") as f:
            return any(row is not None and row["step"] == step and row["split"] == split
                       for row in map(parse_row, f))

    def write(self, step: int, split: str, metrics: dict[str, float]) -> None:
        row = {"step": int(step), "split": split}
        row.update({k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                    for k, v in metrics.items()})
        with writing(self.path), open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())
        for sink in self.sinks:
            sink.write(row["step"], split, {k: v for k, v in row.items()
                                            if k not in ("step", "split")})

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
