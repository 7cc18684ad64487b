"""Batches of environments behind one interface, so the episode loop is written once.

``reset(seeds)`` starts every copy (seeds: int64 tensor, one per copy) and returns observations
(n, obs_dim) float32 on the loop's device. ``step(actions, alive)`` advances the current copies and
returns (obs, reward float64, terminated, truncated) as tensors; entries of copies that are not
``alive`` are meaningless. ``select(keep)`` drops every copy not in ``keep`` (current indices) — the
loop compacts the batch when most episodes have ended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import gymnasium as gym
import numpy as np
import torch

from genpolicy.envs.registry import EnvSpec

if TYPE_CHECKING:
    from typing import TypeAlias

    from genpolicy.rollout.atari import AtariBatch
    from genpolicy.rollout.workers import ProcessBatch

    # what make_batch builds: reset(seeds), step(actions, alive), select(keep), close()
    EnvBatch: TypeAlias = "GymBatch | TorchBatch | AtariBatch | ProcessBatch"
    StepTensors: TypeAlias = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def step_tensors(
    obs: np.ndarray, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray, device: torch.device
) -> StepTensors:
    """NumPy step results → (obs float32, reward float64, terminated, truncated) tensors on ``device``."""
    return (
        torch.as_tensor(obs, dtype=torch.float32, device=device),
        torch.as_tensor(reward, dtype=torch.float64, device=device),
        torch.as_tensor(terminated, dtype=torch.bool, device=device),
        torch.as_tensor(truncated, dtype=torch.bool, device=device),
    )


class GymBatch:
    """A gymnasium vector env. With a SyncVectorEnv only live copies are stepped (no autoreset,
    no simulation of finished episodes); other vector envs step every copy and the loop masks."""

    def __init__(self, spec: EnvSpec, n: int, device: torch.device) -> None:
        self.spec, self.n, self.device = spec, int(n), device
        self.vec = spec.make_vector(self.n)
        self.sync = isinstance(self.vec, gym.vector.SyncVectorEnv)
        self.idx = np.arange(self.n)  # current slot → sub-env

    def reset(self, seeds: torch.Tensor) -> torch.Tensor:
        self.idx = np.arange(self.n)
        obs, _ = self.vec.reset(seed=seeds.tolist())
        self._obs = np.asarray(obs, dtype=np.float32).reshape(self.n, -1)
        return torch.as_tensor(self._obs, device=self.device)

    def step(self, actions: torch.Tensor, alive: torch.Tensor) -> StepTensors:
        a = actions.cpu().numpy()
        k = len(self.idx)
        reward, terminated, truncated = np.zeros(k), np.zeros(k, dtype=bool), np.zeros(k, dtype=bool)
        if self.sync:
            obs = self._obs[self.idx]
            acts = a.tolist() if a.ndim == 1 else a  # Python ints: gymnasium's cheap path
            for slot in np.flatnonzero(alive.cpu().numpy()).tolist():
                o, reward[slot], terminated[slot], truncated[slot], _ = self.vec.envs[self.idx[slot]].step(acts[slot])
                obs[slot] = np.asarray(o, dtype=np.float32).reshape(-1)
        else:
            full = np.zeros((self.n, *a.shape[1:]), dtype=a.dtype)
            full[self.idx] = a
            o, r, te, tr, _ = self.vec.step(full)
            obs = np.asarray(o, dtype=np.float32).reshape(self.n, -1)[self.idx]
            reward, terminated, truncated = r[self.idx], te[self.idx], tr[self.idx]
        if self.sync:
            self._obs[self.idx] = obs
        return step_tensors(obs, reward, terminated, truncated, self.device)

    def select(self, keep: torch.Tensor) -> None:
        self.idx = self.idx[keep.cpu().numpy()]

    def close(self) -> None:
        self.vec.close()


class TorchBatch:
    """A torch-native batched env (genpolicy.envs.torch) on the loop's device."""

    def __init__(self, spec: EnvSpec, n: int, device: torch.device) -> None:
        from genpolicy.envs.torch import META_ENVS, TORCH_ENVS

        self.cls, self.n, self.device = {**TORCH_ENVS, **META_ENVS}[spec.id], int(n), device
        self.dtype = getattr(torch, spec.torch_dtype)
        self.kwargs = dict(spec.kwargs) if spec.id in META_ENVS else {}  # a MetaRL env's lifetime, start …
        self.env = self.cls(self.n, device, self.dtype, **self.kwargs)

    def reset(self, seeds: torch.Tensor) -> torch.Tensor:
        if self.env.num_envs != self.n:  # compacted by the last rollout
            self.env = self.cls(self.n, self.device, self.dtype, **self.kwargs)
        return self.env.reset(seeds.to(self.device))

    def step(self, actions: torch.Tensor, alive: torch.Tensor) -> StepTensors:
        return self.env.step(actions)

    def select(self, keep: torch.Tensor) -> None:
        self.env.select(keep.to(self.device))

    def close(self) -> None:
        pass


def make_batch(spec: EnvSpec, n: int, device: torch.device) -> EnvBatch:
    if spec.backend == "torch":
        return TorchBatch(spec, n, device)
    if spec.backend == "atari":
        from genpolicy.rollout.atari import AtariBatch

        return AtariBatch(spec, n, device)
    if spec.vectorization == "workers":
        from genpolicy.rollout.workers import ProcessBatch

        return ProcessBatch(spec, n, device, spec.workers)
    return GymBatch(spec, n, device)
