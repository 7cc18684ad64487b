"""Acrobot-v1 (gymnasium's classic_control.acrobot, Sutton 1996; "book" dynamics, RK4, dt 0.2)."""

from __future__ import annotations

import math

import torch

from genpolicy.envs.torch.base import TorchEnv, uniform, wrap

PI = math.pi


class Acrobot(TorchEnv):
    id, obs_dim, state_dim, max_episode_steps = "Acrobot-v1", 6, 4, 500
    dt = 0.2
    m1 = m2 = l1 = I1 = I2 = 1.0
    lc1 = lc2 = 0.5
    g = 9.8
    max_vel_1, max_vel_2 = 4 * PI, 9 * PI

    def _start_state(self, u: torch.Tensor) -> torch.Tensor:
        # gymnasium draws the start in float64 and stores it as float32
        return uniform(u, -0.1, 0.1).float().to(self.dtype)

    def _obs(self) -> torch.Tensor:
        s0, s1, s2, s3 = self.rows
        return torch.stack((torch.cos(s0), torch.sin(s0), torch.cos(s1), torch.sin(s1), s2, s3), 1).float()

    def _dsdt(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        m2, l1, lc1, lc2, g = self.m2, self.l1, self.lc1, self.lc2, self.g
        theta1, theta2, dtheta1, dtheta2 = s.unbind(1)
        d1 = self.m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * torch.cos(theta2)) + self.I1 + self.I2
        d2 = m2 * (lc2**2 + l1 * lc2 * torch.cos(theta2)) + self.I2
        phi2 = m2 * lc2 * g * torch.cos(theta1 + theta2 - PI / 2.0)
        phi1 = (
            -m2 * l1 * lc2 * dtheta2**2 * torch.sin(theta2)
            - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * torch.sin(theta2)
            + (self.m1 * lc1 + m2 * l1) * g * torch.cos(theta1 - PI / 2)
            + phi2
        )
        ddtheta2 = (a + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1**2 * torch.sin(theta2) - phi2) / (
            m2 * lc2**2 + self.I2 - d2**2 / d1
        )
        ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
        return torch.stack((dtheta1, dtheta2, ddtheta1, ddtheta2), 1)

    def _dynamics(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        torque = action.reshape(-1).to(self.dtype) - 1.0  # {0, 1, 2} → {-1, 0, +1}
        s, dt = self.state, self.dt
        k1 = self._dsdt(s, torque)
        k2 = self._dsdt(s + dt / 2.0 * k1, torque)
        k3 = self._dsdt(s + dt / 2.0 * k2, torque)
        k4 = self._dsdt(s + dt * k3, torque)
        ns = s + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        self.state = torch.stack(
            (
                wrap(ns[:, 0], -PI, PI),
                wrap(ns[:, 1], -PI, PI),
                ns[:, 2].clamp(-self.max_vel_1, self.max_vel_1),
                ns[:, 3].clamp(-self.max_vel_2, self.max_vel_2),
            ),
            1,
        )
        s0, s1 = self.state[:, 0], self.state[:, 1]
        terminated = -torch.cos(s0) - torch.cos(s1 + s0) > 1.0
        return torch.where(terminated, 0.0, -1.0).to(self.dtype), terminated
