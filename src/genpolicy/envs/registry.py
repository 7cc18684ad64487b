"""Look up, validate and build gymnasium environments.

Every environment genpolicy touches goes through :func:`make_env` or :func:`make_vector_env`, so an
unknown id or a missing optional simulator fails once, early, with a message that says what to do.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import io
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from genpolicy import _checks as check
from genpolicy._checks import flag

if TYPE_CHECKING:
    from collections.abc import Iterator

# Which pip extra provides the simulator behind an entry point's module.
_EXTRAS = {"box2d": "box2d", "mujoco": "mujoco", "pybullet": "bullet", "ale_py": "atari", "minatar": "minatar"}


def _register_bullet(env_id: str) -> None:
    """Bullet ids (e.g. InvertedPendulumSwingupBulletEnv-v0) register when pybullet_envs_gymnasium
    is imported; import it on first use, or say which extra installs it."""
    if "Bullet" not in env_id or env_id in gym.registry:
        return
    try:
        with quiet_stdout():
            importlib.import_module("pybullet_envs_gymnasium")
    except ImportError:
        raise ImportError(f"environment {env_id!r} needs pybullet: pip install 'genpolicy[bullet]'") from None


def _register_minatar(env_id: str) -> None:
    """MinAtar ids (MinAtar/SpaceInvaders-v1) register on first use (genpolicy.envs.minatar)."""
    if env_id.startswith("MinAtar/") and env_id not in gym.registry:
        from genpolicy.envs.minatar import register

        register()


def _register_ale(env_id: str) -> None:
    """ALE ids (ALE/Pong-v5, PongNoFrameskip-v4) register when ale_py is imported."""
    if env_id in gym.registry or not (env_id.startswith("ALE/") or "NoFrameskip" in env_id):
        return
    from genpolicy.envs.atari import import_ale

    import_ale()


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Silence C-level writes to stdout (pybullet prints 'argv[0]=' when it connects), so
    genpolicy's own stdout (evaluate's JSON line) stays clean."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, io.UnsupportedOperation):
        yield
        return
    sys.stdout.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def resolve_env_id(env_id: str) -> gym.envs.registration.EnvSpec:
    """Return gymnasium's spec for ``env_id`` or raise a ValueError naming close matches.

    ``"my_package:MyEnv-v0"`` imports ``my_package`` first (which registers the env), as
    ``gymnasium.make`` does, so the id also works in worker processes.
    """
    if not isinstance(env_id, str) or not env_id:
        raise ValueError(f"env id must be a non-empty string, got {env_id!r}")
    _register_bullet(env_id)
    _register_ale(env_id)
    _register_minatar(env_id)
    if ":" in env_id:
        module, env_id = env_id.split(":", 1)
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise ValueError(f"env id {module}:{env_id}: cannot import module {module!r} ({err})") from None
    try:
        return gym.spec(env_id)
    except gym.error.Error as err:
        known = sorted(gym.registry.keys())
        close = difflib.get_close_matches(env_id, known, n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(
            f"unknown env id {env_id!r} ({err}).{hint} Registered ids are listed by "
            '`python -c "import gymnasium; gymnasium.pprint_registry()"` '
            f"(e.g. {', '.join(k for k in ('CartPole-v1', 'LunarLander-v3', 'Pendulum-v1'))})."
        ) from None


def _missing_extra_error(env_id: str, spec: gym.envs.registration.EnvSpec, err: Exception) -> Exception:
    entry = spec.entry_point if isinstance(spec.entry_point, str) else ""
    for module, extra in _EXTRAS.items():
        if module in entry or module in str(err).lower():
            return ImportError(
                f"environment {env_id!r} needs an optional simulator that is not installed ({err}). "
                f"Install it with: pip install 'genpolicy[{extra}]'"
            )
    return err


def make_env(env_id: str, render_mode: str | None = None, **kwargs: Any) -> gym.Env:
    """Build one environment, turning a missing simulator into an install hint."""
    spec = resolve_env_id(env_id)
    try:
        if "Bullet" in env_id:
            with quiet_stdout():
                return gym.make(env_id, render_mode=render_mode, **kwargs)
        return gym.make(env_id, render_mode=render_mode, **kwargs)
    except (ImportError, gym.error.DependencyNotInstalled) as err:
        raise _missing_extra_error(env_id, spec, err) from None


def make_vector_env(env_id: str, num_envs: int, mode: str = "sync", **kwargs: Any) -> gym.vector.VectorEnv:
    """``num_envs`` copies of ``env_id`` in one gymnasium vector env (``sync`` or ``async``)."""
    if mode not in ("sync", "async"):
        raise ValueError(f"a gymnasium vector env is 'sync' or 'async', got {mode!r}")
    make_env(env_id, **kwargs).close()  # fail here, clearly, rather than inside a worker
    fns = [lambda: gym.make(env_id, **kwargs) for _ in range(num_envs)]
    if mode == "sync":
        return gym.vector.SyncVectorEnv(fns)
    return gym.vector.AsyncVectorEnv(fns, shared_memory=True)


@dataclass(frozen=True)
class EnvSpec:
    """What a method needs to know about an environment, plus how to build it.

    ``goal`` is the test return that counts as solved (gymnasium's ``reward_threshold`` unless given). ``backend``:
    ``gymnasium``, ``torch`` (the torch-native batch in genpolicy.envs.torch, dynamics in ``torch_dtype``) or ``auto``
    (torch where a torch-native version exists). For gymnasium, ``vectorization`` is ``sync`` (in-process),
    ``workers`` (``workers`` processes, default one per core, each stepping a slice of the copies) or ``async``
    (gymnasium's AsyncVectorEnv: one process per copy). ``action_kind`` is ``"discrete"`` (``action_dim`` = number of
    actions) or ``"box"`` (``action_dim`` = vector size, with ``action_low`` / ``action_high``). ``backend="atari"``
    specs come from :func:`genpolicy.envs.atari.atari_spec`. ``compile`` (torch backend) runs each step — policy,
    environment, bookkeeping — as one ``torch.compile`` graph: faster steps for a one-off compilation per chunk size.
    """

    id: str
    obs_dim: int
    action_kind: str
    action_dim: int
    action_low: tuple[float, ...] = ()
    action_high: tuple[float, ...] = ()
    goal: float | None = None
    max_episode_steps: int | None = None
    vectorization: str = "sync"
    kwargs: dict = field(default_factory=dict)
    backend: str = "gymnasium"
    torch_dtype: str = "float64"
    workers: int | None = None
    compile: bool = False
    obs_shape: tuple[int, ...] = ()  # (C, H, W) for image frames (env=atari); () for vectors (obs_dim,)

    @property
    def frames(self) -> bool:
        """Whether observations are image frames (C, H, W), flattened in the loop."""
        return len(self.obs_shape) == 3

    @classmethod
    def make(
        cls,
        id: str,
        goal: float | None = None,
        vectorization: str = "sync",
        kwargs: dict | None = None,
        backend: str = "auto",
        torch_dtype: str = "float64",
        workers: int | None = None,
        compile: bool = False,
    ) -> EnvSpec:
        kwargs = dict(kwargs or {})
        gspec = resolve_env_id(id)
        if "ale_py" in str(gspec.entry_point):
            raise ValueError(
                f"{id} is an Atari game: play it with env=atari env.id={id} (ale-py's vector env, "
                "frames preprocessed for policy=convlstm)"
            )
        if backend not in ("auto", "gymnasium", "torch"):
            raise ValueError(f"env backend must be 'auto', 'gymnasium' or 'torch', got {backend!r}")
        from genpolicy.envs.torch import TORCH_ENVS

        if backend == "auto":  # the torch-native batch where one exists (same task, far faster)
            backend = "torch" if id in TORCH_ENVS and not kwargs and vectorization == "sync" else "gymnasium"
        if backend == "torch":
            if id not in TORCH_ENVS:
                raise ValueError(
                    f"no torch-native version of {id!r}; torch backend ids: {', '.join(sorted(TORCH_ENVS))}"
                    " (use env.backend=gymnasium for any other id)"
                )
            if kwargs:
                raise ValueError(f"env kwargs {sorted(kwargs)} are not supported by the torch backend")
            if torch_dtype not in ("float32", "float64"):
                raise ValueError(f"torch_dtype must be 'float32' or 'float64', got {torch_dtype!r}")
        if flag("env.compile", compile) and backend != "torch":
            raise ValueError(
                f"env.compile=true compiles the torch-native step, but {id!r} runs on the {backend} "
                f"backend (torch-native ids: {', '.join(sorted(TORCH_ENVS))})"
            )
        env = make_env(id, **kwargs)
        try:
            obs_space, act_space = env.observation_space, env.action_space
        finally:
            env.close()
        if not isinstance(obs_space, gym.spaces.Box):
            raise ValueError(f"{id}: only Box observation spaces are supported, got {obs_space}")
        if isinstance(act_space, gym.spaces.Discrete):
            kind, dim, low, high = "discrete", int(act_space.n), (), ()
        elif isinstance(act_space, gym.spaces.Box) and len(act_space.shape) == 1:
            kind, dim = "box", int(act_space.shape[0])
            low = tuple(float(x) for x in np.broadcast_to(act_space.low, act_space.shape))
            high = tuple(float(x) for x in np.broadcast_to(act_space.high, act_space.shape))
        else:
            raise ValueError(f"{id}: action space {act_space} is not supported (Discrete or 1-D Box)")
        if goal is None:
            goal = gspec.reward_threshold
        if vectorization not in ("sync", "workers", "async"):
            raise ValueError(f"vectorization must be 'sync', 'workers' or 'async', got {vectorization!r}")
        check.optional(check.integer, "workers", workers)  # null: one per core
        return cls(
            id=id,
            obs_dim=int(np.prod(obs_space.shape)),
            action_kind=kind,
            action_dim=dim,
            action_low=low,
            action_high=high,
            goal=None if goal is None else float(goal),
            max_episode_steps=gspec.max_episode_steps,
            vectorization=vectorization,
            kwargs=kwargs,
            backend=backend,
            torch_dtype=torch_dtype,
            workers=workers,
            compile=compile,
        )

    def make_vector(self, num_envs: int) -> gym.vector.VectorEnv:
        return make_vector_env(self.id, num_envs, self.vectorization, **self.kwargs)

    def make_single(self, render_mode: str | None = None) -> gym.Env:
        if self.backend == "atari":
            from genpolicy.envs.atari import single_env

            return single_env(self, render_mode)
        from genpolicy.envs.torch import META_ENVS

        if self.id in META_ENVS:
            from genpolicy.envs.meta import MetaSingleEnv

            return MetaSingleEnv(self, render_mode)
        return make_env(self.id, render_mode=render_mode, **self.kwargs)
