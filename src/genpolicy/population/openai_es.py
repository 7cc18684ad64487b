"""OpenAI evolution strategies: Salimans, Ho, Chen, Sidor & Sutskever, "Evolution Strategies as a
Scalable Alternative to Reinforcement Learning", arXiv:1703.03864 (2017).

A gradient-based strategy over a search centre θ (D,). ``ask`` perturbs θ with σ·ε, mirrored as
(θ+σε, θ−σε) pairs by default; ``tell`` shapes the fitness and returns the ascent estimate
g = 1/(P σ) Σ_i u_i s_i ε_i, which the caller hands to its optimiser (Adam by default, SGD or ClipUp;
L2 weight decay and lr decay live with the optimiser), then σ decays once.
"""

from __future__ import annotations

import torch

from genpolicy._checks import choice, decay, integer, positive
from genpolicy.population.noise import pair_noise
from genpolicy.population.protocol import GradientStrategy
from genpolicy.population.shaping import SHAPINGS, shape_fitness
from genpolicy.seeding import stream


class OpenAIES(GradientStrategy):
    metric_prefix = "es"

    def __init__(
        self,
        popsize: int = 64,
        sigma: float = 0.05,
        mirrored: bool = True,
        shaping: str = "centered_ranks",
        sigma_decay: float = 1.0,
        sigma_min: float = 0.0,
        optimizer: str = "adam",
        lr: float = 0.01,
        lr_decay: float = 1.0,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        max_speed: float | None = None,
    ) -> None:
        super().__init__(optimizer, lr, lr_decay, momentum, weight_decay, max_speed)
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
        self.env_pairs = 2 if self.mirrored else 1
        self.sigma, self.sigma_decay, self.sigma_min = float(sigma), float(sigma_decay), float(sigma_min)
        self._noise: tuple[int, torch.Tensor] | None = None  # (seed, ε) of the last ask

    @property
    def num_noise(self) -> int:
        """Number of distinct noise vectors per generation (pairs when mirrored)."""
        return self.popsize // 2 if self.mirrored else self.popsize

    def noise(self, seed: int, dim: int, device: torch.device | str, dtype: torch.dtype) -> torch.Tensor:
        """ε for generation ``seed``: (num_noise, D), regenerated unless it is the last one asked."""
        if self._noise is not None and self._noise[0] == seed and self._noise[1].shape[1] == dim:
            return self._noise[1]
        eps = pair_noise(stream(seed, "noise"), range(self.num_noise), dim, device, dtype)
        self._noise = (seed, eps)
        return eps

    def signs_and_rows(self) -> tuple[torch.Tensor, torch.Tensor]:
        """For every member: its sign s_i (±1) and the row of ε it uses."""
        idx = torch.arange(self.popsize)
        if self.mirrored:
            return 1.0 - 2.0 * (idx % 2), idx // 2
        return torch.ones(self.popsize), idx

    def ask(self, seed: int) -> PerturbedPopulation:
        """The members of generation ``seed`` (member 2j = θ + σε_j and 2j+1 = θ − σε_j when mirrored),
        built on demand: nothing of size P × D is stored beyond ε."""
        centre = self.solution()
        eps = self.noise(seed, centre.numel(), centre.device, centre.dtype)
        signs, rows = self.signs_and_rows()
        return PerturbedPopulation(centre, eps, self.sigma, signs, rows)

    def tell(self, fitness: torch.Tensor, seed: int) -> torch.Tensor:
        """Ascent direction (D,) estimated from the members' fitness (P,) of generation ``seed``; then
        σ ← max(σ·decay, σ_min)."""
        centre = self.solution()
        eps = self.noise(seed, centre.numel(), centre.device, centre.dtype)
        u = shape_fitness(self.check_fitness(fitness), self.shaping).to(eps)
        w = u[0::2] - u[1::2] if self.mirrored else u  # (num_noise,)
        ascent = (w @ eps) / (self.popsize * self.sigma)
        self.sigma = max(self.sigma * self.sigma_decay, self.sigma_min)
        return ascent

    def metrics(self) -> dict[str, float]:
        return {"es/sigma": self.sigma}

    def state_dict(self) -> dict:
        return {"sigma": self.sigma}

    def load_state_dict(self, state: dict) -> None:
        self.sigma = float(state["sigma"])


class PerturbedPopulation:
    """Members θ + σ·s_i·ε_row(i) materialised only for the indices asked (chunked evaluation)."""

    def __init__(
        self, centre: torch.Tensor, eps: torch.Tensor, sigma: float, signs: torch.Tensor, rows: torch.Tensor
    ) -> None:
        self.centre, self.eps, self.sigma = centre, eps, float(sigma)
        self.signs, self.row_of = signs.to(eps), rows.to(eps.device)
        self.popsize, self.dim = signs.numel(), centre.numel()

    def __len__(self) -> int:
        return self.popsize

    def rows(self, idx: torch.Tensor) -> torch.Tensor:
        idx = idx.to(self.eps.device)
        scale = self.signs[idx] * self.sigma  # (k,)
        return self.centre.unsqueeze(0) + scale.unsqueeze(1) * self.eps[self.row_of[idx]]
