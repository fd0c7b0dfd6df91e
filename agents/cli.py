"""The argument parser every command line of the project uses: bad input is one line.

argparse prints its usage block before an error; a user who typed a wrong option wants the
error, and scripts that parse stderr want one line. `--help` still shows the full usage.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def positive_int(text: str) -> int:
    """argparse type for counts: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def path_arg(what: str):
    """argparse type for a path option: the same refusal of an empty path (an unset shell
    variable) in every command, rather than the working directory by accident."""

    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"must name {what}, got an empty path")
        return text

    parse.__name__ = "path"  # argparse names the type in its message
    return parse
