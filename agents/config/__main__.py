"""Config commands:

    python -m agents.config show [--preset P] [--task T] [--agent A] [--weighting W]
                                 [--set KEY=VALUE ...]

`show` prints the resolved config as a tree: every field, its value, `*` where the preset, the
task's suite or --set changed it from the schema default, and its one-line doc.
"""

from __future__ import annotations

import argparse
import sys

from agents.cli import Parser
from agents.config import PRESETS, ConfigError, flag_overrides, make_config
from agents.config.show import render


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m agents.config", description=__doc__,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    show = commands.add_parser("show", help="print the resolved config")
    show.add_argument("--preset", default="quick", help=", ".join(PRESETS))
    show.add_argument("--task", default="metaworld/lever-pull")
    show.add_argument("--agent", help="the same as --set model.agent=...")
    show.add_argument("--weighting", help="the same as --set weighting.name=...")
    show.add_argument("--set", dest="overrides", action="append", default=[],
                      metavar="KEY=VALUE", help="override any config field")
    args = parser.parse_args(argv)
    try:
        overrides = [*flag_overrides({"model.agent": ("--agent", args.agent),
                                      "weighting.name": ("--weighting", args.weighting)},
                                     args.overrides), *args.overrides]
        cfg = make_config(args.preset, args.task, overrides)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(render(cfg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
