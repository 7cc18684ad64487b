"""Evaluate P parameter vectors × E episodes with one batched policy call per environment step.

Gymnasium ≥ 1.0 vector envs reset a finished sub-env on the *next* ``step`` (the action sent then is
ignored and the reward is 0). Here every sub-env plays exactly one episode: once it reports
``terminated`` or ``truncated`` it is masked and its return is final. With a ``SyncVectorEnv`` the
finished sub-envs are not stepped at all (no autoreset happens, no simulation is wasted on them —
with ES populations most episodes end long before the longest one); other vector envs step every
sub-env and the masked results are discarded. The loop ends when every sub-env has finished or the
optional step cap is hit (then unfinished episodes count as truncated there).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from genpolicy.envs.registry import EnvSpec

ActFn = Callable[[torch.Tensor], torch.Tensor]  # obs (P, E, obs_dim) → actions (P, E[, act_dim])


@dataclass
class RolloutResult:
    returns: torch.Tensor  # (P, E) float64 episode returns (NaN/inf kept as reported)
    lengths: torch.Tensor  # (P, E) int64 episode lengths
    env_steps: int  # environment steps that counted (finished sub-envs excluded)
    wall_s: float
    obs_sum: torch.Tensor | None = None  # (obs_dim,) float64 over counted steps
    obs_sumsq: torch.Tensor | None = None
    obs_count: int = 0

    @property
    def steps_per_s(self) -> float:
        return self.env_steps / max(self.wall_s, 1e-9)


def _step(envs, actions: np.ndarray, active: np.ndarray, obs: np.ndarray):
    """Step the vector env; for a SyncVectorEnv only the ``active`` sub-envs are stepped."""
    if not isinstance(envs, gym.vector.SyncVectorEnv):
        obs, reward, terminated, truncated, _ = envs.step(actions)
        return obs, reward, terminated, truncated
    n = len(envs.envs)
    obs = obs.copy()
    reward = np.zeros(n)
    terminated = np.zeros(n, dtype=bool)
    truncated = np.zeros(n, dtype=bool)
    acts = actions.tolist() if actions.ndim == 1 else actions  # Python ints: gymnasium's cheap path
    for i in np.flatnonzero(active).tolist():
        obs[i], reward[i], terminated[i], truncated[i], _ = envs.envs[i].step(acts[i])
    return obs, reward, terminated, truncated


@contextmanager
def _torch_threads(n: int | None):
    if n is None or n == torch.get_num_threads():
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class PopulationEvaluator:
    """Owns vector envs (one per size used, reused across generations) and runs the episode loop.

    ``torch_threads``: intra-op threads while stepping. ``None`` (auto) uses one thread for batches
    of up to ``single_thread_below`` sub-envs: per-step policy calls on small batches are
    latency-bound and extra threads only add synchronisation (4× slower on a busy 2-core CPU).
    """

    def __init__(self, spec: EnvSpec, torch_threads: int | None = None, single_thread_below: int = 4096) -> None:
        self.spec = spec
        self.torch_threads, self.single_thread_below = torch_threads, int(single_thread_below)
        self._pool: dict[int, object] = {}

    def _envs(self, n: int):
        if n not in self._pool:
            self._pool[n] = self.spec.make_vector(n)
        return self._pool[n]

    def close(self) -> None:
        for env in self._pool.values():
            env.close()
        self._pool.clear()

    def evaluate(
        self,
        act: ActFn,
        members: int,
        episodes: int,
        seeds: Sequence[int],
        device: torch.device | str = "cpu",
        max_steps: int | None = None,
        obs_stats: bool = False,
    ) -> RolloutResult:
        """Play ``episodes`` episodes for each of ``members`` policies behind the batched ``act``.

        ``seeds`` gives one reset seed per sub-env, member-major: sub-env p·E + e is member p's
        episode e. Observations go to ``device``; actions come back to the CPU.
        """
        P, E = int(members), int(episodes)
        n = P * E
        if len(seeds) != n:
            raise ValueError(f"need {n} env seeds (P={P} × episodes={E}), got {len(seeds)}")
        threads = self.torch_threads or (1 if n <= self.single_thread_below else None)
        with torch.no_grad(), _torch_threads(threads):
            return self._loop(act, P, E, seeds, torch.device(device), max_steps, obs_stats)

    def _loop(self, act, P, E, seeds, device, max_steps, obs_stats) -> RolloutResult:
        n = P * E
        envs = self._envs(n)
        start = time.perf_counter()
        obs, _ = envs.reset(seed=[int(s) for s in seeds])
        done = np.zeros(n, dtype=bool)
        returns = np.zeros(n, dtype=np.float64)
        lengths = np.zeros(n, dtype=np.int64)
        o_sum = np.zeros(self.spec.obs_dim) if obs_stats else None
        o_sumsq = np.zeros(self.spec.obs_dim) if obs_stats else None
        o_count = 0
        t = 0
        while not done.all() and (max_steps is None or t < max_steps):
            active = ~done
            flat_obs = obs.reshape(n, -1)
            if obs_stats:
                counted = flat_obs[active].astype(np.float64)
                o_sum += counted.sum(0)
                o_sumsq += np.square(counted).sum(0)
                o_count += counted.shape[0]
            o = torch.as_tensor(flat_obs, dtype=torch.float32, device=device).view(P, E, -1)
            actions = act(o).reshape(n, *([] if self.spec.action_kind == "discrete" else [-1]))
            obs, reward, terminated, truncated = _step(envs, actions.cpu().numpy(), active, obs)
            returns += np.where(active, reward, 0.0)
            lengths += active
            done |= active & (terminated | truncated)
            t += 1
        wall = time.perf_counter() - start
        return RolloutResult(
            returns=torch.from_numpy(returns).view(P, E),
            lengths=torch.from_numpy(lengths).view(P, E),
            env_steps=int(lengths.sum()),
            wall_s=wall,
            obs_sum=None if o_sum is None else torch.from_numpy(o_sum),
            obs_sumsq=None if o_sumsq is None else torch.from_numpy(o_sumsq),
            obs_count=o_count,
        )
