"""What every agent family shares: the device, Adam optimisers with global-norm clipping,
mixed precision, the non-finite loss guard, checkpoint state (`Learner`),
and the Dreamer update and acting step (`Dreamer`).

A family's Agent (agents/dreamerv2, agents/dreamerv3) subclasses `Dreamer`: it builds its
world model `wm` and `behaviour` (actor, critic, slow critic) and calls `make_optimisers`.

The update and the acting step never copy to the host: their metrics stay on the device
(agents/run/metrics.py sums them), so on CUDA both can run as CUDA graphs (`train.cuda_graphs`,
agents/update/graphs.py). Eager updates check every loss for NaN/Inf before the optimiser step (one
sync per update); graphed updates leave that check to the metrics' read-back (`Metrics`).
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

from agents.config import ConfigError
from agents.nets.latent import preprocess
from agents.update.acting import ActingCopy
from agents.update.graphs import CapturedStep
from agents.update.precision import amp_dtype


class NonFiniteLossError(RuntimeError):
    pass


def adam(params, lr: float, eps: float, weight_decay: float = 0.0,
         capturable: bool = False) -> torch.optim.Optimizer:
    """Adam with L2 weight decay added to the gradient before the moments, as the official
    code's torch.optim.Adam(weight_decay=wd) (not AdamW's decoupled decay)."""
    # foreach: one fused kernel launch per parameter group instead of one per tensor;
    # capturable: the step count lives on the device, as a CUDA graph needs.
    return torch.optim.Adam(params, lr=lr, eps=eps, weight_decay=weight_decay, foreach=True,
                            capturable=capturable)


def check_finite(logs: dict[str, torch.Tensor | float], total: torch.Tensor, step: int) -> None:
    """Stop on the first NaN/Inf raw loss (logged as loss_*) or total, naming it (one sync
    per update: the eager path's guard)."""
    losses = {k.removeprefix("loss_"): v for k, v in logs.items() if k.startswith("loss_")}
    for name, value in {**losses, "total world-model": total}.items():
        if not torch.isfinite(torch.as_tensor(value)):
            raise NonFiniteLossError(f"non-finite {name} loss ({float(value)}) at step {step}")


class Learner(nn.Module):
    def __init__(self, precision: str, device: torch.device, graphs: bool = False):
        super().__init__()
        self.device = device
        self.graphs = graphs and device.type == "cuda"  # CUDA graphs: on CUDA only
        self.opt: dict[str, torch.optim.Optimizer] = {}
        # Mixed precision (agents/update/precision.py): autocast on either device; fp16 also
        # scales each optimiser's loss by a GradScaler of its own, as the official code does.
        self.amp_dtype = amp_dtype(precision, device)
        if self.graphs and self.amp_dtype == torch.float16:
            raise ConfigError("train.cuda_graphs needs fp32 or bf16: fp16's gradient scaler "
                              "reads its overflow check on the host every step")
        self.scalers: dict[str, torch.amp.GradScaler] = {}
        self.updates = 0

    def scaler(self, name: str) -> torch.amp.GradScaler:
        """Optimiser `name`'s gradient scaler (PyTorch's defaults, the official settings:
        scale 2^16, x2 after 2,000 finite steps, x0.5 after an overflow); off unless fp16."""
        if name not in self.scalers:
            self.scalers[name] = torch.amp.GradScaler(
                self.device.type, enabled=self.amp_dtype == torch.float16)
        return self.scalers[name]

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        # Autocast's weight-cast cache would hold tensors from outside a graph's memory pool.
        return torch.autocast(self.device.type, dtype=self.amp_dtype,
                              cache_enabled=not self.graphs)

    def step(self, name: str, loss: torch.Tensor, params, clip: float) -> torch.Tensor:
        """One optimiser step on `loss` with global-norm clipping; returns the norm (on the
        device: clip_grad_norm_ scales by min(1, clip / norm) without a host sync)."""
        opt, scaler = self.opt[name], self.scaler(name)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        norm = nn.utils.clip_grad_norm_(params, clip, foreach=True)
        scaler.step(opt)  # skipped where the gradients overflowed
        scaler.update()
        return norm.detach()

    def to_torch(self, batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        """The batch on the device. To a GPU it goes through pinned memory without blocking:
        a copy from pageable memory would make the host wait for every kernel already queued
        (the last update's), so it could not step the envs while the GPU trains."""
        if self.device.type == "cuda":
            out = {k: torch.as_tensor(v).pin_memory().to(self.device, non_blocking=True)
                   for k, v in batch.items()}
        else:
            out = {k: torch.as_tensor(v, device=self.device) for k, v in batch.items()}
        # fp16: the batch's floats in fp16, as the official DreamerV2 feeds its model.
        floats = torch.float16 if self.amp_dtype == torch.float16 else torch.float32
        for k in ("action", "reward", "state", "terminal"):
            if k in out:
                out[k] = out[k].to(torch.float32 if k == "state" else floats)  # state: probes
        return out

    def checkpoint_state(self) -> dict:
        return {"modules": self.state_dict(),
                "opt": {k: o.state_dict() for k, o in self.opt.items()},
                "scalers": {k: self.scaler(k).state_dict() for k in self.opt},
                "updates": self.updates}

    def load_checkpoint_state(self, state: dict) -> None:
        self.load_state_dict(state["modules"])
        for k, o in self.opt.items():
            o.load_state_dict(state["opt"][k])
        for k in self.opt:  # one shared "scaler" in checkpoints written before per-optimiser ones
            self.scaler(k).load_state_dict(state["scalers"][k] if "scalers" in state
                                           else state["scaler"])
        self.updates = state["updates"]


class Dreamer(Learner):
    """One update = a world-model step, then an actor and a critic step in imagination; acting
    = encoder, one RSSM posterior step and the actor, batched over N envs."""

    wm: nn.Module
    behaviour: nn.Module
    #: Sample the posterior latent when acting greedily too, as both official codes do
    #: (wmlib-torch's eval_state_mean is False); the actor takes its mode.
    sample_posterior_in_eval = True

    def __init__(self, cfg, action_dim: int, device: torch.device):
        super().__init__(cfg.train.precision, device, cfg.train.cuda_graphs)
        self.cfg, self.action_dim = cfg, action_dim
        self._update_graph: CapturedStep | None = None
        self._wm_graph: CapturedStep | None = None
        self._act_graphs: dict[tuple, CapturedStep] = {}  # one per (N envs, explore)
        self.acting: ActingCopy | None = None  # train.overlap: the weights acting reads
        self.aggregator = None  # torchjd's, built at an aggregating weighting's first update

    def load_checkpoint_state(self, state: dict) -> None:
        super().load_checkpoint_state(state)
        # The optimisers' state tensors were replaced: a graph recorded against the old ones
        # must record again.
        self._update_graph, self._wm_graph, self._act_graphs = None, None, {}
        if self.acting is not None and self.acting.stream is not None:
            # the restored acting copy was written on this stream; acting reads it on its own
            self.acting.stream.wait_stream(torch.cuda.current_stream())

    def make_optimisers(self) -> None:
        m, b = self.cfg.model, self.cfg.behaviour
        self.to(self.device)
        g = self.graphs
        if self.wm.weighting.aggregates and self.amp_dtype == torch.float16:
            raise ConfigError("an aggregating weighting needs train.precision fp32 or bf16 "
                              "(auto is fp16 on CUDA, whose gradient scaler it cannot use)")
        own = {id(p) for p in self.wm.weighting.own_parameters()}  # GradNorm's weights
        model = [p for p in self.wm.parameters() if id(p) not in own]
        self.opt = {
            "model": adam(model, m.lr, m.eps, m.weight_decay, g),
            "actor": adam(self.behaviour.actor.parameters(), b.actor_lr, b.eps,
                          b.weight_decay, g),
            "critic": adam(self.behaviour.critic.parameters(), b.critic_lr, b.eps,
                           b.weight_decay, g),
        }
        if self.cfg.train.overlap:
            self.acting = ActingCopy({"wm": self.wm, "behaviour": self.behaviour}, self.device)

    @property
    def policy_lag(self) -> int:
        """Updates made since the weights acting reads (1 with train.overlap, else 0)."""
        return 0 if self.acting is None else self.updates - self.acting.updates

    def refresh_acting(self) -> None:
        """Acting reads the current weights (before each update with train.overlap, and
        before an evaluation, so it measures the agent as trained so far)."""
        if self.acting is not None:
            self.acting.refresh(self.updates)

    def start_states(self, post, data: dict[str, torch.Tensor]):
        """Where imagination starts, from the posterior states of a batch."""
        return post

    def update_world_model(self, data: dict[str, torch.Tensor], step: int = -1):
        """One world-model step; returns its logs (on the device) and the start states."""
        with self.autocast():
            wm_loss, logs, post = self.wm.loss(data)
        if not self.graphs:
            check_finite(logs, wm_loss, step)
        clip = self.cfg.model.clip
        if self.wm.weighting.aggregates:
            logs["grad_norm_model"] = self.aggregated_step(logs, clip)
        else:
            logs["grad_norm_model"] = self.step("model", wm_loss, self.wm.parameters(), clip)
        logs["clipped_model"] = (logs["grad_norm_model"] > clip).float()  # mean: the share
        return logs, self.start_states(post, data)

    def aggregated_step(self, logs: dict, clip: float) -> torch.Tensor:
        """The world-model step of an aggregator (agents/aggregation.py): each loss's gradient
        on the shared parameters (encoder, RSSM) combined by torchjd, each head's from its own
        loss; then clipping and the optimiser step as `step`. Adds the aggregator's logs."""
        from agents.aggregation import aggregated_backward, make_aggregator

        weighting, opt = self.wm.weighting, self.opt["model"]
        shared = [p for m in (self.wm.encoder, self.wm.rssm) for p in m.parameters()]
        ids = {id(p) for p in shared}
        heads = [p for p in self.wm.parameters() if id(p) not in ids and p.requires_grad]
        if self.aggregator is None:
            self.aggregator = make_aggregator(weighting.method, len(weighting.terms),
                                              weighting.cagrad_c)
        opt.zero_grad(set_to_none=True)
        logs.update(aggregated_backward(weighting.terms, shared, heads, self.aggregator))
        weighting.terms = None  # frees the graph's references
        norm = nn.utils.clip_grad_norm_(self.wm.parameters(), clip, foreach=True)
        opt.step()
        return norm.detach()

    def update_behaviour(self, start) -> dict[str, torch.Tensor]:
        """One actor and one critic step on imagined rollouts."""
        b = self.cfg.behaviour
        with self.autocast():
            actor_loss, critic_loss, logs = self.behaviour.losses(self.wm, start)
        logs["grad_norm_actor"] = self.step("actor", actor_loss,
                                            self.behaviour.actor.parameters(), b.clip)
        logs["grad_norm_critic"] = self.step("critic", critic_loss,
                                             self.behaviour.critic.parameters(), b.clip)
        for name in ("actor", "critic"):
            logs[f"clipped_{name}"] = (logs[f"grad_norm_{name}"] > b.clip).float()
        return logs

    def _update(self, data: dict[str, torch.Tensor], step: int = -1) -> dict:
        logs, start = self.update_world_model(data, step)
        logs.update(self.update_behaviour(start))
        return logs

    def update(self, batch: dict[str, np.ndarray], step: int = -1
               ) -> dict[str, torch.Tensor | float]:
        """One world-model update, then one actor and one critic update in imagination;
        returns the update's metrics, still on the device (see agents/run/metrics.py)."""
        return self.update_tensors(self.to_torch(batch), step)

    def update_tensors(self, data: dict[str, torch.Tensor], step: int = -1
                       ) -> dict[str, torch.Tensor | float]:
        """`update` on a batch already on the device."""
        self.refresh_acting()  # with train.overlap: acting keeps the weights before this update
        probes = self.probe(data) if self._probe_due(self.updates) else {}
        if self.graphs:
            if self._update_graph is None:
                self._update_graph = CapturedStep(self._update)
            logs = self._update_graph(data)
        else:
            logs = self._update(data, step)
        self.finish_update()
        return {**logs, **probes}

    def _probe_due(self, updates: int) -> bool:
        """Every `probe_every` updates, never before the first: an untrained model's gradients
        say nothing about which loss drives the representation while it learns."""
        every = self.cfg.train.probe_every
        return every > 0 and updates > 0 and updates % every == 0

    def probe(self, data: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each weighted world-model loss's gradient norm on the shared parameters (encoder
        and RSSM; agents/gradients.py), from a forward pass of its own on the update's batch.
        The random state is restored after it, so a probed run computes what an unprobed one
        does (on CUDA with graphs only the CPU's: a graph's generator is not reset)."""
        if self.wm.weighting.aggregates:
            return {}  # an aggregator's update measures them itself, every update
        shared = [*self.wm.encoder.parameters(), *self.wm.rssm.parameters()]
        devices = [self.device] if self.device.type == "cuda" and not self.graphs else []
        with torch.random.fork_rng(devices=devices), self.autocast():
            self.wm.weighting.probe = shared
            try:
                logs = self.wm.loss(data)[1]
            finally:
                self.wm.weighting.probe = None
        return {k: v.detach() for k, v in logs.items() if k.startswith("gradnorm_")}

    def finish_update(self) -> None:
        """Count the update; the slow critic follows after updates 1, 1 + every, 1 + 2 every,
        ... (the official schedule: its counter is checked before it is incremented)."""
        if self.updates % self.cfg.behaviour.target_every == 0:
            self.behaviour.update_target()  # in place: a graph's view of it stays valid
        self.updates += 1

    def train_world_model(self, data: dict[str, torch.Tensor], step: int = -1
                          ) -> dict[str, torch.Tensor | float]:
        """A world-model step alone (the offline diagnostics; `step` counts them), graphed as
        `update` is."""
        probes = self.probe(data) if step >= 0 and self._probe_due(step) else {}
        if not self.graphs:
            return {**self.update_world_model(data, step)[0], **probes}
        if self._wm_graph is None:
            self._wm_graph = CapturedStep(lambda d: self.update_world_model(d)[0])
        return {**self._wm_graph(data), **probes}

    def _acting_parts(self) -> tuple[nn.Module, nn.Module]:
        """The world model and behaviour acting reads (with train.overlap: their copies)."""
        if self.acting is None:
            return self.wm, self.behaviour
        return self.acting["wm"], self.acting["behaviour"]

    def _act(self, inputs: dict[str, torch.Tensor], explore: bool) -> dict[str, torch.Tensor]:
        wm, behaviour = self._acting_parts()
        with self.autocast():  # the official agent acts under autocast too
            embed = wm.encoder(preprocess(inputs["image"]))
            deter, stoch = wm.rssm.obs_step(inputs["deter"], inputs["stoch"], inputs["action"],
                                            embed, sample=explore or self.sample_posterior_in_eval)
            # Greedy evaluation takes the actor's mode unless behaviour.eval_greedy is off.
            sample = explore or not self.cfg.behaviour.eval_greedy
            action = behaviour.act(torch.cat([stoch, deter], -1), sample)
        return {"deter": deter, "stoch": stoch, "action": action}

    @torch.no_grad()
    def act(self, images: np.ndarray, state, explore: bool):
        """One policy step for N envs at once: uint8 images [N, H, W, 3] -> actions [N, A];
        state = (deter, stoch, previous action), batched the same way (None to start)."""
        # With train.overlap on CUDA: on its own stream, beside the update, not queued behind it.
        stream = contextlib.nullcontext() if self.acting is None else self.acting.on_stream()
        n = len(images)
        with stream:
            if state is None:
                # DreamerV3's initial state is learned: it comes from the weights acting reads.
                deter, stoch = self._acting_parts()[0].rssm.initial(n, self.device)
                state = (deter, stoch, torch.zeros(n, self.action_dim, device=self.device))
            inputs = dict(zip(("deter", "stoch", "action"), state, strict=True))
            inputs["image"] = torch.as_tensor(images, device=self.device)
            if self.graphs:
                key = (n, explore)
                if key not in self._act_graphs:
                    self._act_graphs[key] = CapturedStep(lambda x: self._act(x, explore))
                out = self._act_graphs[key](inputs)
                # The graph's outputs are overwritten by its next replay: the state is a copy.
                out = {k: v.clone() for k, v in out.items()}
            else:
                out = self._act(inputs, explore)
            return out["action"].float().cpu().numpy(), (out["deter"], out["stoch"],
                                                         out["action"])
