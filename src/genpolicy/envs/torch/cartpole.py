"""CartPole-v1 (gymnasium's classic_control.cartpole, Barto, Sutton & Anderson 1983) as a batch."""

from __future__ import annotations

import math

import torch

from genpolicy.envs.torch.base import TorchEnv, uniform


class CartPole(TorchEnv):
    id, obs_dim, state_dim, max_episode_steps = "CartPole-v1", 4, 4, 500
    gravity, masscart, masspole, length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    total_mass = masspole + masscart
    polemass_length = masspole * length
    theta_threshold = 12 * 2 * math.pi / 360
    x_threshold = 2.4

    def _start_state(self, u: torch.Tensor) -> torch.Tensor:
        return uniform(u, -0.05, 0.05)

    def _obs(self) -> torch.Tensor:
        return self.rows.t().float()

    def _dynamics(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, x_dot, theta, theta_dot = self.rows
        force = action.reshape(-1).to(self.dtype).mul_(2 * self.force_mag).sub_(self.force_mag)  # 1 → +F, 0 → −F
        costheta, sintheta = torch.cos(theta), torch.sin(theta)
        temp = (force + self.polemass_length * theta_dot.square() * sintheta) / self.total_mass
        thetaacc = (self.gravity * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * costheta.square() / self.total_mass)
        )
        xacc = temp - self.polemass_length * thetaacc * costheta / self.total_mass
        x, x_dot = x + self.tau * x_dot, x_dot + self.tau * xacc  # explicit Euler, as gymnasium
        theta, theta_dot = theta + self.tau * theta_dot, theta_dot + self.tau * thetaacc
        self.rows = torch.stack((x, x_dot, theta, theta_dot))
        terminated = (x.abs() > self.x_threshold) | (theta.abs() > self.theta_threshold)
        return torch.ones_like(x), terminated  # 1 per step, the terminating step included
