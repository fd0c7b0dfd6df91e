"""What every environment suite shares: the observation type and the unknown-task error."""

from __future__ import annotations

import numpy as np

# {"image": uint8 H x W x 3, "state": float32 vector (the true simulator / console state)}
Obs = dict[str, np.ndarray]


class UnknownTaskError(ValueError):
    pass


class UnknownCameraError(ValueError):
    """A camera name (or DMC camera index) that the task's MuJoCo model does not have."""
