"""Test-only continuous-control environments (imported via "toy_envs:ID")."""

import gymnasium as gym
import numpy as np


class Countdown(gym.Env):
    """obs = [t], action in [-1, 1]; reward 1 per step; terminates after 3 steps when the first action
    is positive, else runs into the time limit (5 steps): both kinds of episode end."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, render_mode=None):
        self.render_mode = render_mode

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.positive = 0, None
        return np.array([0.0], np.float32), {}

    def step(self, action):
        if self.positive is None:
            self.positive = bool(action[0] > 0)
        self.t += 1
        return np.array([self.t], np.float32), 1.0, self.positive and self.t >= 3, False, {}


gym.register("Countdown-v0", entry_point=Countdown, max_episode_steps=5)
