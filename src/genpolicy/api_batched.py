"""The batched scorers behind :class:`genpolicy.api.EvolutionModule`: a whole population per call.

- :class:`EnvScorer` (``EvolutionModule(model, env=...)``): the user's module becomes a
  :class:`~genpolicy.policies.ModulePolicy` and every member is played in the one batched episode loop
  (:class:`~genpolicy.rollout.evaluator.PopulationEvaluator`), instead of one Python call per member.
- :class:`BatchRewardScorer` (``EvolutionModule(params, batch_reward_func=f)``): the user's vectorised
  reward ``f(weights) → (P,)``, where ``weights`` is a list of tensors shaped (P, *param.shape).

Both have ``score(members, gen_seed) → (P,) float64`` and ``test(centre (D,), run_seed, test) → float``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from genpolicy import _checks as check
from genpolicy.envs.registry import EnvSpec
from genpolicy.policies.module import ModulePolicy
from genpolicy.population.protocol import Members
from genpolicy.rollout.evaluator import PopulationEvaluator
from genpolicy.seeding import eval_seeds, generator, seeds

BatchReward = Callable[[list[torch.Tensor]], "torch.Tensor | np.ndarray | Sequence[float]"]


def unflatten_rows(rows: torch.Tensor, shapes: Sequence[torch.Size]) -> list[torch.Tensor]:
    """Flat members (P, D) → one tensor (P, *shape) per parameter."""
    out, offset = [], 0
    for shape in shapes:
        n = math.prod(shape)
        out.append(rows[:, offset : offset + n].reshape(rows.shape[0], *shape))
        offset += n
    return out


def pair_env_seeds(gen_seed: int, members: int, episodes: int, pair: int) -> torch.Tensor:
    """One reset seed per (member, episode), member-major, from the generation's ``env`` stream; with
    ``pair=2`` a mirrored pair shares its seeds (as ``PopulationModule.env_seeds`` does)."""
    idx = torch.arange(members * episodes)
    return seeds(gen_seed, "env", (idx // episodes // pair) * episodes + idx % episodes)


class BatchRewardScorer:
    """Scores the population with one call of a vectorised reward function per iteration."""

    def __init__(self, func: BatchReward, shapes: Sequence[torch.Size]) -> None:
        if not callable(func):
            raise ValueError(f"batch_reward_func must be callable, got {type(func).__name__}")
        self.func, self.shapes = func, list(shapes)

    def _call(self, rows: torch.Tensor) -> torch.Tensor:
        P = rows.shape[0]
        out = self.func(unflatten_rows(rows, self.shapes))
        if isinstance(out, torch.Tensor):
            out = out.detach().cpu()
        try:
            rewards = torch.as_tensor(np.asarray(out, dtype=np.float64))
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"batch_reward_func must return {P} rewards as a (P,) tensor or array, got {type(out).__name__} ({err})"
            ) from None
        if rewards.shape != (P,):
            raise ValueError(
                f"batch_reward_func must return one reward per member, shape ({P},), got {tuple(rewards.shape)}"
            )
        return rewards

    def score(self, members: Members, gen_seed: int) -> torch.Tensor:
        return self._call(members.rows(torch.arange(len(members))))

    def test(self, centre: torch.Tensor, run_seed: int, test: int) -> float:
        """The centre alone, scored through the batch function (a population of 1)."""
        return float(self._call(centre[None])[0])


class EnvScorer:
    """Plays every member in one batched loop: ``episodes`` episodes each, mean return as fitness.

    ``env``: a gymnasium id (``EnvSpec.make`` with backend ``auto``: torch-native where one exists) or
    an :class:`EnvSpec`. ``obs_norm``: normalise observations with running statistics shared by all
    members, updated from every generation's episodes (off by default: the module sees raw
    observations, as a per-member reward function would give them). ``action_mode``: None picks
    argmax (discrete) / tanh (box); ``"sample"`` draws actions from the generation's ``action`` stream.
    """

    def __init__(
        self,
        model: nn.Module,
        env: str | EnvSpec,
        pairs: int,
        episodes: int = 1,
        obs_norm: bool = False,
        action_mode: str | None = None,
        test_episodes: int = 10,
        device: torch.device | str = "cpu",
    ) -> None:
        if not isinstance(model, nn.Module):
            raise ValueError(
                "env mode plays the module's forward: pass the nn.Module itself, not a list of "
                f"tensors (got {type(model).__name__})"
            )
        self.spec = env if isinstance(env, EnvSpec) else EnvSpec.make(env)
        self.episodes = check.integer("episodes_per_member", episodes)
        self.test_episodes = check.integer("test_episodes", test_episodes)
        self.pairs, self.device = int(pairs), torch.device(device)
        s = self.spec
        self.policy = ModulePolicy(
            s.obs_dim,
            s.action_kind,
            s.action_dim,
            s.action_low,
            s.action_high,
            module=copy.deepcopy(model),
            action_mode=action_mode,  # the user's stays as is
            obs_norm=check.flag("obs_norm", obs_norm),
        ).to(self.device)
        self.evaluator = PopulationEvaluator(s)

    def score(self, members: Members, gen_seed: int) -> torch.Tensor:
        act_gen = generator(gen_seed, "action", self.device)
        env_seeds = pair_env_seeds(gen_seed, len(members), self.episodes, self.pairs)
        result = self.evaluator.evaluate(
            lambda p: self.policy.bind(p, act_gen),
            members,
            self.episodes,
            env_seeds,
            self.device,
            obs_stats=self.policy.norm.enabled,
        )
        if result.obs_count:
            self.policy.norm.update(result.obs_sum, result.obs_sumsq, result.obs_count)
        return result.returns.mean(1)

    def test(self, centre: torch.Tensor, run_seed: int, test: int) -> float:
        """Mean return of the centre over ``test_episodes`` episodes seeded by ``eval_seeds``."""
        n = self.test_episodes
        result = self.evaluator.evaluate(self.policy.bind, centre[None], n, eval_seeds(run_seed, test, n), self.device)
        return float(result.returns.mean())

    def close(self) -> None:
        self.evaluator.close()
