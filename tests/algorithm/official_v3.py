"""The official HarmonyDream DreamerV3 (JAX), imported at test time to run beside ours.

Where it comes from: `$HD_OFFICIAL` (a clone of github.com/thuml/HarmonyDream, commit 0a22e33),
else `../shared/official/HarmonyDream` beside this checkout; its `dreamerv3-jax/dreamerv3`.
Nothing of it is copied into the project; tests that need it skip with one line.

Needs (not project dependencies): jax[cpu]==0.4.35, jaxlib==0.4.35, optax==0.2.3,
tensorflow-probability==0.25.0 (its jax substrate only) and ruamel.yaml. No TensorFlow:
`dreamerv3/__init__.py` imports `train.py`, which imports it, so `dreamerv3` is registered as a
bare package whose __path__ is the official folder, and only `dreamerv3.agent` is imported.

Shims (none touches the official files):
  - the official JAXAgent sets `jax_transfer_guard=disallow` process-wide; `official_agent`
    puts it back afterwards, so numpy arrays can go into the functions below;
  - the int64 -> int32 truncation warnings are filtered (its train.py does the same).

Everything here runs the official functions eagerly (no jit) on the given variables, through
ninjax's `pure`: `seed` is the ninjax RNG key, `jax.random.PRNGKey(seed)`, from which every
sample below is drawn in the official order. `noise`, where given, replaces the official
categorical sampling (`jaxutils.OneHotDist.sample`: RSSM latents and the discrete actor) by
an exponential race on the U(0, 1) draws that `noise(site, shape)` returns, so that a torch
implementation fed the same draws samples the same one-hot vectors; with `noise` the RSSM and
imagination scans are unrolled into Python loops (the same computation) so each step gets
its own draws.
"""

from __future__ import annotations

import contextlib
import os
import sys
import types
import warnings

import numpy as np
import pytest

from tests.algorithm.official import HOW, call_path, official_root

JAX_HOW = ("jax missing for the official DreamerV3: pip install 'jax[cpu]==0.4.35' "
           "jaxlib==0.4.35 optax==0.2.3 tensorflow-probability==0.25.0")

# The sites at which the official code draws categorical samples (see `_site`).
SITES = ("latent in obs", "discarded prior", "latent in imagine", "action in imagine",
         "action in policy")


def import_dreamerv3() -> types.SimpleNamespace:
    """The official dreamerv3 modules (skips the calling test where they cannot be imported)."""
    root = official_root("dreamerv3-jax/dreamerv3/agent.py")
    if root is None:
        pytest.skip(HOW)
    for name in ("jax", "optax", "tensorflow_probability", "ruamel.yaml"):
        pytest.importorskip(name, reason=JAX_HOW)
    folder = root / "dreamerv3-jax/dreamerv3"
    if "dreamerv3" not in sys.modules:
        # What dreamerv3/__init__.py does, less its `from .train import wrap_env` (TensorFlow).
        sys.path.append(str(folder))  # `import embodied`
        package = types.ModuleType("dreamerv3")
        package.__path__ = [str(folder)]
        sys.modules["dreamerv3"] = package
    warnings.filterwarnings("ignore", ".*truncated to dtype int32.*")
    import embodied
    import jax
    from dreamerv3 import agent, behaviors, jaxutils, nets
    from dreamerv3 import ninjax as nj

    return types.SimpleNamespace(root=root, embodied=embodied, agent=agent, nets=nets,
                                 jaxutils=jaxutils, nj=nj, behaviors=behaviors, jax=jax,
                                 configs=agent.Agent.configs)


def official_config(off, harmony: bool = True, updates: dict | None = None):
    """defaults + atari100k, as `train.py --configs atari100k --harmony True` builds it
    (train.py:29-33: defaults, then each named config, then the flags), on the CPU."""
    config = off.embodied.Config(off.configs["defaults"]).update(off.configs["atari100k"])
    return config.update({"harmony": harmony, "jax.platform": "cpu", "jax.prealloc": False,
                          **(updates or {})})


def spaces(off, num_actions: int, size=(64, 64)):
    """The obs and act spaces the official train.py sees for Atari (envs/atari.py:52-68 after
    OneHotAction and ExpandScalars, core/wrappers.py:94-150)."""
    Space = off.embodied.Space
    obs = {"image": Space(np.uint8, (*size, 3)), "reward": Space(np.float32),
           "is_first": Space(bool), "is_last": Space(bool), "is_terminal": Space(bool)}
    action = Space(np.float32, (num_actions,), 0, 1)
    action._discrete = True
    return obs, {"action": action, "reset": Space(bool)}


def official_agent(off, config, num_actions: int):
    """The official JAXAgent (its variables built by one dummy train step, jaxagent.py:221)."""
    obs_space, act_space = spaces(off, num_actions)
    jax = off.jax
    guard = jax.config.jax_transfer_guard
    try:
        with contextlib.redirect_stdout(open(os.devnull, "w")):
            agent = off.agent.Agent(obs_space, act_space, off.embodied.Counter(), config)
    finally:
        jax.config.update("jax_transfer_guard", guard)  # the agent sets "disallow"
    return agent


# --------------------------------------------------------------------------- variables


def is_optimizer_state(name: str) -> bool:
    return "_opt/" in name


def flatten(varibs: dict, optimizer: bool = False) -> dict[str, np.ndarray]:
    """Official variables as name -> numpy array; names are the ninjax paths
    ('agent/wm/rssm/gru/kernel'). Optimizer states (nested optax tuples) are left out
    unless `optimizer`, then named with jax keystr ('.../model_opt/state[1].mu[...]')."""
    jax = sys.modules["jax"]
    flat = {}
    for name, value in varibs.items():
        if is_optimizer_state(name):
            if not optimizer:
                continue
            for path, leaf in jax.tree_util.tree_leaves_with_path(value):
                flat[name + jax.tree_util.keystr(path)] = np.asarray(leaf)
        else:
            flat[name] = np.asarray(value)
    return flat


def parameters(agent, optimizer: bool = False) -> dict[str, np.ndarray]:
    """The agent's variables, flat (see `flatten`)."""
    return flatten(agent.varibs, optimizer)


def with_parameters(agent, flat: dict[str, np.ndarray]) -> dict:
    """A copy of the agent's variables with the given entries replaced (same names, shapes)."""
    jnp = sys.modules["jax.numpy"]
    varibs = dict(agent.varibs)
    for name, value in flat.items():
        assert name in varibs, f"no official variable {name}"
        old = varibs[name]
        assert tuple(old.shape) == tuple(np.shape(value)), (name, old.shape, np.shape(value))
        varibs[name] = jnp.asarray(value, dtype=old.dtype)
    return varibs


def model_keys(agent, varibs: dict) -> list[str]:
    """The variables the official model optimizer trains (agent.py:149-152)."""
    heads = ("enc", "rssm", "dec", "rew", "cont")
    if agent.agent.config.harmony:
        heads += ("har_s1", "har_s2", "har_s3")
    return sorted(k for k in varibs if any(k.startswith(f"agent/wm/{h}/") for h in heads))


def actor_keys(varibs: dict) -> list[str]:
    return sorted(k for k in varibs if k.startswith("agent/task_behavior/ac/actor/"))


def critic_keys(varibs: dict) -> list[str]:
    return sorted(k for k in varibs if k.startswith("agent/task_behavior/critic/net/"))


# --------------------------------------------------------------------------- noise


_SITE_NAMES = {"obs_step": "obs", "img_step": "img", "imagine": "imagine",
               "_imag_policy": "imagine", "policy": "policy"}


def _site() -> str:
    """Which official draw this is, from the functions that lead to it."""
    where = call_path(_SITE_NAMES, 3)
    if where[:1] == ["obs"]:
        return "latent in obs"
    if where[:2] == ["img", "obs"]:
        return "discarded prior"  # obs_step's prior sample: its stoch is never used
    if where[:2] == ["img", "imagine"]:
        return "latent in imagine"
    if where[:1] == ["imagine"]:
        return "action in imagine"
    if where[:1] == ["policy"]:
        return "action in policy"
    return "elsewhere: " + "/".join(where)


@contextlib.contextmanager
def patched_sampling(off, noise):
    """Replace jaxutils.OneHotDist.sample (every categorical draw of the official agent: RSSM
    latents, nets.py:99/121, and the discrete actor, agent.py:63-72/303) by the exponential
    race argmax(p / E), E = -log u, u = noise(site, shape), keeping its straight-through
    gradient (jaxutils.py:86-89). Officially the draw is argmax(logits + Gumbel(key)) in
    tfp's `stateless_categorical` (jax.random.gumbel), the same law."""
    if noise is None:
        yield
        return
    jax, jnp = off.jax, sys.modules["jax.numpy"]
    cls = off.jaxutils.OneHotDist
    original = cls.sample

    def sample(self, sample_shape=(), seed=None):
        extra = tuple(int(x) for x in np.atleast_1d(np.asarray(sample_shape)))
        probs = self.probs_parameter()
        shape = extra + tuple(probs.shape)
        # tfd.Independent asks for sample_shape=1: the draw is of the batch shape, [..., K].
        asked = shape[1:] if extra == (1,) else shape
        u = jnp.asarray(noise(_site(), asked), jnp.float32).reshape(shape)
        index = jnp.argmax(jnp.log(probs) - jnp.log(-jnp.log(u)), -1)
        hard = jax.nn.one_hot(index, shape[-1], dtype=self.dtype)
        probs = self._pad(probs, hard.shape)
        return jax.lax.stop_gradient(hard) + (probs - jax.lax.stop_gradient(probs)).astype(
            hard.dtype)

    cls.sample = sample
    try:
        yield
    finally:
        cls.sample = original


@contextlib.contextmanager
def _unrolled(agent, on: bool):
    """Unroll the RSSM observe scan and the imagination scan (rssm.unroll, imag_unroll)."""
    inner = agent.agent
    rssm, config = inner.wm.rssm, inner.wm.config
    if not on:
        yield
        return
    rssm._unroll, inner.wm.config = True, config.update({"imag_unroll": True})
    try:
        yield
    finally:
        rssm._unroll, inner.wm.config = False, config


class _Replayed:
    """Wraps `noise` so that reruns of one computation (for gradients) see the same draws."""

    def __init__(self, noise):
        self.noise, self.draws, self.index = noise, [], None

    def rerun(self):
        self.index = 0

    def __call__(self, site, shape):
        if self.index is None:
            u = self.noise(site, shape)
            self.draws.append((site, tuple(shape), u))
            return u
        recorded_site, recorded_shape, u = self.draws[self.index]
        assert (recorded_site, recorded_shape) == (site, tuple(shape)), (site, shape)
        self.index += 1
        return u


class Noise:
    """U(0, 1) streams, one per site, seeded: `noise(site, shape)`; `log` keeps every draw
    in order as (site, array) so that a torch run can replay them."""

    def __init__(self, seed: int = 0):
        self.seed, self.streams, self.log = seed, {}, []

    def __call__(self, site: str, shape) -> np.ndarray:
        if site not in self.streams:
            self.streams[site] = np.random.default_rng([self.seed, SITES.index(site)
                                                       if site in SITES else 99])
        u = self.streams[site].uniform(size=shape)
        u = np.clip(u, np.finfo(np.float32).tiny, 1 - 2 ** -24).astype(np.float32)
        self.log.append((site, u))
        return u


# --------------------------------------------------------------------------- batches


def preprocess_batch(batch: dict) -> dict:
    """A batch as the official replay gives it: image uint8 [B,T,H,W,3], action one-hot
    float32 [B,T,N] (the action taken *at* step t), reward float32 [B,T], is_first /
    is_last / is_terminal bool [B,T]. `cont` is derived by Agent.preprocess (agent.py:114)."""
    out = {"image": np.asarray(batch["image"], np.uint8),
           "action": np.asarray(batch["action"], np.float32),
           "reward": np.asarray(batch["reward"], np.float32)}
    for key in ("is_first", "is_last", "is_terminal"):
        out[key] = np.asarray(batch[key], bool)
    return out


def _run(off, agent, varibs, seed, fn, *args):
    nj, jax = off.nj, off.jax
    key = jax.random.PRNGKey(seed)
    out, state = nj.pure(fn)(dict(varibs), key, *args, create=False)
    return out, state


# --------------------------------------------------------------------------- world model


def _wm_loss_fn(agent):
    inner = agent.agent

    def wm_loss(data, state):
        data = inner.preprocess(data)
        if state is None:
            state = inner.wm.initial(len(data["is_first"]))
        loss, (state, outs, metrics) = inner.wm.loss(data, state)
        return loss, (outs, metrics, state, data)

    return wm_loss


def _terms(agent, outs, metrics, loss) -> dict:
    terms = {k[:-5]: np.asarray(v) for k, v in outs.items() if k.endswith("_loss")}
    result = {"total": float(loss), "per_step": terms,
              **{k: float(v.mean()) for k, v in terms.items()}}
    if agent.agent.config.harmony:
        for i in (1, 2, 3):
            result[f"harmony_s{i}"] = float(metrics[f"harmony_s{i}"])
    return result


def world_model_loss(off, agent, batch: dict, varibs: dict | None = None, seed: int = 0,
                     state=None, noise=None) -> dict:
    """The official world-model loss (WorldModel.loss, agent.py:158-215) on `batch`:
    {'total': the loss the model optimizer differentiates (mean over B, T),
     'image' | 'reward' | 'cont' | 'dyn' | 'rep': each term's mean, unweighted,
     'per_step': each term [B, T], 'harmony_s1..3' (harmony on): the s_i,
     'post': posterior {deter, stoch, logit} [B, T, ...], 'prior': likewise}.
    `state` (prev_latent, prev_action), default the initial state; the official replay
    sets is_first[:, 0] (replay/generic.py:107), which resets it anyway."""
    varibs = agent.varibs if varibs is None else varibs
    with patched_sampling(off, noise), _unrolled(agent, noise is not None):
        (loss, (outs, metrics, _, _)), _ = _run(off, agent, varibs, seed, _wm_loss_fn(agent),
                                                preprocess_batch(batch), state)
    result = _terms(agent, outs, metrics, loss)
    result["post"] = {k: np.asarray(v) for k, v in outs["post"].items()}
    result["prior"] = {k: np.asarray(v) for k, v in outs["prior"].items()}
    return result


def world_model_grads(off, agent, batch: dict, varibs: dict | None = None, seed: int = 0,
                      state=None, noise=None) -> tuple[dict, dict[str, np.ndarray]]:
    """(world_model_loss's dict, d total / d variable for every variable the official model
    optimizer trains), the raw gradient before the optimizer's clip_by_global_norm(1000)."""
    jax = off.jax
    varibs = dict(agent.varibs if varibs is None else varibs)
    keys = model_keys(agent, varibs)
    pure = off.nj.pure(_wm_loss_fn(agent))
    data, rng = preprocess_batch(batch), jax.random.PRNGKey(seed)

    def f(params):
        (loss, aux), _ = pure({**varibs, **params}, rng, data, state, create=False)
        return loss, aux

    with patched_sampling(off, noise), _unrolled(agent, noise is not None):
        (loss, (outs, metrics, _, _)), grads = jax.value_and_grad(f, has_aux=True)(
            {k: varibs[k] for k in keys})
    result = _terms(agent, outs, metrics, loss)
    return result, {k: np.asarray(v) for k, v in grads.items()}


def train_step(off, agent, batch: dict, varibs: dict | None = None, seed: int = 0, state=None):
    """One whole official train step (Agent.train: model, actor and critic updates and the
    slow critic), jitted as the official run does: (new variables, metrics, carried state).
    `state=None` takes the official initial state (jaxagent.py:70)."""
    jax = off.jax
    varibs = dict(agent.varibs if varibs is None else varibs)
    data = jax.device_put(preprocess_batch(batch))
    rng = jax.device_put(np.int32(seed))  # officially a numpy int64 (jaxagent.py:211-213)
    if state is None:
        state, varibs = agent._init_train(varibs, rng, data["is_first"])
    (outs, state, metrics), varibs = agent._train(varibs, rng, data, state)
    return varibs, {k: np.asarray(v) for k, v in metrics.items()}, state


# --------------------------------------------------------------------------- behaviour


def starts_from(post: dict, batch: dict) -> dict:
    """Imagination start states as Agent.train makes them (agent.py:82-83): the posterior and
    the data flattened over [B*T]; imagine keeps deter, stoch, logit and uses is_terminal."""
    start = {k: np.asarray(v) for k, v in post.items()}
    start["is_terminal"] = np.asarray(batch["is_terminal"], np.float32)
    return {k: v.reshape((-1,) + v.shape[2:]) for k, v in start.items()}


def _ac_fn(agent):
    inner = agent.agent
    ac = inner.task_behavior.ac
    critic = ac.critics["extr"]
    nj, jax = sys.modules["dreamerv3.ninjax"], sys.modules["jax"]
    sg = lambda x: jax.tree_util.tree_map(jax.lax.stop_gradient, x)

    def _imag_policy(s):  # the policy of ImagActorCritic.train (agent.py:303)
        return ac.actor(sg(s)).sample(seed=nj.rng())

    def ac_loss(start):
        traj = inner.wm.imagine(_imag_policy, start, ac.config.imag_horizon)
        actor_loss, actor_metrics = ac.loss(traj)  # also updates retnorm (written to state)
        target = sg(critic.score(traj)[1])
        critic_loss, _ = critic.loss(traj, target)
        return actor_loss, critic_loss, traj, target, actor_metrics

    return ac_loss


def actor_critic(off, agent, start: dict, varibs: dict | None = None, seed: int = 0,
                 noise=None, grads: bool = False) -> dict:
    """Imagination from `start` (starts_from) and the actor and critic losses, as
    ImagActorCritic.train computes them before its updates (agent.py:301-336, 366-407):
    {'actor_loss', 'critic_loss', 'traj': {deter, stoch, logit, action, cont, weight}
    [H+1, N, ...], 'target': λ-returns [H, N], 'retnorm': (low, high) after this batch's
    update}; with `grads`, also 'actor_grads' and 'critic_grads' (name -> array), each
    differentiated with the other net's variables held fixed, as the official does."""
    jax = off.jax
    varibs = dict(agent.varibs if varibs is None else varibs)
    fn = off.nj.pure(_ac_fn(agent))
    rng = jax.random.PRNGKey(seed)
    start = {k: np.asarray(v) for k, v in start.items()}
    prefix = "agent/task_behavior/ac/retnorm_extr/"
    noise = None if noise is None else _Replayed(noise)
    with patched_sampling(off, noise), _unrolled(agent, noise is not None):
        (actor_loss, critic_loss, traj, target, _), state = fn(varibs, rng, start,
                                                               create=False)
        out = {"actor_loss": float(actor_loss), "critic_loss": float(critic_loss),
               "traj": {k: np.asarray(v) for k, v in traj.items()},
               "target": np.asarray(target),
               "retnorm": (float(state[prefix + "low/value"]),
                           float(state[prefix + "high/value"]))}
        if grads:
            for which, keys, index in (("actor", actor_keys(varibs), 0),
                                       ("critic", critic_keys(varibs), 1)):
                if noise is not None:
                    noise.rerun()

                def f(params, index=index):
                    return fn({**varibs, **params}, rng, start, create=False)[0][index]
                g = jax.grad(f)({k: varibs[k] for k in keys})
                out[f"{which}_grads"] = {k: np.asarray(v) for k, v in g.items()}
    return out
