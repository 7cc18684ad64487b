"""Batched environments as torch programs: N copies step as one tensor computation on CPU or CUDA.

Each environment reproduces its gymnasium counterpart (constants, dynamics, reward, termination,
time-limit truncation, start-state distribution). Start states are a pure function of one integer
seed per copy, so a mirrored ES pair that shares a seed shares its start state, as with gymnasium.
Dynamics run in ``dtype`` (float64 by default: the same arithmetic as gymnasium's NumPy code);
observations are float32, like gymnasium's.
"""

from __future__ import annotations

import torch

from genpolicy.population.noise import seeded_uniform


class TorchEnv:
    id: str = ""
    obs_dim: int = 0
    state_dim: int = 0
    max_episode_steps: int = 0

    def __init__(self, num_envs: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float64) -> None:
        self.num_envs, self.device, self.dtype = int(num_envs), torch.device(device), dtype
        # stored variable-major (state_dim, n): every per-variable op reads a contiguous row
        self.rows = torch.zeros(self.state_dim, self.num_envs, device=self.device, dtype=dtype)
        self.elapsed = torch.zeros(self.num_envs, dtype=torch.int64, device=self.device)

    @property
    def state(self) -> torch.Tensor:
        """The states (n, state_dim)."""
        return self.rows.t()

    @state.setter
    def state(self, value: torch.Tensor) -> None:
        self.rows = value.t().contiguous()

    # --- what each environment defines
    def _start_state(self, u: torch.Tensor) -> torch.Tensor:
        """Start states (n, state_dim) from uniforms u (n, state_dim) in [0, 1)."""
        raise NotImplementedError

    def _obs(self) -> torch.Tensor:
        raise NotImplementedError

    def _dynamics(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Advance ``self.state`` in place; return (reward, terminated)."""
        raise NotImplementedError

    # --- the shared batch interface
    def reset(self, seeds: torch.Tensor) -> torch.Tensor:
        seeds = seeds.to(self.device)
        if seeds.shape != (self.num_envs,):
            raise ValueError(f"expected {self.num_envs} seeds, got shape {tuple(seeds.shape)}")
        u = torch.stack([seeded_uniform(seeds, k, self.dtype) for k in range(self.state_dim)], 1)
        return self.reset_to(self._start_state(u))

    def reset_to(self, state: torch.Tensor) -> torch.Tensor:
        """Start every copy from the given states (n, state_dim) (tests compare with gymnasium)."""
        self.state = state.to(self.device, self.dtype).clone()
        self.elapsed.zero_()
        return self._obs()

    def step(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """→ obs (n, obs_dim) float32, reward (n,) float64, terminated (n,), truncated (n,) bool."""
        reward, terminated = self._dynamics(action.to(self.device))
        self.elapsed = self.elapsed + 1  # not in place: a compiled step then mutates none of its inputs
        truncated = self.elapsed >= self.max_episode_steps
        return self._obs(), reward.to(torch.float64), terminated, truncated

    def select(self, keep: torch.Tensor) -> None:
        """Keep only the copies at indices ``keep`` (compaction of a shrinking batch)."""
        self.rows, self.elapsed = self.rows[:, keep], self.elapsed[keep]
        self.num_envs = int(self.rows.shape[1])


def uniform(u: torch.Tensor, low: float, high: float) -> torch.Tensor:
    return low + (high - low) * u


def wrap(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """gymnasium's acrobot ``wrap``: shift by whole periods into [low, high]."""
    diff = high - low
    x = torch.where(x > high, x - diff * torch.ceil((x - high) / diff), x)
    return torch.where(x < low, x + diff * torch.ceil((low - x) / diff), x)
