"""The machinery that runs an agent: the online loop, the offline diagnostics, the run
directory and its resume, checkpoints, logging, status, outputs, videos and CLI helpers."""
