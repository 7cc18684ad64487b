"""The one protocol every search strategy implements, and the one generation update that drives it.

A strategy searches over flat parameter vectors (D,):

- ``initialize(params)``: start the search at ``params``. A gradient-based strategy keeps the tensor
  itself (the caller's optimiser moves it in place); the others copy it.
- ``ask(seed) → Members``: the population of one generation, built on demand from the seed
  (``len``, ``dim``, ``rows(idx) → (k, D)``), so any process rebuilds any member.
- ``tell(fitness (P,), seed) → ascent (D,) | None``: the generation's scores. A gradient-based
  strategy returns its estimate of the fitness gradient at the centre (the caller writes its negation
  into ``.grad`` and steps its optimiser); the others update themselves and return None.
- ``reevaluate() → (Members, episodes) | None`` and ``tell_reevaluated(scores)``: an optional request
  to score some candidates again over more episodes (a GA's elite).
- ``solution()``: the current best guess (D,); ``metrics()``: the values this generation uses;
  ``state_dict()`` / ``load_state_dict()``: everything an exact resume needs.
- ``env_pairs``: how many consecutive members share their environment seeds (2 for mirrored pairs:
  common random numbers, so a pair's fitness difference measures ε, not the start state).

:func:`update` is the one generation step over that protocol, used by the Lightning methods and by the
Python API alike; no caller names a concrete strategy class.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import torch

from genpolicy.population.optim import OptimizerSettings

if TYPE_CHECKING:
    from collections.abc import Iterable


class Members(Protocol):
    dim: int

    def __len__(self) -> int: ...

    def rows(self, idx: torch.Tensor) -> torch.Tensor: ...


class TensorMembers:
    """A materialised population (P, D) as :class:`Members`."""

    def __init__(self, params: torch.Tensor) -> None:
        self.params, self.dim = params, params.shape[1]

    def __len__(self) -> int:
        return self.params.shape[0]

    def rows(self, idx: torch.Tensor) -> torch.Tensor:
        return self.params[idx.to(self.params.device)]


class Strategy:
    """Defaults of the protocol; a strategy overrides what it has."""

    popsize: int
    kind: str = "distribution"  # "gradient" (tell returns an ascent estimate) | "genetic" | "distribution"
    env_pairs: int = 1
    metric_prefix: str = "search"

    @property
    def gradient_based(self) -> bool:
        return self.kind == "gradient"

    def initialize(self, params: torch.Tensor) -> None:
        raise NotImplementedError

    def ask(self, seed: int) -> Members:
        raise NotImplementedError

    def tell(self, fitness: torch.Tensor, seed: int) -> torch.Tensor | None:
        raise NotImplementedError

    def solution(self) -> torch.Tensor:
        raise NotImplementedError

    def reevaluate(self) -> tuple[Members, int] | None:
        return None

    def tell_reevaluated(self, scores: torch.Tensor) -> dict[str, float]:
        raise RuntimeError(f"{type(self).__name__} asked for no re-evaluation")

    def metrics(self) -> dict[str, float]:
        return {}

    def make_optimizer(self, params: Iterable[torch.Tensor]) -> tuple[torch.optim.Optimizer, None]:
        """An optimiser that never moves ``params`` (lr 0, no gradient): its steps count generations."""
        return torch.optim.SGD(params, lr=0.0), None

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def check_fitness(self, fitness: torch.Tensor) -> torch.Tensor:
        """``fitness`` as float64 (P,) with non-finite values (NaN, ±inf) ranked last as −inf."""
        if fitness.shape != (self.popsize,):
            raise ValueError(f"expected fitness of shape ({self.popsize},), got {tuple(fitness.shape)}")
        f = fitness.double()
        return torch.where(torch.isfinite(f), f, torch.full_like(f, -torch.inf))


class GradientStrategy(Strategy):
    """A strategy whose ``tell`` returns an ascent estimate for the centre; it carries the settings of the
    optimiser that steps the centre (Adam, SGD or ClipUp, with lr decay once per generation)."""

    kind = "gradient"

    def __init__(
        self,
        optimizer: str = "adam",
        lr: float = 0.01,
        lr_decay: float = 1.0,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        max_speed: float | None = None,
    ) -> None:
        self.optim = OptimizerSettings(optimizer, lr, lr_decay, momentum, weight_decay, max_speed)
        self.centre: torch.Tensor | None = None

    def initialize(self, params: torch.Tensor) -> None:
        self.centre = params  # kept, not copied: the caller's optimiser moves it

    def solution(self) -> torch.Tensor:
        if self.centre is None:
            raise RuntimeError("call initialize(params) before using the strategy")
        return self.centre.detach()

    def make_optimizer(
        self, params: Iterable[torch.Tensor]
    ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        return self.optim.build(params)


Rescore = Callable[[Members, int], torch.Tensor]  # (candidates, episodes) → their mean returns (k,)


def update(
    strategy: Strategy,
    centre: torch.Tensor,
    optimizer: torch.optim.Optimizer,  # or anything that steps like one (Lightning's wrapper)
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    fitness: torch.Tensor,
    seed: int,
    rescore: Rescore | None = None,
) -> dict[str, float]:
    """Tell ``strategy`` one generation's ``fitness`` (P,) and move ``centre`` (D,); returns the
    generation's strategy metrics (the values it used, before they change).

    Gradient-based: ``centre.grad = −ascent``, then one step of ``optimizer`` and ``scheduler``.
    Otherwise a requested re-evaluation is scored by ``rescore``, ``centre`` takes the strategy's
    solution, and ``optimizer`` makes a no-op step (Lightning counts steps by optimiser steps).
    """
    metrics = dict(strategy.metrics())
    prefix = strategy.metric_prefix
    optimizer.zero_grad()
    ascent = strategy.tell(fitness, seed)
    if strategy.gradient_based:
        metrics[f"{prefix}/lr"] = float(optimizer.param_groups[0]["lr"])
        centre.grad = -ascent.to(centre)
        metrics[f"{prefix}/grad_norm"] = float(centre.grad.norm())
        optimizer.step()
        scheduler.step()
        return metrics
    request = strategy.reevaluate()
    if request is not None:
        if rescore is None:
            raise ValueError(f"{type(strategy).__name__} asks for a re-evaluation; pass rescore")
        candidates, episodes = request
        metrics.update(strategy.tell_reevaluated(rescore(candidates, episodes)))
    with torch.no_grad():
        centre.copy_(strategy.solution())
    optimizer.step()  # no gradient: moves nothing, counts the generation
    return metrics
