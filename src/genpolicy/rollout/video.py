"""Record one episode of a policy as an MP4 or GIF (headless ``rgb_array`` rendering)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from genpolicy.envs.registry import EnvSpec


@torch.no_grad()
def record_episode(
    spec: EnvSpec, act: Callable, path: str | Path, seed: int = 0, fps: int = 30, device="cpu"
) -> dict:
    """Play one episode with a bound one-member policy ``act(obs (1, 1, obs_dim))`` and write its
    frames to ``path`` (.mp4 or .gif)."""
    try:
        import imageio.v2 as imageio
    except ImportError:
        raise ImportError("writing videos needs imageio: pip install 'genpolicy[video]'") from None
    path = Path(path)
    if path.suffix not in (".mp4", ".gif"):
        raise ValueError(f"video path must end in .mp4 or .gif, got {path.name!r}")
    env = spec.make_single(render_mode="rgb_array")
    frames, total, steps = [], 0.0, 0
    try:
        obs, _ = env.reset(seed=seed)
        frames.append(env.render())
        done = False
        while not done:
            o = torch.as_tensor(np.asarray(obs, dtype=np.float32).reshape(1, 1, -1), device=device)
            action = act(o).reshape(-1).cpu().numpy()
            obs, reward, terminated, truncated, _ = env.step(action[0] if spec.action_kind == "discrete" else action)
            total += float(reward)
            steps += 1
            frames.append(env.render())
            done = terminated or truncated
    finally:
        env.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".part" + path.suffix)  # rename into place: never half a video
    if path.suffix == ".mp4":
        imageio.mimsave(tmp, frames, fps=fps, macro_block_size=1)
    else:
        imageio.mimsave(tmp, frames, duration=1000 / fps, loop=0)
    tmp.replace(path)
    return {"video": str(path), "video_return": total, "video_steps": steps}
