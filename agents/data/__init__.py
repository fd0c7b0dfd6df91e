"""The data a run learns from: the replay buffer, episode files and playing episodes, and
the expert datasets of the offline diagnostics."""
