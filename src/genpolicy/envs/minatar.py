"""MinAtar (Young & Tian 2019, arXiv 1903.03176) games as gymnasium ids, through the ``minatar`` package.

``MinAtar/SpaceInvaders-v1`` (minimal action set) and ``-v0`` (all six actions), likewise Asterix,
Breakout, Freeway and Seaquest: 10×10 boolean frames with one channel per object kind, MinAtar's
defaults (sticky actions 0.1, difficulty ramping). Registered on first use by the env registry.
minatar's own env seeds NumPy's legacy generator, which takes 32-bit seeds only; genpolicy's env
seeds are 63-bit, so they are folded to 32 bits here (distinct seeds stay distinct but for collisions
at 2⁻³² odds).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import gymnasium as gym
    import numpy as np

GAMES = ("asterix", "breakout", "freeway", "seaquest", "space_invaders")


def register() -> None:
    """Register the MinAtar ids with gymnasium, or an ImportError with the install hint."""
    try:
        import minatar.gym  # noqa: F401 - the env class this module extends
    except ImportError:
        raise ImportError("MinAtar games need the minatar package: pip install 'genpolicy[minatar]'") from None
    import gymnasium as gym

    for game in GAMES:
        name = game.title().replace("_", "")
        for version, minimal in (("v0", False), ("v1", True)):
            if f"MinAtar/{name}-{version}" not in gym.registry:
                gym.register(
                    f"MinAtar/{name}-{version}",
                    entry_point="genpolicy.envs.minatar:MinAtarEnv",
                    kwargs=dict(game=game, use_minimal_action_set=minimal),
                )


@functools.cache
def _env_class() -> type[gym.Env]:
    from minatar.gym import BaseEnv

    class MinAtarEnv(BaseEnv):
        """minatar's gymnasium env taking any non-negative integer seed."""

        def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
            if seed is not None:
                seed = (int(seed) ^ (int(seed) >> 32)) & 0xFFFFFFFF
            return super().reset(seed=seed, options=options)

    return MinAtarEnv


# the env class is built on first use: importing this module needs no minatar
def __getattr__(name: str) -> type[gym.Env]:
    if name == "MinAtarEnv":
        return _env_class()
    raise AttributeError(name)
