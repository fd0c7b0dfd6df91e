"""The acting step (`Acting`, a part of every agent) and acting while the GPU trains
(`train.overlap`, `ActingCopy`): the weights the acting step reads.

A serial loop alternates: step the envs, launch an update, wait for it, act with the new
weights. With `train.overlap` the acting step reads its own copy of the world model and
behaviour, refreshed just before each update is launched: while update u runs, actions come
from the weights after update u-1. The policy lag is therefore exactly one update (logged as
`policy_lag`), never more, and acting never reads weights an update is writing. The update
ratio is untouched: the same updates at the same env steps on the same batches; only the
weights each action reads are one update older (as in danijar/dreamerv3's parallel runner,
where the lag is bounded but varies with timing; here it is fixed, so a run is as
reproducible as a serial one).

On CUDA the acting step runs on its own stream. The host launches a (graphed) update, which
returns at once, then acts and steps the envs while the GPU trains; a refresh orders itself
after the acts already issued and before the next update, on the GPU, without a host wait.
On the CPU the same computation runs in order, so CPU tests check what a GPU run computes.
"""

from __future__ import annotations

import contextlib
import copy

import numpy as np
import torch
from torch import nn

from agents.nets.latent import preprocess
from agents.update.graphs import CapturedStep


class ActingCopy(nn.Module):
    """A frozen copy of `parts` ({name: module}) that acting reads, and the stream it runs on.
    Registered in the learner, so checkpoints hold it and a resumed run acts as it would
    have."""

    def __init__(self, parts: dict[str, nn.Module], device: torch.device):
        super().__init__()
        self.parts = nn.ModuleDict({k: copy.deepcopy(m) for k, m in parts.items()})
        self.parts.requires_grad_(False)
        self._src = [t for m in parts.values() for t in (*m.parameters(), *m.buffers())]
        self._dst = [t for m in self.parts.values() for t in (*m.parameters(), *m.buffers())]
        self.stream = torch.cuda.Stream(device) if device.type == "cuda" else None
        self.updates = 0  # the learner's update count when the copy was taken

    def __getitem__(self, name: str) -> nn.Module:
        return self.parts[name]

    @torch.no_grad()
    def refresh(self, updates: int) -> None:
        """Copy the live weights in (on CUDA, after every act issued so far, and before any
        act issued from now on)."""
        if self.stream is not None:
            torch.cuda.current_stream().wait_stream(self.stream)
        torch._foreach_copy_(self._dst, self._src)  # one launch, not one per tensor
        if self.stream is not None:
            self.stream.wait_stream(torch.cuda.current_stream())
        self.updates = updates

    def on_stream(self):
        """Where acting runs: its own CUDA stream, or the current one on the CPU."""
        return torch.cuda.stream(self.stream) if self.stream else contextlib.nullcontext()

    def get_extra_state(self) -> dict:
        return {"updates": self.updates}

    def set_extra_state(self, state: dict) -> None:
        self.updates = state["updates"]


class Acting:
    """The acting step of a `Dreamer` (a mixin: it reads the agent's `wm`, `behaviour`, `cfg`,
    `device`, `graphs`, `acting` and `autocast`): encoder, one RSSM posterior step and the
    actor, batched over N envs, as a CUDA graph per (N, explore) where graphs are on."""

    #: Sample the posterior latent when acting greedily too, as both official codes do
    #: (wmlib-torch's eval_state_mean is False); the actor takes its mode.
    sample_posterior_in_eval = True

    @property
    def policy_lag(self) -> int:
        """Updates made since the weights acting reads (1 with train.overlap, else 0)."""
        return 0 if self.acting is None else self.updates - self.acting.updates

    def refresh_acting(self) -> None:
        """Acting reads the current weights (before each update with train.overlap, and
        before an evaluation, so it measures the agent as trained so far)."""
        if self.acting is not None:
            self.acting.refresh(self.updates)

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
