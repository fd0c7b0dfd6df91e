"""Run identity: the config without the fields that only say how a run is executed or
recorded, so equal identities are the same run (study/grid.py hashes it into the run id)."""

from __future__ import annotations

from typing import Any

from agents.config.parsing import config_from_dict
from agents.config.schema import Config

# How a run is executed or recorded, not what it computes: not part of a run's identity.
# Same run either way (a probe restores the random state it used; log.outputs only adds
# where the same rows go; videos draw on a forked random state; a compiled or a graphed
# update computes the eager one's maths, up to rounding as the thread count does).
EXECUTION_KEYS = (("train", "threads"), ("train", "cuda_graphs"), ("train", "compile"),
                  ("train", "probe_every"),
                  ("log", "outputs"), ("log", "video_every"), ("log", "video_max_frames"),
                  ("log", "video_context"), ("log", "console_every"))


# Fields added after runs existed, at the value that computes what those runs computed: left
# out of the identity at that value, so a finished run keeps its id (and is not run again)
# when the toolkit grows a switch it did not use.
LATER_KEYS = {("train", "overlap"): False, ("train", "chunk"): 0, ("offline", "data"): "expert",
              # the loss-balancing arena's parameters (agents/config/weightings.py)
              ("weighting", "gradnorm_alpha"): 1.5, ("weighting", "gradnorm_lr"): 0.025,
              ("weighting", "dwa_temperature"): 2.0, ("weighting", "dwa_window"): 100,
              ("weighting", "cagrad_c"): 0.4}


# Fields that only one value of another field reads: left out of the identity otherwise, so
# equal computations share one id (an expert dataset ignores offline.mix,
# a replay_like one offline.noise_pct).
UNREAD_KEYS = {("offline", "mix"): (("offline", "data"), "replay_like"),
               ("offline", "noise_pct"): (("offline", "data"), "expert")}


def identity(cfg: Config) -> dict[str, Any]:
    """The config as a dict without execution-only fields: equal identity = the same run."""
    data = config_from_dict(cfg.to_dict()).to_dict()  # round trip: tuples and lists agree
    for (section, key), ((on_section, on_key), value) in UNREAD_KEYS.items():
        if data[on_section].get(on_key) != value:
            data[section].pop(key, None)
    for section, key in EXECUTION_KEYS:
        data[section].pop(key, None)
        if not data[section]:  # a section of execution keys only (log): runs kept their ids
            del data[section]
    for (section, key), before in LATER_KEYS.items():
        if data[section].get(key) == before:
            del data[section][key]
    return data
