"""Exploration noise for deterministic actors, in units of the half action range (an action in the
box is ``mid + half·u`` with u ∈ [−1, 1]; the noise is added to u and the result clipped).

- ``GaussianNoise``: u + N(0, σ²), independent per step (TD3; rl-zoo's DDPG settings).
- ``OUNoise``: Ornstein–Uhlenbeck, x ← x + θ(μ − x)dt + σ√dt·N(0, 1), one process per env, reset
  to μ when its episode ends (the DDPG paper; GPV's reference: θ 0.15, σ 0.2).
All randomness comes from one torch.Generator whose state is checkpointed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from genpolicy import _checks as check

if TYPE_CHECKING:
    import numpy as np


class GaussianNoise:
    def __init__(self, n_envs: int, action_dim: int, std: float = 0.1) -> None:
        self.shape, self.std = (int(n_envs), int(action_dim)), check.nonnegative("noise std", std)

    def __call__(self, generator: torch.Generator) -> torch.Tensor:
        return self.std * torch.randn(self.shape, generator=generator)

    def reset(self, done: np.ndarray | torch.Tensor) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class OUNoise:
    def __init__(
        self, n_envs: int, action_dim: int, sigma: float = 0.2, theta: float = 0.15, mu: float = 0.0, dt: float = 1.0
    ) -> None:
        if not sigma >= 0 or not theta >= 0 or not dt > 0:
            raise ValueError(
                f"OU noise needs sigma ≥ 0, theta ≥ 0, dt > 0; got sigma={sigma!r}, theta={theta!r}, dt={dt!r}"
            )
        self.sigma, self.theta, self.mu, self.dt = float(sigma), float(theta), float(mu), float(dt)
        self.x = torch.full((int(n_envs), int(action_dim)), self.mu)

    def __call__(self, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(self.x.shape, generator=generator)
        self.x += self.theta * (self.mu - self.x) * self.dt + self.sigma * self.dt**0.5 * noise
        return self.x.clone()

    def reset(self, done: np.ndarray | torch.Tensor) -> None:
        """Restart the processes of the envs whose episode ended (bool (n_envs,))."""
        self.x[torch.as_tensor(done, dtype=torch.bool)] = self.mu

    def state_dict(self) -> dict:
        return {"x": self.x.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.x = state["x"].clone()


def make_noise(
    kind: str, n_envs: int, action_dim: int, std: float = 0.1, ou_theta: float = 0.15, ou_sigma: float = 0.2
) -> GaussianNoise | OUNoise:
    check.choice("exploration noise", kind, ("gaussian", "ou", "none"))
    if kind == "gaussian":
        return GaussianNoise(n_envs, action_dim, std)
    if kind == "ou":
        return OUNoise(n_envs, action_dim, ou_sigma, ou_theta)
    return GaussianNoise(n_envs, action_dim, 0.0)  # none
