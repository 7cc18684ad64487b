"""A replay buffer: one pre-allocated tensor used as a ring, sampled uniformly.

A transition is (obs, action, reward, next_obs, terminated). ``terminated`` is the MDP's own end
(the target is masked by it); a time-limit truncation is *not* stored as an end — the collector
stores the real next observation and the critic bootstraps through it. A transition is one row of
a single (capacity, width) tensor, so adding and sampling are one copy and one gather for all fields
(``data[field]`` are views of its columns).
"""

from __future__ import annotations

import numpy as np
import torch

from genpolicy._checks import integer

FIELDS = ("obs", "action", "reward", "next_obs", "terminated")


class ReplayBuffer:
    def __init__(self, capacity: int, obs_dim: int, action_dim: int, device: torch.device | str = "cpu") -> None:
        self.capacity = integer("buffer capacity", capacity)
        self.device = torch.device(device)
        shapes = {"obs": (obs_dim,), "action": (action_dim,), "reward": (), "next_obs": (obs_dim,), "terminated": ()}
        self.columns, width = {}, 0
        for k, shape in shapes.items():
            self.columns[k] = (width, shape)
            width += shape[0] if shape else 1
        self.storage = torch.zeros(self.capacity, width, device=self.device)
        self.data = self._fields(self.storage)
        self.pos = 0  # next slot to write
        self.size = 0

    def _fields(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of each field in rows (…, width): (…, dim) or (…) for the scalar ones."""
        return {k: rows[..., c : c + shape[0]] if shape else rows[..., c] for k, (c, shape) in self.columns.items()}

    def __len__(self) -> int:
        return self.size

    def add(self, **batch: torch.Tensor | np.ndarray) -> None:
        """Append n transitions: each field (n, …), tensors or numpy arrays; the oldest are overwritten
        when full."""
        n = int(batch["obs"].shape[0])
        if n > self.capacity:  # only the newest ``capacity`` survive
            batch, n = {k: v[-self.capacity :] for k, v in batch.items()}, self.capacity
        parts = [batch[k].reshape(n, -1) for k in self.columns]
        if all(isinstance(p, np.ndarray) for p in parts):  # a collector's host arrays: one numpy concatenation
            rows = torch.from_numpy(np.concatenate([p.astype(np.float32, copy=False) for p in parts], 1))
        else:
            rows = torch.cat([torch.as_tensor(p).to(self.device, torch.float32) for p in parts], 1)
        rows = rows.to(self.device)
        first = min(n, self.capacity - self.pos)  # up to the end of the ring, the rest from its start
        self.storage[self.pos : self.pos + first] = rows[:first]
        if first < n:
            self.storage[: n - first] = rows[first:]
        self.pos = (self.pos + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int, k: int = 1, generator: torch.Generator | None = None) -> dict:
        """k minibatches of ``batch_size`` uniform draws (with replacement): each field (k, B, …)."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        idx = torch.randint(
            self.size, (k, batch_size), generator=generator, device=generator.device if generator else "cpu"
        )
        return self._fields(self.storage[idx.to(self.device)])

    def state_dict(self) -> dict:
        """The stored transitions (in slot order) and the write position."""
        return {"pos": self.pos, "size": self.size, **{k: v[: self.size].clone() for k, v in self.data.items()}}

    def load_state_dict(self, state: dict) -> None:
        size = int(state["size"])
        if size > self.capacity or state["obs"].shape[1:] != self.data["obs"].shape[1:]:
            raise ValueError(
                f"replay state ({size} transitions, obs {tuple(state['obs'].shape[1:])}) does not fit "
                f"this buffer (capacity {self.capacity}, obs {tuple(self.data['obs'].shape[1:])})"
            )
        for k in FIELDS:
            self.data[k][:size] = state[k].to(self.device)
        self.pos, self.size = int(state["pos"]), size
