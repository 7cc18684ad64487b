"""Headless videos of policies (``rgb_array`` rendering): one episode as an MP4 or GIF, or several
policies side by side in one tiled GIF (PGEN's gallery, GPV's variations)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from genpolicy import _checks as check
from genpolicy._io import atomic_path
from genpolicy.envs.registry import EnvSpec


def _imageio() -> ModuleType:
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame-rendered envs: headless, no display warnings
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    try:
        import imageio.v2 as imageio
    except ImportError:
        raise ImportError("writing videos needs imageio: pip install 'genpolicy[video]'") from None
    return imageio


def _check_stride(every: int, scale: int) -> None:
    for name, v in (("every", every), ("scale", scale)):
        check.integer(f"video {name}", v)


def as_video_frame(frame: np.ndarray, min_side: int = 160) -> np.ndarray:
    """A rendered frame as uint8 RGB a video can hold: float colours in [0, 1] (MinAtar) scaled to
    0–255, tiny frames (MinAtar's 10×10) enlarged by whole-pixel repetition to at least ``min_side``."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        frame = (np.clip(frame, 0.0, 1.0) * 255).round().astype(np.uint8)
    k = -(-min_side // max(frame.shape[:2]))
    if k > 1:
        frame = frame.repeat(k, 0).repeat(k, 1)
    return np.ascontiguousarray(frame)


@torch.no_grad()
def episode_frames(
    spec: EnvSpec, act: Callable, seed: int = 0, device: torch.device | str = "cpu", every: int = 1, scale: int = 1
) -> tuple[list, float, int]:
    """Play one episode with a bound one-member policy ``act(obs (1, 1, obs_dim))``: (frames, return,
    steps). Keeps every ``every``-th frame (and the last), each downscaled ``scale`` times."""
    _check_stride(every, scale)
    env = spec.make_single(render_mode="rgb_array")
    frames, total, steps = [], 0.0, 0
    observe = getattr(act, "observe", None)
    if hasattr(act, "start"):  # a learner draws its initial state from the episode's seed, as in the loop
        act.start(torch.tensor([int(seed)], device=device))
    keep = lambda: frames.append(as_video_frame(env.render())[::scale, ::scale])  # noqa: E731
    try:
        obs, _ = env.reset(seed=seed)
        keep()
        done = False
        while not done:
            o = torch.as_tensor(np.asarray(obs, dtype=np.float32).reshape(1, 1, -1), device=device)
            action = act(o).reshape(-1).cpu().numpy()
            obs, reward, terminated, truncated, _ = env.step(action[0] if spec.action_kind == "discrete" else action)
            total += float(reward)
            steps += 1
            done = terminated or truncated
            if observe is not None:  # an online learner learns while it is filmed, as in the loop
                observe(
                    torch.tensor([float(reward)], dtype=torch.float64, device=device),
                    torch.tensor([done], device=device),
                    torch.ones(1, dtype=torch.bool, device=device),
                )
            if steps % every == 0 or done:
                keep()
    finally:
        env.close()
    return frames, total, steps


def _write(path: Path, frames: list, fps: int) -> None:
    imageio = _imageio()
    with atomic_path(path) as tmp:  # never half a video
        if path.suffix == ".mp4":  # H.264 in yuv420p needs even sides: drop an odd last row / column
            frames = [f[: f.shape[0] // 2 * 2, : f.shape[1] // 2 * 2] for f in frames]
            imageio.mimsave(tmp, frames, fps=fps, macro_block_size=1)
        else:
            imageio.mimsave(tmp, frames, duration=1000 / fps, loop=0)


def record_episode(
    spec: EnvSpec,
    act: Callable,
    path: str | Path,
    seed: int = 0,
    fps: int = 30,
    device: torch.device | str = "cpu",
    every: int = 1,
    scale: int = 1,
) -> dict:
    """One episode of ``act`` written to ``path`` (.mp4 or .gif), every ``every``-th frame at
    ``fps / every`` (real time), downscaled ``scale`` times."""
    _imageio()
    path = Path(path)
    if path.suffix not in (".mp4", ".gif"):
        raise ValueError(f"video path must end in .mp4 or .gif, got {path.name!r}")
    frames, total, steps = episode_frames(spec, act, seed, device, every, scale)
    _write(path, frames, max(1, round(fps / every)))
    return {"video": str(path), "video_return": total, "video_steps": steps}


def tiled_gif(
    spec: EnvSpec,
    acts: Sequence[Callable],
    path: str | Path,
    seed: int = 0,
    columns: int | None = None,
    every: int = 2,
    fps: int = 15,
    scale: int = 1,
) -> None:
    """One episode of each policy (same start), tiled in a grid of ``columns`` (default: one row);
    every ``every``-th frame, downscaled ``scale`` times, keeps the GIF small. A finished episode
    holds its last frame."""
    _imageio()
    runs = [episode_frames(spec, act, seed, every=every, scale=scale)[0] for act in acts]
    cols = columns or len(runs)
    blank = np.zeros_like(runs[0][0])
    length = max(len(f) for f in runs)
    tiles = []
    for t in range(length):
        frames = [f[min(t, len(f) - 1)] for f in runs] + [blank] * (-len(runs) % cols)
        rows = [np.concatenate(frames[i : i + cols], axis=1) for i in range(0, len(frames), cols)]
        tiles.append(np.concatenate(rows, axis=0))
    _write(Path(path), tiles, fps)


def mean_pairwise_distance(actions: torch.Tensor) -> float:
    """Mean L2 distance between the flattened action sets (M, S[, a]) of M policies on shared probe
    states: the diversity figure of PGEN landscapes and GPV variations."""
    flat = actions.reshape(len(actions), -1).double()
    m = len(flat)
    return float(torch.cdist(flat, flat).sum() / (m * (m - 1))) if m > 1 else 0.0
