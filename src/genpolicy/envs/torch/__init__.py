"""Torch-native batched versions of gymnasium's classic-control environments."""

from genpolicy.envs.torch.acrobot import Acrobot
from genpolicy.envs.torch.base import TorchEnv
from genpolicy.envs.torch.cartpole import CartPole
from genpolicy.envs.torch.mountain_car import MountainCarContinuous
from genpolicy.envs.torch.pendulum import Pendulum

TORCH_ENVS: dict[str, type[TorchEnv]] = {cls.id: cls for cls in (CartPole, Pendulum, Acrobot, MountainCarContinuous)}

__all__ = ["TORCH_ENVS", "TorchEnv", "CartPole", "Pendulum", "Acrobot", "MountainCarContinuous"]
