"""MountainCarContinuous-v0 (gymnasium's classic_control.continuous_mountain_car, Moore 1990)."""

from __future__ import annotations

import torch

from genpolicy.envs.torch.base import TorchEnv, uniform


class MountainCarContinuous(TorchEnv):
    id, obs_dim, state_dim, max_episode_steps = "MountainCarContinuous-v0", 2, 2, 999
    min_action, max_action, min_position, max_position = -1.0, 1.0, -1.2, 0.6
    max_speed, goal_position, goal_velocity, power = 0.07, 0.45, 0.0, 0.0015

    def _start_state(self, u: torch.Tensor) -> torch.Tensor:
        return torch.stack((uniform(u[:, 0], -0.6, -0.4), torch.zeros_like(u[:, 1])), 1)

    def _obs(self) -> torch.Tensor:
        return self.state.float()

    def _dynamics(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # gymnasium's arithmetic, reproduced: after a step the state is float32 and (NumPy 2
        # promotion) is updated in float32; the reset state is float64, so the first step runs in
        # float64; the force term is float32 unless the action was clipped; cos() is in double.
        f32, f64 = torch.float32, torch.float64
        first = self.elapsed == 0
        pos64, vel64 = self.state.to(f64).unbind(1)
        pos32, vel32 = pos64.to(f32), vel64.to(f32)
        a = action.reshape(-1).to(f32)
        clipped = (a < self.min_action) | (a > self.max_action)
        c = 0.0025 * torch.cos(torch.where(first, 3 * pos64, (3 * pos32).to(f64)))
        drive = torch.where(
            clipped,
            a.clamp(self.min_action, self.max_action).to(f64) * self.power - c,  # Python floats: double
            (a * self.power - c.to(f32)).to(f64),  # float32 arithmetic
        )
        v_first = (vel64 + drive).clamp(-self.max_speed, self.max_speed)
        v_later = (vel32 + drive.to(f32)).clamp(-self.max_speed, self.max_speed)
        p_first = (pos64 + v_first).clamp(self.min_position, self.max_position)
        p_later = (pos32 + v_later).clamp(self.min_position, self.max_position)
        position = torch.where(first, p_first.to(f32), p_later)  # stored as float32, like gymnasium
        velocity = torch.where(first, v_first.to(f32), v_later)
        at_wall = torch.where(first, p_first == self.min_position, p_later == self.min_position)
        velocity = torch.where(at_wall & (velocity < 0), 0.0, velocity)
        terminated = torch.where(
            first,
            (p_first >= self.goal_position) & (v_first >= self.goal_velocity),
            (p_later >= self.goal_position) & (velocity >= self.goal_velocity),
        )
        reward = torch.where(terminated, 100.0, 0.0).to(f64) - a.to(f64).square() * 0.1  # unclipped action
        self.state = torch.stack((position, velocity), 1).to(self.dtype)
        return reward.to(self.dtype), terminated
