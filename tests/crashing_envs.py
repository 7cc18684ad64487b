"""Test-only environments that fail inside worker processes (imported there via "crashing_envs:ID")."""

import os

import gymnasium as gym
from gymnasium.envs.classic_control.cartpole import CartPoleEnv


class CrashingCartPole(CartPoleEnv):
    """Kills its own process on the 5th step, as a segfaulting simulator would."""

    steps = 0

    def step(self, action):
        CrashingCartPole.steps += 1
        if CrashingCartPole.steps >= 5:
            os._exit(3)
        return super().step(action)


class RaisingCartPole(CartPoleEnv):
    def step(self, action):
        raise RuntimeError("simulator exploded")


gym.register("CrashingCartPole-v0", entry_point=CrashingCartPole, max_episode_steps=500)
gym.register("RaisingCartPole-v0", entry_point=RaisingCartPole, max_episode_steps=500)
