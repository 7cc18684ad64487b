"""``env=meta_pendulum`` / ``env=meta_double_pendulum``: MetaRL's torch-native pendulums as an EnvSpec.

They have no gymnasium counterpart, so they bypass :meth:`EnvSpec.make`: the spec names the batch
class (:data:`genpolicy.envs.torch.META_ENVS`) and carries its options (lifetime length, start
state, damping) as ``kwargs`` for the torch batch. ``make_single`` gives a one-copy gymnasium view
with an ``rgb_array`` renderer, for videos.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from genpolicy import _checks as check
from genpolicy.envs.registry import EnvSpec

if TYPE_CHECKING:
    import numpy as np


def meta_spec(
    id: str = "MetaPendulum-v0",
    max_episode_steps: int = 2000,
    start: str | None = None,
    damping: float | None = None,
    torch_dtype: str = "float64",
    goal: float | None = None,
) -> EnvSpec:
    """The spec of a MetaRL pendulum: one episode is one ``max_episode_steps``-long lifetime."""
    from genpolicy.envs.torch import META_ENVS
    from genpolicy.envs.torch.meta_pendulum import STARTS

    if id not in META_ENVS:
        close = difflib.get_close_matches(id, META_ENVS, n=3, cutoff=0.5)
        raise ValueError(
            f"unknown MetaRL env {id!r}"
            + (f"; did you mean {', '.join(close)}?" if close else "")
            + f" (MetaRL envs: {', '.join(sorted(META_ENVS))})"
        )
    check.integer("max_episode_steps (the lifetime)", max_episode_steps)
    if start is not None and start not in STARTS:
        raise ValueError(f"start must be one of {', '.join(STARTS)} or null (the env's own), got {start!r}")
    if torch_dtype not in ("float32", "float64"):
        raise ValueError(f"torch_dtype must be 'float32' or 'float64', got {torch_dtype!r}")
    kwargs = {"max_episode_steps": int(max_episode_steps)}
    if start is not None:
        kwargs["start"] = start
    if damping is not None:
        kwargs["damping"] = float(damping)
    cls = META_ENVS[id]
    return EnvSpec(
        id=id,
        obs_dim=cls.obs_dim,
        action_kind="box",
        action_dim=1,
        action_low=(-cls.max_torque,),
        action_high=(cls.max_torque,),
        goal=goal,
        max_episode_steps=int(max_episode_steps),
        kwargs=kwargs,
        backend="torch",
        torch_dtype=torch_dtype,
    )


class MetaSingleEnv:
    """One copy of a MetaRL pendulum behind gymnasium's reset/step/render, for videos: ``render()``
    draws the rods (absolute angles from hanging down) as an RGB array, without a display."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, spec: EnvSpec, render_mode: str | None = None, size: int = 240) -> None:
        import torch

        from genpolicy.envs.torch import META_ENVS

        self.env = META_ENVS[spec.id](1, "cpu", getattr(torch, spec.torch_dtype), **spec.kwargs)
        self.render_mode, self.size = render_mode, int(size)

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        import torch

        obs = self.env.reset(torch.tensor([0 if seed is None else int(seed)]))
        return obs[0].numpy(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        import torch

        obs, reward, terminated, truncated = self.env.step(torch.as_tensor(action, dtype=torch.float64).reshape(1, -1))
        return obs[0].numpy(), float(reward[0]), bool(terminated[0]), bool(truncated[0]), {}

    def render(self) -> np.ndarray:
        import numpy as np

        n, links = self.size, self.env.links
        img = np.full((n, n, 3), 255, dtype=np.uint8)
        yy, xx = np.mgrid[0:n, 0:n]
        x, y, rod = n / 2, n / 2, 0.45 * n / links
        for theta in self.env.rows[:links, 0].tolist():
            x2, y2 = x + rod * np.sin(theta), y + rod * np.cos(theta)  # θ = 0 hangs straight down
            t = np.clip(((xx - x) * (x2 - x) + (yy - y) * (y2 - y)) / rod**2, 0, 1)
            img[np.hypot(xx - (x + t * (x2 - x)), yy - (y + t * (y2 - y))) < n / 60] = (40, 40, 40)
            img[np.hypot(xx - x2, yy - y2) < n / 25] = (200, 60, 40)
            x, y = x2, y2
        img[np.hypot(xx - n / 2, yy - n / 2) < n / 50] = (0, 0, 0)  # the pivot
        return img

    def close(self) -> None:
        pass
