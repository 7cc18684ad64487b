"""OpenAI evolution strategies: Salimans, Ho, Chen, Sidor & Sutskever, "Evolution Strategies as a
Scalable Alternative to Reinforcement Learning", arXiv:1703.03864 (2017).

Ask/tell over a search centre θ (D,). ``ask`` perturbs θ with σ·ε, mirrored as (θ+σε, θ−σε) pairs
by default; ``gradient`` shapes the fitness and returns the ascent estimate
g = 1/(P σ) Σ_i u_i s_i ε_i, which the caller hands to any torch optimiser (negated, since torch
optimisers descend). The strategy owns σ and its once-per-generation decay, nothing else: the
optimiser, weight decay and learning-rate schedule live with the optimiser.
"""

from __future__ import annotations

import copy

import torch

from genpolicy._checks import choice, decay, integer, positive
from genpolicy.population.noise import pair_noise
from genpolicy.population.shaping import SHAPINGS, shape_fitness


class OpenAIES:
    def __init__(
        self,
        popsize: int = 64,
        sigma: float = 0.05,
        mirrored: bool = True,
        shaping: str = "centered_ranks",
        sigma_decay: float = 1.0,
        sigma_min: float = 0.0,
    ) -> None:
        popsize = integer("popsize", popsize, minimum=2)
        if mirrored and popsize % 2:
            raise ValueError(
                f"popsize must be even with mirrored sampling (members come in ±ε pairs), got {popsize}; "
                "use an even popsize or strategy.mirrored=false"
            )
        positive("sigma", sigma)
        decay("sigma_decay", sigma_decay)
        if not 0 <= sigma_min <= sigma:
            raise ValueError(f"sigma_min must be in [0, sigma], got {sigma_min!r}")
        choice("shaping", shaping, sorted(SHAPINGS))
        self.popsize, self.mirrored, self.shaping = int(popsize), bool(mirrored), shaping
        self.sigma, self.sigma_decay, self.sigma_min = float(sigma), float(sigma_decay), float(sigma_min)
        self._noise: tuple[int, torch.Tensor] | None = None  # (seed, ε) of the last ask

    @property
    def num_noise(self) -> int:
        """Number of distinct noise vectors per generation (pairs when mirrored)."""
        return self.popsize // 2 if self.mirrored else self.popsize

    def noise(self, seed: int, dim: int, device, dtype) -> torch.Tensor:
        """ε for generation ``seed``: (num_noise, D), regenerated unless it is the last one asked."""
        if self._noise is not None and self._noise[0] == seed and self._noise[1].shape[1] == dim:
            return self._noise[1]
        eps = pair_noise(seed, range(self.num_noise), dim, device, dtype)
        self._noise = (seed, eps)
        return eps

    def signs_and_rows(self) -> tuple[torch.Tensor, torch.Tensor]:
        """For every member: its sign s_i (±1) and the row of ε it uses."""
        idx = torch.arange(self.popsize)
        if self.mirrored:
            return 1.0 - 2.0 * (idx % 2), idx // 2
        return torch.ones(self.popsize), idx

    def population(self, centre: torch.Tensor, seed: int) -> "PerturbedPopulation":
        """The members of generation ``seed``, built on demand (nothing of size P × D is stored
        beyond ε)."""
        eps = self.noise(seed, centre.numel(), centre.device, centre.dtype)
        signs, rows = self.signs_and_rows()
        return PerturbedPopulation(centre.detach(), eps, self.sigma, signs, rows)

    def ask(self, centre: torch.Tensor, seed: int) -> torch.Tensor:
        """The population (P, D): member 2j = θ + σε_j and 2j+1 = θ − σε_j when mirrored."""
        return self.population(centre, seed).rows(torch.arange(self.popsize))

    def member(self, centre: torch.Tensor, seed: int, index: int) -> torch.Tensor:
        """Rebuild member ``index`` of generation ``seed`` alone, without the rest of the population."""
        sign, row = self.signs_and_rows()
        eps = pair_noise(seed, [int(row[index])], centre.numel(), centre.device, centre.dtype)[0]
        return centre.detach() + self.sigma * float(sign[index]) * eps

    def gradient(self, fitness: torch.Tensor, seed: int, dim: int, device=None, dtype=torch.float32) -> torch.Tensor:
        """Ascent direction (D,) estimated from the members' fitness (P,) of generation ``seed``."""
        if fitness.shape != (self.popsize,):
            raise ValueError(f"expected fitness of shape ({self.popsize},), got {tuple(fitness.shape)}")
        eps = self.noise(seed, dim, device or fitness.device, dtype)
        u = shape_fitness(fitness, self.shaping).to(eps)
        w = u[0::2] - u[1::2] if self.mirrored else u  # (num_noise,)
        return (w @ eps) / (self.popsize * self.sigma)

    def step(self) -> None:
        """Once per generation: σ ← max(σ·decay, σ_min)."""
        self.sigma = max(self.sigma * self.sigma_decay, self.sigma_min)

    def state_dict(self) -> dict:
        return {"sigma": self.sigma}

    def load_state_dict(self, state: dict) -> None:
        self.sigma = float(state["sigma"])


class PerturbedPopulation:
    """Members θ + σ·s_i·ε_row(i) materialised only for the indices asked (chunked evaluation)."""

    def __init__(self, centre, eps, sigma, signs, rows) -> None:
        self.centre, self.eps, self.sigma = centre, eps, float(sigma)
        self.signs, self.row_of = signs.to(eps), rows.to(eps.device)
        self.popsize, self.dim = signs.numel(), centre.numel()

    def __len__(self) -> int:
        return self.popsize

    def rows(self, idx: torch.Tensor) -> torch.Tensor:
        idx = idx.to(self.eps.device)
        scale = self.signs[idx] * self.sigma  # (k,)
        return self.centre.unsqueeze(0) + scale.unsqueeze(1) * self.eps[self.row_of[idx]]


class ESSearch:
    """OpenAI-ES as a self-contained ask/tell search with its own torch optimiser, for use outside
    Lightning (the bring-your-own-model API, tests). The Lightning method steps Lightning's optimiser
    instead; both apply the same update."""

    def __init__(self, strategy: OpenAIES, optimizer: str = "adam", lr: float = 0.01, lr_decay: float = 1.0,
                 weight_decay: float = 0.0, momentum: float = 0.0) -> None:
        choice("optimizer", optimizer, ("adam", "sgd"))
        self.strategy, self.optimizer_name = strategy, optimizer
        self.lr, self.lr_decay = positive("lr", lr), decay("lr_decay", lr_decay)
        self.weight_decay, self.momentum = float(weight_decay), float(momentum)
        self.centre: torch.nn.Parameter | None = None

    @property
    def popsize(self) -> int:
        return self.strategy.popsize

    def initialize(self, params: torch.Tensor) -> None:
        self.centre = torch.nn.Parameter(params.detach().clone())
        if self.optimizer_name == "adam":
            self.optimizer = torch.optim.Adam([self.centre], lr=self.lr, weight_decay=self.weight_decay)
        else:
            self.optimizer = torch.optim.SGD([self.centre], lr=self.lr, momentum=self.momentum,
                                             weight_decay=self.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, gamma=self.lr_decay)

    def solution(self) -> torch.Tensor:
        return self.centre.detach()

    def ask(self, seed: int) -> "PerturbedPopulation":
        return self.strategy.population(self.centre, seed)

    def tell(self, fitness: torch.Tensor, seed: int) -> None:
        self.optimizer.zero_grad()
        self.centre.grad = -self.strategy.gradient(fitness.to(self.centre.device), seed, self.centre.numel(),
                                                   self.centre.device, self.centre.dtype)
        self.optimizer.step()
        self.scheduler.step()  # lr decay: once per generation
        self.strategy.step()  # σ decay: once per generation

    def state_dict(self) -> dict:
        return copy.deepcopy({"centre": self.centre.detach(), "optimizer": self.optimizer.state_dict(),
                              "scheduler": self.scheduler.state_dict(), "strategy": self.strategy.state_dict()})

    def load_state_dict(self, state: dict) -> None:
        self.initialize(state["centre"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.strategy.load_state_dict(state["strategy"])
