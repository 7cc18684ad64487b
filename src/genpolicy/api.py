"""Bring your own model: evolve any ``nn.Module`` (or list of tensors) against your own reward function.

The PyTorch-ES interface (staturecrane/PyTorch-ES, after evostra), on genpolicy's engine::

    es = EvolutionModule(list(model.parameters()), reward_fn, population_size=50, sigma=0.1,
                         learning_rate=0.001, reward_goal=195, consecutive_goal_stopping=10)
    weights = es.run(iterations=300, print_step=10)

Three ways to score a population (exactly one is given):

- ``reward_func(weights) → float`` (per member): ``weights`` is a list of tensors shaped like the
  parameters; one Python call per member (``threadcount`` threads).
- ``batch_reward_func(weights) → (P,)`` (vectorised): ``weights`` is a list of tensors shaped
  (P, *param.shape), the whole population; one call per iteration.
- ``env="CartPole-v1"`` (or an :class:`~genpolicy.envs.registry.EnvSpec`) with the ``nn.Module`` as
  ``params``: the module plays the env, the whole population in genpolicy's one batched episode loop
  (:mod:`genpolicy.api_batched`); mirrored pairs share their reset seeds.

Unlike the original, decays are applied once per iteration (not once per parameter tensor), members
are mirrored pairs rebuilt from seeds (no deep copies of the model) and the update is the same
OpenAI-ES step the Lightning method uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genpolicy import _checks as check
from genpolicy._io import atomic_path
from genpolicy.api_batched import BatchReward, BatchRewardScorer, EnvScorer
from genpolicy.envs.registry import EnvSpec
from genpolicy.population.openai_es import OpenAIES
from genpolicy.population.protocol import Members, update
from genpolicy.seeding import generation_seed


class EvolutionModule:
    def __init__(
        self,
        params: Iterable[torch.Tensor] | nn.Module,
        reward_func: Callable[..., float] | None = None,
        population_size: int = 50,
        sigma: float = 0.1,
        learning_rate: float = 0.001,
        decay: float = 1.0,
        sigma_decay: float = 1.0,
        threadcount: int = 1,
        render_test: bool = False,
        cuda: bool = False,
        reward_goal: float | None = None,
        consecutive_goal_stopping: int | None = None,
        save_path: str | None = None,
        *,
        mirrored: bool = True,
        shaping: str = "zscore",
        optimizer: str = "sgd",
        weight_decay: float = 0.0,
        seed: int = 0,
        batch_reward_func: BatchReward | None = None,
        env: str | EnvSpec | None = None,
        episodes_per_member: int = 1,
        obs_norm: bool = False,
        action_mode: str | None = None,
        test_episodes: int = 10,
    ) -> None:
        """``params``: the model (its parameters are evolved and written back by :meth:`run`) or a list
        of tensors; give exactly one of ``reward_func``, ``batch_reward_func`` or ``env`` (module
        docstring). ``episodes_per_member``, ``obs_norm``, ``action_mode`` and ``test_episodes`` are
        env-mode options (see :class:`~genpolicy.api_batched.EnvScorer`); ``threadcount`` and
        ``render_test`` only apply to ``reward_func``."""
        given = [
            n
            for n, v in (("reward_func", reward_func), ("batch_reward_func", batch_reward_func), ("env", env))
            if v is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of reward_func (one member → float), batch_reward_func "
                f"(whole population → (P,)) or env (a gymnasium id or EnvSpec); got "
                f"{' and '.join(given) or 'none'}"
            )
        model = params
        params = list(params.parameters() if isinstance(params, nn.Module) else params)
        if not params:
            raise ValueError("params is empty: pass model.parameters() or a list of tensors")
        if cuda and not torch.cuda.is_available():
            raise ValueError("cuda=True but no CUDA device is available")
        check.positive("learning_rate", learning_rate)
        check.decay("decay", decay)
        check.integer("threadcount", threadcount)
        if consecutive_goal_stopping is not None and reward_goal is None:
            raise ValueError("consecutive_goal_stopping needs a reward_goal")
        check.choice("optimizer", optimizer, ("sgd", "adam"))
        self.params, self.reward_func = params, reward_func
        # the engine's OpenAI-ES and generation update, as fit runs them (plain SGD: no momentum)
        self.strategy = OpenAIES(
            population_size,
            sigma,
            mirrored,
            shaping,
            sigma_decay,
            optimizer=optimizer,
            lr=learning_rate,
            lr_decay=decay,
            momentum=0.0,
            weight_decay=weight_decay,
        )
        device = torch.device("cuda" if cuda else params[0].device)
        self.shapes = [p.shape for p in params]
        self.centre = nn.Parameter(nn.utils.parameters_to_vector([p.detach() for p in params]).to(device))
        self.strategy.initialize(self.centre)
        self.optimizer, self.scheduler = self.strategy.make_optimizer([self.centre])
        self.threadcount, self.render_test = int(threadcount), render_test
        self.reward_goal, self.consecutive = reward_goal, consecutive_goal_stopping or 1
        self.save_path = Path(save_path) if save_path else None
        self.seed, self.iteration, self.history = int(seed), 0, []
        self.batched: BatchRewardScorer | EnvScorer | None = None  # None: the per-member reward_func
        if batch_reward_func is not None:
            self.batched = BatchRewardScorer(batch_reward_func, self.shapes)
        elif env is not None:
            self.batched = EnvScorer(
                model, env, self.strategy.env_pairs, episodes_per_member, obs_norm, action_mode, test_episodes, device
            )

    # ------------------------------------------------------------------ helpers
    def unflatten(self, flat: torch.Tensor) -> list[torch.Tensor]:
        out, offset = [], 0
        for shape in self.shapes:
            n = math.prod(shape)
            out.append(flat[offset : offset + n].view(shape))
            offset += n
        return out

    @property
    def weights(self) -> list[torch.Tensor]:
        """The current (unperturbed) weights, shaped like the parameters."""
        return [w.detach().clone() for w in self.unflatten(self.strategy.solution())]

    def _score(self, members: Members, seed: int) -> torch.Tensor:
        if self.batched is not None:
            return self.batched.score(members, seed)

        def one(row: torch.Tensor) -> float:
            return float(self.reward_func(self.unflatten(row)))

        rows = list(members.rows(torch.arange(len(members))))
        if self.threadcount == 1:
            scores = [one(r) for r in rows]
        else:
            with ThreadPoolExecutor(self.threadcount) as pool:
                scores = list(pool.map(one, rows))
        return torch.tensor(scores, dtype=torch.float64)

    def test(self) -> float:
        """The current weights' reward: ``reward_func(weights)``; the batch function on a population of
        one; or the env mode's mean return over ``test_episodes`` episodes (``eval_seeds(seed, iteration)``)."""
        if self.batched is not None:
            return self.batched.test(self.strategy.solution(), self.seed, self.iteration)
        kwargs = {"render": True} if self.render_test else {}
        return float(self.reward_func(self.weights, **kwargs))

    # ------------------------------------------------------------------ the loop
    def step(self) -> torch.Tensor:
        """One iteration: sample, score, update. Returns the population's rewards (P,)."""
        seed = generation_seed(self.seed, self.iteration)
        members = self.strategy.ask(seed)
        rewards = self._score(members, seed)
        update(self.strategy, self.centre, self.optimizer, self.scheduler, rewards, seed)  # lr and σ decay once
        self.iteration += 1
        return rewards

    def run(self, iterations: int, print_step: int = 10) -> list[torch.Tensor]:
        """Evolve for up to ``iterations``; every ``print_step`` test, print, save, check the goal.

        Returns the evolved weights and copies them into the parameters that were passed in.
        """
        check.integer("print_step", print_step)
        streak = 0
        for _ in range(int(iterations)):
            rewards = self.step()
            if self.iteration % print_step:
                continue
            test = self.test()
            self.history.append((self.iteration, test))
            print(
                f"iter {self.iteration}: test reward {test:.2f} | population mean {float(rewards.mean()):.2f}"
                f" max {float(rewards.max()):.2f}",
                flush=True,
            )
            if self.save_path is not None:
                with atomic_path(self.save_path) as tmp:
                    torch.save(self.weights, tmp)
            if self.reward_goal is not None:
                streak = streak + 1 if test >= self.reward_goal else 0
                if streak >= self.consecutive:
                    print(f"reward goal {self.reward_goal} reached {streak} times in a row; stopping", flush=True)
                    break
        weights = self.weights
        with torch.no_grad():
            for p, w in zip(self.params, weights, strict=True):
                p.copy_(w.to(p.device))
        return weights


def evolve(
    model: nn.Module, reward_func: Callable[..., float] | None, iterations: int, print_step: int = 10, **kwargs: Any
) -> nn.Module:
    """Evolve ``model`` in place with :class:`EvolutionModule` and return it."""
    EvolutionModule(model, reward_func, **kwargs).run(iterations, print_step)
    return model
