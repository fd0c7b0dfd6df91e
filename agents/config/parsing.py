"""`key=value` overrides onto a Config (typed, checked per key), and a Config rebuilt from
its saved dict (config.json)."""

from __future__ import annotations

import dataclasses
from typing import Any

from agents.config.schema import Config, ConfigError


def _parse(value: Any, typ: Any, key: str) -> Any:
    if not isinstance(value, str):
        if typ == "float" and isinstance(value, int):
            return float(value)
        if str(typ).startswith("tuple") and isinstance(value, list):
            return tuple(value)
        return value
    try:
        if typ == "bool":
            low = value.lower()
            if low not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return low in ("true", "1", "yes")
        if typ == "int":
            return int(float(value)) if float(value).is_integer() else int(value)
        if typ == "float":
            return float(value)
        if typ.startswith("tuple[str"):  # a,b or [a,b] (quotes optional)
            return tuple(v.strip().strip("'\"") for v in value.strip("()[] ").split(",")
                         if v.strip().strip("'\""))
        if typ.startswith("tuple"):
            return tuple(int(v) for v in value.strip("()[] ").split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"bad value for {key}: {value!r} is not a valid {typ}") from None
    return value


def apply_overrides(cfg: Config, overrides: list[str] | dict[str, Any]) -> Config:
    """Apply `section.field=value` overrides in place; unknown keys raise ConfigError."""
    if isinstance(overrides, list):
        pairs = {}
        for item in overrides:
            key, sep, value = item.partition("=")
            if not sep:
                raise ConfigError(f"bad override {item!r}: expected key=value")
            pairs[key.strip()] = value.strip()
        overrides = pairs
    for key, value in overrides.items():
        section_name, _, name = key.partition(".")
        section = getattr(cfg, section_name, None)
        if not dataclasses.is_dataclass(section) or not name:
            raise ConfigError(f"unknown config key {key!r}")
        types = {f.name: f.type for f in dataclasses.fields(section)}
        if name not in types:
            raise ConfigError(f"unknown config key {key!r}")
        setattr(section, name, _parse(value, types[name], key))
    return cfg


def config_from_dict(data: dict[str, Any]) -> Config:
    """Rebuild a Config from its saved dict (config.json)."""
    cfg = Config(preset=data.get("preset", "paper"))
    flat = {f"{s}.{k}": v
            for s, sec in data.items() if isinstance(sec, dict) for k, v in sec.items()}
    for key, value in flat.items():
        if isinstance(value, list):
            flat[key] = tuple(value)
    apply_overrides(cfg, flat)
    return cfg


def flag_overrides(flags: dict[str, tuple[str, object]], overrides: list[str]) -> list[str]:
    """`key=value` overrides for the options that stand for a config key (`--agent` for
    model.agent: {"model.agent": ("--agent", value or None)}), to go before the `--set` ones.
    An option left out (None) sets nothing; one given with a `--set` of its key to another
    value is an error (ConfigError), not a silent choice of one of them."""
    out = []
    for key, (option, value) in flags.items():
        if value is None:
            continue
        sets = [item.partition("=")[2].strip() for item in overrides
                if item.partition("=")[0].strip() == key and "=" in item]
        if sets:
            ours, theirs = Config(), Config()
            apply_overrides(ours, {key: str(value)})
            apply_overrides(theirs, {key: sets[-1]})
            if ours.to_dict() != theirs.to_dict():
                raise ConfigError(f"{option} {value} and --set {key}={sets[-1]} disagree; "
                                  "give one of them")
        out.append(f"{key}={value}")
    return out
