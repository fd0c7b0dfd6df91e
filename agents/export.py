"""Write a finished or interrupted run to a dashboard after the fact:

    python -m agents.export RUN_DIR --tensorboard | --wandb

Every row of RUN_DIR/metrics.jsonl goes out as the run would have logged it with
`log.outputs` (`split/metric` scalars at the row's step; agents/run/outputs.py), and every
video in RUN_DIR/videos/ as `video/<kind>`. TensorBoard writes RUN_DIR/tb/; a run that already
has event files there is refused (delete tb/ to write it again). W&B continues the run's own
W&B run (its id is the directory's name), offline unless WANDB_MODE says otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from agents.cli import Parser
from agents.config import ConfigError

KINDS = ("eval", "open_loop")  # agents/run/videos.py: the kinds of video a run films


def export(run_dir: str | Path, output: str) -> dict[str, int]:
    """Write the run's rows and videos to `output` ("tensorboard" | "wandb"); returns how
    many of each went out."""
    from agents.run.logger import parse_row
    from agents.run.outputs import open_outputs

    run = Path(run_dir)
    if not run.is_dir() or not (run / "metrics.jsonl").is_file():
        raise ConfigError(f"{run_dir} is not a run directory (no metrics.jsonl)")
    if output == "tensorboard" and any((run / "tb").glob("events.out.tfevents.*")):
        raise ConfigError(f"{run / 'tb'} already holds TensorBoard events; delete it to "
                          "write them again")
    try:
        config = json.loads((run / "config.json").read_text())
    except (OSError, ValueError):
        config = {}
    with open(run / "metrics.jsonl", "rb") as f:
        rows = [row for row in map(parse_row, f) if row is not None]
    (sink,) = open_outputs([output], run, config, resumed_step=None)
    counts = {"rows": 0, "videos": 0}
    try:
        for row in rows:
            sink.write(row["step"], row["split"],
                       {k: v for k, v in row.items() if k not in ("step", "split")})
            counts["rows"] += 1
        for kind in KINDS:
            counts["videos"] += _videos(run, kind, sink)
    except BaseException:
        sink.close(failed=True)
        raise
    sink.close()
    return counts


def _videos(run: Path, kind: str, sink) -> int:
    import imageio.v3 as iio

    from agents.run.videos import videos

    done = 0
    for step, path in videos(run, kind):
        sink.video(step, kind, path, iio.imread(path))
        done += 1
    return done


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m agents.export", description=__doc__,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", metavar="RUN_DIR")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--tensorboard", dest="output", action="store_const", const="tensorboard")
    where.add_argument("--wandb", dest="output", action="store_const", const="wandb")
    args = parser.parse_args(argv)
    try:
        counts = export(args.run_dir, args.output)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print(f"exported {counts['rows']} rows and {counts['videos']} videos of {args.run_dir} "
          f"to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
