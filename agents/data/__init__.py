"""The data a run learns from: the replay buffer, episode files and playing episodes, and
the datasets of the offline diagnostics (expert and replay_like)."""

from agents.data.mixes import describe as describe_mix  # noqa: F401
from agents.data.replay import (  # noqa: F401  (the front door study/ and analyses/ use)
    Episode,
    EpisodeFileError,
    batches_by_length,
    load_episode,
    with_terminal,
)
