"""PGPE: Sehnke, Osendorfer, Rückstieß, Graves, Peters & Schmidhuber, "Parameter-exploring policy
gradients", Neural Networks 23(4):551–559 (2010), with symmetric sampling, centred-rank fitness shaping
and the ClipUp optimiser (Toklu, Liskowski & Srivastava, PPSN 2020, arXiv:2008.02387) as in EvoTorch's
``PGPE`` (nnaisense/evotorch: algorithms/distributed/gaussian.py, distributions.py
``SymmetricSeparableGaussian``).

A gradient-based strategy over a centre μ (D,) and a per-parameter std σ (D,). Member 2j = μ + σ⊙ε_j,
member 2j+1 = μ − σ⊙ε_j, ε_j ~ N(0, I) regenerated from (seed, j). With shaped fitness u (P,),
u⁺_j = u_{2j}, u⁻_j = u_{2j+1}, scaled noise δ_j = σ⊙ε_j and n = P/2 directions:

    ascent(μ) = 1/n Σ_j (u⁺_j − u⁻_j)/2 · δ_j                      → the caller's optimiser (ClipUp)
    grad(σ)   = 1/n Σ_j (u⁺_j + u⁻_j)/2 · (δ_j² − σ²)/σ
    σ ← clamp(σ + stdev_lr · grad(σ), [σ(1 − r), σ(1 + r)] ∩ [stdev_min, stdev_max]),  r = stdev_max_change

The centre's ascent is *not* divided by σ² (Sehnke's update, EvoTorch's too). Utilities that are not
zero-mean (``shaping="none"``) are centred first (EvoTorch's baseline).
"""

from __future__ import annotations

import math

import torch

from genpolicy._checks import choice, decay, integer, positive
from genpolicy.population.noise import pair_noise
from genpolicy.population.protocol import GradientStrategy
from genpolicy.population.shaping import SHAPINGS, shape_fitness
from genpolicy.seeding import stream

ZERO_MEAN_SHAPINGS = ("centered_ranks", "zscore", "utility")


class PGPE(GradientStrategy):
    metric_prefix = "pgpe"
    env_pairs = 2  # a mirrored pair shares its environment seeds

    # Defaults: EvoTorch's CartPole-v1 tutorial, examples/notebooks/Functional_API/problem.ipynb
    # (popsize = 100, max_speed = 0.15, center_learning_rate = 0.75·max_speed = 0.1125,
    # radius = 15·max_speed = 2.25, stdev_learning_rate = 0.1, stdev_max_change = 0.2, ranking "centered",
    # optimizer "clipup", symmetric); ClipUp momentum 0.9 (EvoTorch's ClipUp default and the paper's).
    def __init__(
        self,
        popsize: int = 100,
        lr: float = 0.1125,  # EvoTorch's center_learning_rate
        stdev_lr: float = 0.1,
        radius_init: float | None = 2.25,
        stdev_init: float | None = None,
        stdev_max_change: float | None = 0.2,
        stdev_min: float | None = None,
        stdev_max: float | None = None,
        shaping: str = "centered_ranks",
        optimizer: str = "clipup",
        lr_decay: float = 1.0,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        max_speed: float | None = 0.15,  # clipup; None: 2 · lr
    ) -> None:
        super().__init__(optimizer, lr, lr_decay, momentum, weight_decay, max_speed)
        popsize = integer("popsize", popsize, minimum=2)
        if popsize % 2:
            raise ValueError(f"popsize must be even for PGPE (members come in ±ε pairs), got {popsize}")
        if (radius_init is None) == (stdev_init is None):
            raise ValueError(
                "give exactly one of radius_init and stdev_init (the other null), got "
                f"radius_init={radius_init!r}, stdev_init={stdev_init!r}"
            )
        self.radius_init = None if radius_init is None else positive("radius_init", radius_init)
        self.stdev_init = None if stdev_init is None else positive("stdev_init", stdev_init)
        self.stdev_lr = positive("stdev_lr", stdev_lr)
        self.stdev_max_change = None if stdev_max_change is None else decay("stdev_max_change", stdev_max_change)
        self.stdev_min = None if stdev_min is None else positive("stdev_min", stdev_min)
        self.stdev_max = None if stdev_max is None else positive("stdev_max", stdev_max)
        if self.stdev_min is not None and self.stdev_max is not None and self.stdev_min > self.stdev_max:
            raise ValueError(f"stdev_min ({stdev_min!r}) must not exceed stdev_max ({stdev_max!r})")
        self.shaping = choice("shaping", shaping, sorted(SHAPINGS))
        self.popsize = popsize
        self.stdev: torch.Tensor | None = None  # σ (D,)
        self._noise: tuple[tuple, torch.Tensor] | None = None  # ((seed, D, device, dtype), ε (P/2, D))

    def initialize(self, params: torch.Tensor) -> None:
        super().initialize(params)
        D = params.numel()
        # EvoTorch's stdev_from_radius: ‖σ‖ = radius, i.e. σ_i = radius/√D
        value = self.stdev_init if self.stdev_init is not None else self.radius_init / math.sqrt(D)
        self.stdev = torch.full((D,), value, dtype=params.dtype, device=params.device)

    def noise(self, seed: int) -> torch.Tensor:
        """ε of generation ``seed``: (P/2, D), regenerated unless it is the last one asked."""
        centre = self.solution()
        key = (int(seed), centre.numel(), centre.device, centre.dtype)
        if self._noise is None or self._noise[0] != key:
            eps = pair_noise(
                stream(seed, "noise"), range(self.popsize // 2), centre.numel(), centre.device, centre.dtype
            )
            self._noise = (key, eps)
        return self._noise[1]

    def ask(self, seed: int) -> MirroredMembers:
        """Members μ ± σ⊙ε_j of generation ``seed`` (2j: +, 2j+1: −), built on demand."""
        if self.stdev is None:
            raise RuntimeError("call initialize(params) before ask()")
        return MirroredMembers(self.solution(), self.noise(seed) * self.stdev)

    def tell(self, fitness: torch.Tensor, seed: int) -> torch.Tensor:
        """The ascent estimate for μ (D,) from the fitness (P,) of generation ``seed``; σ updates itself."""
        if self.stdev is None:
            raise RuntimeError("call initialize(params) before tell()")
        sigma = self.stdev
        delta = self.noise(seed) * sigma  # (n, D) scaled noise δ_j = σ⊙ε_j
        u = shape_fitness(self.check_fitness(fitness), self.shaping)  # (P,) float64
        if self.shaping not in ZERO_MEAN_SHAPINGS:
            u = u - u.mean()
        u = u.to(delta)
        n = self.popsize // 2
        plus, minus = u[0::2], u[1::2]  # (n,)
        ascent = ((plus - minus) / 2) @ delta / n  # (D,)
        grad_sigma = ((plus + minus) / 2) @ ((delta**2 - sigma**2) / sigma) / n  # (D,)
        self.stdev = self._limit(sigma, sigma + self.stdev_lr * grad_sigma)
        return ascent

    def _limit(self, old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
        """``new`` within [stdev_min, stdev_max] and within a fraction stdev_max_change of ``old``
        (EvoTorch's modify_tensor: the upper bound wins where the two conflict)."""
        lo = torch.full_like(old, -math.inf if self.stdev_min is None else self.stdev_min)
        hi = torch.full_like(old, math.inf if self.stdev_max is None else self.stdev_max)
        if self.stdev_max_change is not None:
            allowed = old.abs() * self.stdev_max_change
            lo, hi = torch.maximum(lo, old - allowed), torch.minimum(hi, old + allowed)
        return torch.minimum(torch.maximum(new, lo), hi)

    def metrics(self) -> dict[str, float]:
        return {"pgpe/stdev_mean": float(self.stdev.mean())} if self.stdev is not None else {}

    def state_dict(self) -> dict:
        return {"stdev": self.stdev}  # replaced, never modified in place; ε is rebuilt from the seed

    def load_state_dict(self, state: dict) -> None:
        stdev = state["stdev"]
        self.stdev = (stdev.to(self.centre) if self.centre is not None else stdev).clone()
        self._noise = None


class MirroredMembers:
    """Members μ + s_i·δ_{i//2} (s_i = +1 for even i, −1 for odd i), materialised only for the indices
    asked (chunked evaluation); ``scaled`` is δ = σ⊙ε (P/2, D)."""

    def __init__(self, centre: torch.Tensor, scaled: torch.Tensor) -> None:
        self.centre, self.scaled = centre, scaled
        self.popsize, self.dim = 2 * scaled.shape[0], centre.numel()

    def __len__(self) -> int:
        return self.popsize

    def rows(self, idx: torch.Tensor) -> torch.Tensor:
        idx = idx.to(self.scaled.device)
        sign = (1 - 2 * (idx % 2)).to(self.scaled)  # (k,)
        return self.centre.unsqueeze(0) + sign.unsqueeze(1) * self.scaled[idx // 2]  # (k, D)
