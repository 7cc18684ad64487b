"""The pendulum and double pendulum of MetaRL as batches: one lifetime-long episode per copy.

Source system: MetaRL (ASFaust/MetaRL), in which a learning rule evolved by a genetic algorithm
trains an actor online during a single long episode (2000 steps) on a swinging pendulum or double
pendulum. These batches keep its constants (g 9.81, unit masses and lengths, damping 0.1), its step
(one classic RK4 step of dt 0.05, then |ω| ≤ 10 and angles wrapped), its "height" reward 1 − cos θ
per rod measured after the step, its torque range [−1, 1] and its start state ("kick"). What differs:

* MetaDoublePendulum's equations of motion are derived here from the Lagrangian. MetaRL's double
  pendulum added the torque to the first equation only (its author marks the dynamics as broken)
  and damped the absolute velocities ω1, ω2; here the torque enters both accelerations through the
  mass matrix and the damping acts on the joint velocities ω1 and ω2 − ω1.
* Observations are bounded: (sin θ, cos θ) per rod, then each ω / 10 (MetaRL fed raw ω).
* A second start, "rest" (hanging down, still), besides MetaRL's "kick", which is identical for
  every copy (an artefact of initialising the state tensor with ones/zeros): the single pendulum
  starts at θ = π·1.00001, ω = 1; the double one at θ1 = π·1.00001, θ2 = π, ω1 = ω2 = 0.

Angles are absolute and measured from hanging down: θ = 0 hangs, θ = π is upright. The state
is (θ..., ω...), stored variable-major like every TorchEnv. Neither task terminates; an episode
is truncated at ``max_episode_steps`` (2000 by default).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from genpolicy import _checks as check
from genpolicy.envs.torch.base import TorchEnv

if TYPE_CHECKING:
    from collections.abc import Callable

PI = math.pi
STARTS = ("kick", "rest")


def wrap_angle(theta: torch.Tensor) -> torch.Tensor:
    """Shift by whole turns into (−π, π]."""
    out = PI - torch.remainder(PI - theta, 2 * PI)
    return torch.where(out <= -PI, out + 2 * PI, out)  # remainder may round up to 2π


def rk4(f: Callable[[torch.Tensor], torch.Tensor], s: torch.Tensor, dt: float) -> torch.Tensor:
    """One classic Runge–Kutta step of ds/dt = f(s) (the torque is held over the step)."""
    k1 = f(s)
    k2 = f(s + (dt / 2) * k1)
    k3 = f(s + (dt / 2) * k2)
    k4 = f(s + dt * k3)
    return s + (dt / 6) * (k1 + 2 * k2 + 2 * k3 + k4)


def double_pendulum_accel(
    theta1: torch.Tensor,
    theta2: torch.Tensor,
    omega1: torch.Tensor,
    omega2: torch.Tensor,
    tau: torch.Tensor,
    g: float = 9.81,
    l1: float = 1.0,
    l2: float = 1.0,
    m1: float = 1.0,
    m2: float = 1.0,
    damping: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Angular accelerations (α1, α2) of the point-mass double pendulum, absolute angles from down.

    Euler–Lagrange on L = T − V with
      T = ½(m1+m2) l1² ω1² + ½ m2 l2² ω2² + m2 l1 l2 ω1 ω2 cos(θ1−θ2),
      V = −(m1+m2) g l1 cos θ1 − m2 g l2 cos θ2
    gives M(θ) α = b + Q with
      M = [[(m1+m2) l1², m2 l1 l2 c], [m2 l1 l2 c, m2 l2²]],   c, s = cos, sin(θ1−θ2),
      b = (−m2 l1 l2 s ω2² − (m1+m2) g l1 sin θ1,  m2 l1 l2 s ω1² − m2 g l2 sin θ2).

    Generalized forces Q come from virtual work. The motor sits between the pivot and rod 1, so
    it turns by the relative angle θ1 − 0 = θ1: δW = τ δθ1, i.e. Q = (τ, 0) — with absolute angles
    the motor's reaction on rod 2 is zero (it acts on the ground instead). The joint dampers
    exert −d ω1 at joint 1 and −d (ω2−ω1) at joint 2; a torque at joint 2 turns by θ2 − θ1, so
    it contributes (+d (ω2−ω1), −d (ω2−ω1)) (rod 1 feels the reaction). Together this is
    −∂R/∂ω for the Rayleigh function R = ½ d ω1² + ½ d (ω2−ω1)².
    """
    c, s = torch.cos(theta1 - theta2), torch.sin(theta1 - theta2)
    rel = omega2 - omega1
    q1 = tau - damping * omega1 + damping * rel
    q2 = -damping * rel
    b1 = -m2 * l1 * l2 * s * omega2 * omega2 - (m1 + m2) * g * l1 * torch.sin(theta1) + q1
    b2 = m2 * l1 * l2 * s * omega1 * omega1 - m2 * g * l2 * torch.sin(theta2) + q2
    m11, m12, m22 = (m1 + m2) * l1 * l1, m2 * l1 * l2 * c, m2 * l2 * l2
    det = m11 * m22 - m12 * m12  # = m2 l1² l2² (m1 + m2 s²) > 0
    return (m22 * b1 - m12 * b2) / det, (m11 * b2 - m12 * b1) / det


class _MetaEnv(TorchEnv):
    """Shared parts: options, deterministic starts, the RK4 step, clamp, wrap, reward and obs."""

    links = 1
    dt, max_speed, g, damping, max_torque = 0.05, 10.0, 9.81, 0.1, 1.0
    max_episode_steps = 2000
    start = "kick"
    kick: tuple[float, ...] = ()  # MetaRL's start state (θ..., ω...)

    def __init__(
        self,
        num_envs: int,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float64,
        *,
        max_episode_steps: int | None = None,
        start: str | None = None,
        damping: float | None = None,
        max_torque: float | None = None,
    ) -> None:
        super().__init__(num_envs, device, dtype)
        if max_episode_steps is not None:
            self.max_episode_steps = check.integer("max_episode_steps", max_episode_steps)
        if start is not None:
            self.start = start
        if self.start not in STARTS:
            raise ValueError(f"start must be one of {STARTS}, got {self.start!r}")
        if damping is not None:
            self.damping = float(damping)
        if max_torque is not None:
            self.max_torque = float(max_torque)

    def _start_state(self, u: torch.Tensor) -> torch.Tensor:
        # both starts are the same for every copy, so the uniforms are not used
        values = self.kick if self.start == "kick" else (0.0,) * self.state_dim
        s = torch.tensor(values, dtype=u.dtype, device=u.device).expand(u.shape[0], -1).clone()
        s[:, : self.links] = wrap_angle(s[:, : self.links])
        return s

    def _obs(self) -> torch.Tensor:
        th, om = self.rows[: self.links], self.rows[self.links :]
        trig = torch.stack((torch.sin(th), torch.cos(th)), 1).reshape(2 * self.links, -1)  # sin, cos per rod
        return torch.cat((trig, om / self.max_speed)).t().float()

    def _derivative(self, s: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """d/dt of the rows (state_dim, n)."""
        raise NotImplementedError

    def _dynamics(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tau = action.reshape(-1).to(self.dtype).clamp(-self.max_torque, self.max_torque)
        s = rk4(lambda x: self._derivative(x, tau), self.rows, self.dt)
        th = wrap_angle(s[: self.links])
        self.rows = torch.cat((th, s[self.links :].clamp(-self.max_speed, self.max_speed)))
        reward = (1.0 - torch.cos(th)).sum(0)
        return reward, torch.zeros_like(reward, dtype=torch.bool)


class MetaPendulum(_MetaEnv):
    """θ̈ = −(g/l) sin θ + τ/(m l²) − d ω; reward 1 − cos θ (0 hanging … 2 upright); obs
    (sin θ, cos θ, ω/10)."""

    id, obs_dim, state_dim = "MetaPendulum-v0", 3, 2
    m = l = 1.0
    kick = (PI * 1.00001, 1.0)

    def _derivative(self, s: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        th, om = s
        acc = -(self.g / self.l) * torch.sin(th) + tau / (self.m * self.l**2) - self.damping * om
        return torch.stack((om, acc))


class MetaPendulumRest(MetaPendulum):
    """MetaPendulum starting hanging at rest (θ = 0, ω = 0): the swing-up has to be learnt."""

    id, start = "MetaPendulumRest-v0", "rest"


class MetaDoublePendulum(_MetaEnv):
    """Two point masses on massless rods, torque at the first joint (see double_pendulum_accel);
    reward (1 − cos θ1) + (1 − cos θ2) (0 … 4); obs (sin θ1, cos θ1, sin θ2, cos θ2, ω1/10, ω2/10)."""

    id, obs_dim, state_dim = "MetaDoublePendulum-v0", 6, 4
    links = 2
    m1 = m2 = l1 = l2 = 1.0
    kick = (PI * 1.00001, PI, 0.0, 0.0)

    def _derivative(self, s: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        th1, th2, om1, om2 = s
        a1, a2 = double_pendulum_accel(
            th1, th2, om1, om2, tau, self.g, self.l1, self.l2, self.m1, self.m2, self.damping
        )
        return torch.stack((om1, om2, a1, a2))
