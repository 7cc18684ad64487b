"""Pendulum-v1 (gymnasium's classic_control.pendulum, g = 10) as a batch. Never terminates."""

from __future__ import annotations

import math

import torch

from genpolicy.envs.torch.base import TorchEnv, uniform


class Pendulum(TorchEnv):
    id, obs_dim, state_dim, max_episode_steps = "Pendulum-v1", 3, 2, 200
    max_speed, max_torque, dt, g, m, l = 8.0, 2.0, 0.05, 10.0, 1.0, 1.0

    def _start_state(self, u: torch.Tensor) -> torch.Tensor:
        return torch.stack((uniform(u[:, 0], -math.pi, math.pi), uniform(u[:, 1], -1.0, 1.0)), 1)

    def _obs(self) -> torch.Tensor:
        th, thdot = self.rows
        return torch.stack((torch.cos(th), torch.sin(th), thdot), 1).float()

    def _dynamics(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        th, thdot = self.rows
        # gymnasium computes the torque terms in float32 (the action's dtype; NumPy 2 promotion)
        u = action.reshape(-1).float().clamp(-self.max_torque, self.max_torque)
        u_cost = (u.square() * 0.001).to(self.dtype)
        u_acc = (u * (3.0 / (self.m * self.l**2))).to(self.dtype)
        th_norm = torch.remainder(th + math.pi, 2 * math.pi) - math.pi
        costs = th_norm.square() + 0.1 * thdot.square() + u_cost
        newthdot = thdot + (3 * self.g / (2 * self.l) * torch.sin(th) + u_acc) * self.dt
        newthdot = newthdot.clamp(-self.max_speed, self.max_speed)
        self.state = torch.stack((th + newthdot * self.dt, newthdot), 1)
        return -costs, torch.zeros_like(th, dtype=torch.bool)
