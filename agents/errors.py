"""The error of bad input that every command prints as one line (exit 2): a bad preset,
override key or value, or an environment variable the project cannot use. It lives below
every room that raises it; agents.config hands it on."""

from __future__ import annotations


class ConfigError(ValueError):
    """A bad preset, override key or value. The CLI prints it as one line and exits 2."""
