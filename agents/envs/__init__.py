"""Environments: the pixel suites (`registry`: one entry per suite, `suites`: the six entries
and a task to its environment) and N of them in worker processes (`parallel`)."""

# isort: off
from agents.envs.suites import (  # noqa: F401  (first: sets MUJOCO_GL before mujoco loads)
    DMC_TASKS,
    RENDER,
    DMCEnv,
    MetaWorldEnv,
    Obs,
    UnknownCameraError,
    UnknownTaskError,
    check_camera,
    check_task,
    configure_rendering,
    describe_task,
    known_tasks,
    make_env,
    metaworld_task_names,
    model_cameras,
)
from agents.envs.registry import (  # noqa: F401  (the suites, one entry each)
    SUITES,
    EnvOptions,
    EnvSpec,
    Score,
    Suite,
    get_suite,
    has_success,
    register,
    suite_names,
)
from agents.envs.atari import ATARI100K  # noqa: F401  (numpy only; ale-py loads on use)
from agents.envs.variables import check_environment  # noqa: F401
# isort: on
