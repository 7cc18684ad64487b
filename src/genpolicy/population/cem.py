"""Cross-entropy-method search (Rubinstein 1999; the search PGEN, riveSunder/pgens, actually ran).

Members are samples of a diagonal Gaussian N(mean, std²), rebuilt on demand from (seed, index). The
mean moves toward the average of the top ``elite`` members with rate ``smoothing``:
mean ← (1 − smoothing)·mean + smoothing·elite_mean (PGEN: 0.75). The std follows ``std_schedule``:
``fixed`` (``init_std`` throughout), ``fixed_after_first`` (PGEN: ``std_after_first`` from the
second generation on), ``elite`` (the elite's per-element std, floored at ``std_min``) or
``decay`` (× ``std_decay`` per generation, floored at ``std_min``).
"""

from __future__ import annotations

import torch

from genpolicy._checks import choice, decay, integer, positive
from genpolicy.population.noise import pair_noise
from genpolicy.population.protocol import Strategy
from genpolicy.seeding import stream

SCHEDULES = ("fixed", "fixed_after_first", "elite", "decay")


class GaussianMembers:
    def __init__(self, mean: torch.Tensor, std: torch.Tensor, seed: int, popsize: int) -> None:
        self.mean, self.std, self.seed, self.popsize, self.dim = mean, std, int(seed), popsize, mean.numel()

    def __len__(self) -> int:
        return self.popsize

    def rows(self, idx: torch.Tensor) -> torch.Tensor:
        noise = pair_noise(stream(self.seed, "noise"), idx.tolist(), self.dim, self.mean.device, self.mean.dtype)
        return self.mean + self.std * noise


class CEM(Strategy):
    metric_prefix = "cem"

    def __init__(
        self,
        popsize: int = 128,
        elite: int = 8,
        smoothing: float = 0.75,
        init_std: float = 0.1,
        std_schedule: str = "fixed",
        std_after_first: float = 0.1,
        std_decay: float = 1.0,
        std_min: float = 1e-3,
    ) -> None:
        self.popsize = integer("popsize", popsize, minimum=2)
        self.elite = integer("elite", elite)
        if self.elite > self.popsize:
            raise ValueError(f"elite ({elite}) must not exceed popsize ({popsize})")
        self.smoothing = decay("smoothing", smoothing)
        self.init_std = positive("init_std", init_std)
        self.std_schedule = choice("std_schedule", std_schedule, SCHEDULES)
        self.std_after_first = positive("std_after_first", std_after_first)
        self.std_decay = decay("std_decay", std_decay)
        self.std_min = float(std_min)
        self.mean: torch.Tensor | None = None
        self.std: torch.Tensor | None = None
        self.generation = 0

    def initialize(self, params: torch.Tensor) -> None:
        self.mean = params.detach().clone()
        self.std = torch.full_like(self.mean, self.init_std)

    def solution(self) -> torch.Tensor:
        return self.mean

    def ask(self, seed: int) -> GaussianMembers:
        if self.mean is None:
            raise RuntimeError("call initialize(params) before ask()")
        return GaussianMembers(self.mean, self.std, seed, self.popsize)

    def tell(self, fitness: torch.Tensor, seed: int) -> None:
        f = self.check_fitness(fitness)
        top = torch.sort(f, descending=True, stable=True).indices[: self.elite]
        elite = self.ask(seed).rows(top)  # (k, D)
        self.mean = (1 - self.smoothing) * self.mean + self.smoothing * elite.mean(0)
        if self.std_schedule == "fixed_after_first":
            self.std = torch.full_like(self.mean, self.std_after_first)
        elif self.std_schedule == "elite":
            self.std = elite.std(0, unbiased=False).clamp_min(self.std_min)
        elif self.std_schedule == "decay":
            self.std = (self.std * self.std_decay).clamp_min(self.std_min)
        self.generation += 1

    def metrics(self) -> dict[str, float]:
        return {"cem/std_mean": float(self.std.mean())} if self.std is not None else {}

    def state_dict(self) -> dict:
        return {"mean": self.mean, "std": self.std, "generation": self.generation}

    def load_state_dict(self, state: dict) -> None:
        self.mean, self.std, self.generation = state["mean"], state["std"], int(state["generation"])
