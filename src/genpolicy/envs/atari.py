"""Atari games through ale-py's C++ vector env (the ``atari`` extra): the env spec.

``env=atari env.id=ALE/Pong-v5`` (any ALE id; the id picks the game). The emulator settings come from the config, not
from the id, and default to what pytorch-es played (gym's ``PongDeterministic-v4``): 4 frames per action, no sticky
actions, no no-op starts, no reward clipping, the minimal action set. Frames are preprocessed in torch as pytorch-es
did (:mod:`genpolicy.rollout.atari`): rows 34–193, resized to 42×42 through 80×80, grey (ALE's luminance;
``env.grey=mean`` is pytorch-es's RGB mean), /255, then each episode's own running normalisation.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from genpolicy._checks import flag, integer, optional
from genpolicy.envs.registry import EnvSpec

if TYPE_CHECKING:
    from types import ModuleType

    import gymnasium as gym
    import numpy as np

GREY = ("mean", "luminance")  # grey = mean of R, G, B (pytorch-es) | ALE's luminance palette


def import_ale() -> ModuleType:
    """ale_py, registered with gymnasium, or an ImportError with the install hint."""
    try:
        import ale_py
    except ImportError:
        raise ImportError("env=atari needs ale-py (its ROMs are included): pip install 'genpolicy[atari]'") from None
    import gymnasium as gym

    gym.register_envs(ale_py)
    return ale_py


def game_of(env_id: str) -> str:
    """The ROM name of an ALE gymnasium id (``ALE/Pong-v5``, ``PongNoFrameskip-v4`` → ``pong``)."""
    import gymnasium as gym

    import_ale()
    ale_ids = sorted(k for k, s in gym.registry.items() if isinstance(s.kwargs, dict) and "game" in s.kwargs)
    if not isinstance(env_id, str) or env_id not in gym.registry:
        close = difflib.get_close_matches(str(env_id), ale_ids, n=5, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(
            f"unknown Atari id {env_id!r}.{hint} ALE ids look like ALE/Pong-v5, ALE/Breakout-v5, "
            f"ALE/SpaceInvaders-v5 ({len(ale_ids)} registered)"
        )
    game = gym.spec(env_id).kwargs.get("game")
    if not game:
        raise ValueError(f"{env_id!r} is not an ALE game (env=atari plays Atari ids such as ALE/Pong-v5)")
    return str(game)


def atari_spec(
    id: str,
    frameskip: int = 4,
    repeat_action_probability: float = 0.0,
    noop_max: int = 0,
    full_action_space: bool = False,
    max_episode_frames: int = 108_000,
    maxpool: bool = False,
    crop: tuple[int, int] = (34, 194),
    size: int = 42,
    grey: str = "luminance",
    episode_norm: bool = True,
    group: int = 8,
    threads: int | None = None,
    pipeline: bool = True,
    emulator_nice: int | None = 19,
    goal: float | None = None,
) -> EnvSpec:
    """An :class:`EnvSpec` with ``backend="atari"`` and observations (1, size, size) (flat in the loop).

    ``crop``: the frame rows kept (pytorch-es: 34–193, the playing field); ``grey``: ``luminance`` (ALE's grey
    palette: a third of the bytes to emulate and read) or ``mean`` (of R, G, B, exactly pytorch-es); ``episode_norm``:
    pytorch-es's normalisation (a running scalar mean and std of each frame, α 0.9999 and
    bias-corrected, restarted every episode); ``group``: emulators per ale-py vector env
    (one thread each; only groups holding a live copy are stepped); ``threads``: the least number of
    groups (None: this process's torch thread budget, one group per core at least); ``maxpool``: the max of the
    last two frames of each action; ``pipeline``: play each chunk of members as two lanes stepping in turn,
    one lane's policy call running while the other lane's emulators do; ``emulator_nice``: the nice value
    (0–19) of the emulators' threads, so that on a busy core the policy's thread runs first (None: as
    the process).
    """
    ale = import_ale()
    game = game_of(id)
    for name, value, low in (
        ("frameskip", frameskip, 1),
        ("noop_max", noop_max, 0),
        ("max_episode_frames", max_episode_frames, 1),
        ("size", size, 8),
    ):
        integer(f"env.{name}", value, low)
    integer("env.group", group, 1)
    if threads is not None:
        integer("env.threads", threads, 1)
    if optional(integer, "env.emulator_nice", emulator_nice, 0) not in (None, *range(20)):
        raise ValueError(f"env.emulator_nice must be an integer in [0, 19] or null, got {emulator_nice!r}")
    if not 0.0 <= float(repeat_action_probability) <= 1.0:
        raise ValueError(f"env.repeat_action_probability must be in [0, 1], got {repeat_action_probability!r}")
    if grey not in GREY:
        raise ValueError(f"env.grey must be one of {', '.join(GREY)}, got {grey!r}")
    top, bottom = (int(c) for c in crop)
    if not 0 <= top < bottom <= 210:
        raise ValueError(f"env.crop must be rows [top, bottom) with 0 ≤ top < bottom ≤ 210, got {list(crop)}")
    from ale_py.vector_env import AtariVectorEnv

    probe = AtariVectorEnv(game, 1, num_threads=1, full_action_space=bool(full_action_space), stack_num=1)
    try:
        actions = int(probe.single_action_space.n)
    finally:
        probe.close()
    options = dict(
        game=game,
        frameskip=int(frameskip),
        repeat_action_probability=float(repeat_action_probability),
        noop_max=int(noop_max),
        full_action_space=bool(full_action_space),
        max_episode_frames=int(max_episode_frames),
        maxpool=bool(maxpool),
        crop=(top, bottom),
        size=int(size),
        grey=grey,
        episode_norm=bool(episode_norm),
        group=int(group),
        threads=None if threads is None else int(threads),
        pipeline=flag("env.pipeline", pipeline),
        emulator_nice=emulator_nice,
        ale_version=ale.__version__,
    )
    return EnvSpec(
        id=id,
        obs_dim=int(size) ** 2,
        action_kind="discrete",
        action_dim=actions,
        goal=None if goal is None else float(goal),
        max_episode_steps=-(-int(max_episode_frames) // int(frameskip)),
        kwargs=options,
        backend="atari",
        obs_shape=(1, int(size), int(size)),
    )


def single_env(spec: EnvSpec, render_mode: str | None = None) -> AtariFrames:
    """One emulator with the batch's settings whose observations are preprocessed as in the loop (flat
    float32 frames): what videos and one-off episodes play. Without sticky actions and no-op starts an
    episode here is the batch's episode, frame for frame."""
    import gymnasium as gym

    import_ale()
    o = spec.kwargs
    base = gym.make(
        spec.id,
        frameskip=1 if o["maxpool"] else o["frameskip"],
        repeat_action_probability=o["repeat_action_probability"],
        full_action_space=o["full_action_space"],
        max_num_frames_per_episode=o["max_episode_frames"],
        obs_type="grayscale" if o["grey"] == "luminance" else "rgb",
        render_mode=render_mode,
        max_episode_steps=None,
    )
    return AtariFrames(base, spec)


class AtariFrames:
    """A gymnasium ALE env → the loop's observations (see :func:`single_env`); also does no-op starts and
    the max over each action's last two frames, which gymnasium's ALE env leaves to wrappers."""

    def __init__(self, env: gym.Env, spec: EnvSpec) -> None:
        import gymnasium as gym
        import numpy as np

        self.env, self.o = env, spec.kwargs
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (spec.obs_dim,), np.float32)
        self.action_space = env.action_space

    def _obs(self, screen: np.ndarray) -> np.ndarray:
        import torch

        from genpolicy.rollout.atari import preprocess

        x = preprocess(torch.from_numpy(screen[None]), tuple(self.o["crop"]), self.o["size"], self.o["grey"])
        return self.norm(x)[0].numpy()

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        from genpolicy.rollout.atari import EpisodeNorm

        screen, info = self.env.reset(seed=seed)
        self.norm = EpisodeNorm(1, self.o["episode_norm"])
        noops = int(self.env.unwrapped.np_random.integers(0, self.o["noop_max"] + 1)) if self.o["noop_max"] else 0
        for _ in range(noops * (self.o["frameskip"] if self.o["maxpool"] else 1)):
            screen, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:
                screen, info = self.env.reset()
        return self._obs(screen), info

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        import numpy as np

        if not self.o["maxpool"]:
            screen, reward, terminated, truncated, info = self.env.step(action)
            return self._obs(screen), float(reward), terminated, truncated, info
        total, last = 0.0, []
        for _ in range(self.o["frameskip"]):
            screen, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            last = (last + [screen])[-2:]
            if terminated or truncated:
                break
        return self._obs(np.maximum.reduce(last)), total, terminated, truncated, info

    def render(self) -> np.ndarray | None:
        return self.env.render()

    def close(self) -> None:
        self.env.close()
