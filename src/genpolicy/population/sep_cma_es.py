"""Separable CMA-ES: Ros & Hansen, "A Simple Modification in CMA-ES Achieving Linear Time and Space
Complexity", PPSN X, LNCS 5199:296–305 (2008). CMA-ES with its covariance restricted to the diagonal
C (D,), whose learning rate is raised by (D + 2)/3; defaults as in the paper (Hansen & Kern 2004 /
Hansen's 2006 tutorial settings).

An ask/tell strategy with its own mean m (D,), step size σ, diagonal covariance C (D,) and evolution
paths p_σ, p_c (D,). Member k = m + σ·√C⊙z_k with z_k ~ N(0, I) rebuilt from (seed, k). CMA-ES
minimises; here fitness is maximised, so members are ranked by *descending* fitness (non-finite last).
With the μ best z_{1:λ}, …, z_{μ:λ} and g the number of earlier generations:

    z_w = Σ_i w_i z_{i:λ},   y_w = √C⊙z_w,   m ← m + σ·y_w
    p_σ ← (1 − c_σ) p_σ + √(c_σ(2 − c_σ) μ_eff) · z_w                      (C^{-1/2} y_w = z_w)
    h_σ = [‖p_σ‖ / √(1 − (1 − c_σ)^{2(g+1)}) < (1.4 + 2/(D + 1)) χ_D]
    p_c ← (1 − c_c) p_c + h_σ √(c_c(2 − c_c) μ_eff) · y_w
    C   ← (1 − c_1 − c_μ) C + c_1 (p_c² + (1 − h_σ) c_c(2 − c_c) C) + c_μ Σ_i w_i (√C⊙z_{i:λ})²
    σ   ← σ · exp(c_σ/d_σ · (‖p_σ‖/χ_D − 1))

Defaults (λ = popsize):
    λ = 4 + ⌊3 ln D⌋,  μ = ⌊λ/2⌋,  w_i ∝ ln(μ + 1) − ln i (Σ w = 1),  μ_eff = 1/Σ w_i²
    c_σ = (μ_eff + 2)/(D + μ_eff + 3),  d_σ = 1 + 2·max(0, √((μ_eff − 1)/(D + 1)) − 1) + c_σ
    c_c = 4/(D + 4),  χ_D = √D (1 − 1/(4D) + 1/(21D²))
    c_cov = (D + 2)/3 · [2/(μ_eff (D + √2)²) + (1 − 1/μ_eff) min(1, (2μ_eff − 1)/((D + 2)² + μ_eff))]
    c_1 = c_cov/μ_eff,  c_μ = c_cov (1 − 1/μ_eff)        (μ_cov = μ_eff; c_cov capped at 1)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from genpolicy._checks import integer, positive
from genpolicy.population.noise import pair_noise
from genpolicy.population.protocol import Strategy
from genpolicy.seeding import stream


@dataclass(frozen=True)
class SepCMAParams:
    """The paper's default constants for dimension ``dim`` and population ``popsize`` (λ)."""

    dim: int
    popsize: int
    mu: int
    weights: tuple[float, ...]
    mu_eff: float
    c_sigma: float
    d_sigma: float
    c_c: float
    c_1: float
    c_mu: float
    chi: float

    @classmethod
    def defaults(cls, dim: int, popsize: int | None = None) -> SepCMAParams:
        D = integer("dim", dim)
        lam = 4 + math.floor(3 * math.log(D)) if popsize is None else integer("popsize", popsize, minimum=2)
        mu = lam // 2
        raw = [math.log(mu + 1) - math.log(i) for i in range(1, mu + 1)]
        weights = tuple(r / sum(raw) for r in raw)
        mu_eff = 1.0 / sum(w * w for w in weights)
        c_sigma = (mu_eff + 2) / (D + mu_eff + 3)
        d_sigma = 1 + 2 * max(0.0, math.sqrt((mu_eff - 1) / (D + 1)) - 1) + c_sigma
        c_c = 4 / (D + 4)
        c_cov = 2 / (mu_eff * (D + math.sqrt(2)) ** 2) + (1 - 1 / mu_eff) * min(
            1.0, (2 * mu_eff - 1) / ((D + 2) ** 2 + mu_eff)
        )
        c_cov = min(1.0, (D + 2) / 3 * c_cov)  # the separable boost; ≤ 1 keeps C positive for any λ
        chi = math.sqrt(D) * (1 - 1 / (4 * D) + 1 / (21 * D * D))
        return cls(D, lam, mu, weights, mu_eff, c_sigma, d_sigma, c_c, c_cov / mu_eff, c_cov * (1 - 1 / mu_eff), chi)


class SepMembers:
    """Members m + scale⊙z_k (scale = σ√C, (D,)), z_k rebuilt from (seed, k) for the indices asked."""

    def __init__(self, mean: torch.Tensor, scale: torch.Tensor, seed: int, popsize: int) -> None:
        self.mean, self.scale, self.seed, self.popsize, self.dim = mean, scale, int(seed), popsize, mean.numel()

    def __len__(self) -> int:
        return self.popsize

    def rows(self, idx: torch.Tensor) -> torch.Tensor:
        z = pair_noise(stream(self.seed, "noise"), idx.tolist(), self.dim, self.mean.device, self.mean.dtype)
        return self.mean + self.scale * z  # (k, D)


class SepCMAES(Strategy):
    metric_prefix = "cma"

    def __init__(self, popsize: int | None = None, sigma_init: float = 0.5) -> None:
        # popsize None: λ = 4 + ⌊3 ln D⌋, fixed by initialize(params)
        self.popsize = None if popsize is None else integer("popsize", popsize, minimum=2)
        self._popsize_arg = self.popsize
        self.sigma_init = positive("sigma_init", sigma_init)
        self.params: SepCMAParams | None = None
        self.mean: torch.Tensor | None = None  # m (D,)
        self.sigma = self.sigma_init  # σ
        self.C: torch.Tensor | None = None  # diagonal covariance (D,)
        self.p_sigma: torch.Tensor | None = None  # (D,)
        self.p_c: torch.Tensor | None = None  # (D,)
        self.generation = 0

    def _setup(self, dim: int) -> None:
        self.params = SepCMAParams.defaults(dim, self._popsize_arg)
        self.popsize = self.params.popsize

    def initialize(self, params: torch.Tensor) -> None:
        self.mean = params.detach().flatten().clone()
        self._setup(self.mean.numel())
        self.sigma, self.generation = self.sigma_init, 0
        self.C = torch.ones_like(self.mean)
        self.p_sigma, self.p_c = torch.zeros_like(self.mean), torch.zeros_like(self.mean)

    def solution(self) -> torch.Tensor:
        if self.mean is None:
            raise RuntimeError("call initialize(params) before using the strategy")
        return self.mean

    def ask(self, seed: int) -> SepMembers:
        mean = self.solution()
        return SepMembers(mean, self.sigma * self.C.sqrt(), seed, self.popsize)

    def tell(self, fitness: torch.Tensor, seed: int) -> None:
        mean, p = self.solution(), self.params
        f = self.check_fitness(fitness)  # (λ,) float64, non-finite → −inf
        top = torch.sort(f, descending=True, stable=True).indices[: p.mu]  # best first (maximisation)
        z = pair_noise(stream(seed, "noise"), top.tolist(), p.dim, mean.device, mean.dtype)  # (μ, D)
        w = torch.tensor(p.weights, dtype=mean.dtype, device=mean.device)  # (μ,)
        sqrt_c = self.C.sqrt()
        z_w = w @ z  # (D,)
        y_w = sqrt_c * z_w
        self.mean = mean + self.sigma * y_w
        self.p_sigma = (1 - p.c_sigma) * self.p_sigma + math.sqrt(p.c_sigma * (2 - p.c_sigma) * p.mu_eff) * z_w
        norm = float(self.p_sigma.norm())
        h = norm / math.sqrt(1 - (1 - p.c_sigma) ** (2 * (self.generation + 1))) < (1.4 + 2 / (p.dim + 1)) * p.chi
        h_sigma = 1.0 if h else 0.0
        self.p_c = (1 - p.c_c) * self.p_c + h_sigma * math.sqrt(p.c_c * (2 - p.c_c) * p.mu_eff) * y_w
        rank_mu = w @ (sqrt_c * z) ** 2  # (D,) Σ w_i y_i²
        correction = (1 - h_sigma) * p.c_c * (2 - p.c_c)
        self.C = (1 - p.c_1 - p.c_mu) * self.C + p.c_1 * (self.p_c**2 + correction * self.C) + p.c_mu * rank_mu
        self.sigma = self.sigma * math.exp(p.c_sigma / p.d_sigma * (norm / p.chi - 1))
        self.generation += 1

    def metrics(self) -> dict[str, float]:
        if self.C is None:
            return {}
        return {"cma/sigma": self.sigma, "cma/c_mean": float(self.C.mean())}

    def state_dict(self) -> dict:
        # tensors are replaced, never modified in place, so these references stay valid
        return {
            "mean": self.mean,
            "sigma": self.sigma,
            "C": self.C,
            "p_sigma": self.p_sigma,
            "p_c": self.p_c,
            "generation": self.generation,
        }

    def load_state_dict(self, state: dict) -> None:
        self.mean = state["mean"].clone()
        self.C, self.p_sigma, self.p_c = state["C"].clone(), state["p_sigma"].clone(), state["p_c"].clone()
        self.sigma, self.generation = float(state["sigma"]), int(state["generation"])
        self._setup(self.mean.numel())
