"""Torch-native batched versions of gymnasium's classic-control environments, and MetaRL's pendulums."""

from __future__ import annotations

from genpolicy.envs.torch.acrobot import Acrobot
from genpolicy.envs.torch.base import TorchEnv
from genpolicy.envs.torch.cartpole import CartPole
from genpolicy.envs.torch.meta_pendulum import MetaDoublePendulum, MetaPendulum, MetaPendulumRest
from genpolicy.envs.torch.mountain_car import MountainCarContinuous
from genpolicy.envs.torch.pendulum import Pendulum

# torch versions of gymnasium ids (env.backend=auto picks them, tests compare them with gymnasium)
TORCH_ENVS: dict[str, type[TorchEnv]] = {cls.id: cls for cls in (CartPole, Pendulum, Acrobot, MountainCarContinuous)}
# torch-only tasks with no gymnasium counterpart (MetaRL's pendulums)
META_ENVS: dict[str, type[TorchEnv]] = {cls.id: cls for cls in (MetaPendulum, MetaPendulumRest, MetaDoublePendulum)}

__all__ = [
    "TORCH_ENVS",
    "META_ENVS",
    "TorchEnv",
    "CartPole",
    "Pendulum",
    "Acrobot",
    "MountainCarContinuous",
    "MetaPendulum",
    "MetaPendulumRest",
    "MetaDoublePendulum",
]
