"""Fitness shaping: map raw returns to weights that are robust to their scale and outliers.

Non-finite fitness (NaN, ±inf from a diverging simulator) is ranked last: it becomes ``-inf``
before ranking, and the lowest finite value before z-scoring.
"""

from __future__ import annotations

import torch


def _finite_or_worst(fitness: torch.Tensor) -> torch.Tensor:
    return torch.where(torch.isfinite(fitness), fitness, torch.full_like(fitness, -torch.inf))


def ranks(fitness: torch.Tensor) -> torch.Tensor:
    """0-based ranks (float64); tied values share their average rank, so a mirrored pair with equal
    returns contributes nothing to the update. Non-finite fitness ranks lowest."""
    f = _finite_or_worst(fitness.double().flatten())
    sorted_f, order = torch.sort(f)
    _, inverse, counts = torch.unique_consecutive(sorted_f, return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).double()
    group_rank = ends - (counts.double() + 1) / 2  # mean of the 0-based positions in each group
    r = torch.empty_like(f)
    r[order] = group_rank[inverse]
    return r


def centered_ranks(fitness: torch.Tensor) -> torch.Tensor:
    """Ranks scaled to [-0.5, 0.5] (Salimans et al. 2017); sums to zero."""
    n = fitness.numel()
    if n < 2:
        return torch.zeros_like(fitness, dtype=torch.float64)
    return ranks(fitness) / (n - 1) - 0.5


def zscore(fitness: torch.Tensor) -> torch.Tensor:
    """(f − mean) / std over the population (the PyTorch-ES shaping); zero when all are equal."""
    f = fitness.double()
    finite = torch.isfinite(f)
    if not finite.any():
        return torch.zeros_like(f)
    f = torch.where(finite, f, f[finite].min())
    std = f.std(unbiased=False)
    return (f - f.mean()) / std if std > 0 else torch.zeros_like(f)


def utility(fitness: torch.Tensor) -> torch.Tensor:
    """NES rank utilities max(0, log(n/2+1) − log k), normalised, minus 1/n (sums to zero)."""
    n = fitness.numel()
    k = n - ranks(fitness)  # 1 = best
    u = (torch.log2(torch.tensor(n / 2 + 1.0, dtype=torch.float64)) - torch.log2(k)).clamp_min(0)
    return u / u.sum() - 1.0 / n


SHAPINGS = {"centered_ranks": centered_ranks, "zscore": zscore, "utility": utility, "none": lambda f: f.double()}


def shape_fitness(fitness: torch.Tensor, method: str = "centered_ranks") -> torch.Tensor:
    if method not in SHAPINGS:
        raise ValueError(f"fitness shaping must be one of {sorted(SHAPINGS)}, got {method!r}")
    return SHAPINGS[method](fitness)
