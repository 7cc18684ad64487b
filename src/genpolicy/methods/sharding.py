"""Population evaluation sharded over DDP ranks — shared by every population method.

Each rank evaluates a contiguous slice of the members (uneven slices when the population does not
divide by the world size; every rank rebuilds its members from the shared generation seed), then
the per-member results are all-gathered so every rank holds the whole generation and makes the
identical update. What crosses the network per generation is, per member, its E returns, E
lengths and (with observation normalisation) 2·obs_dim·E observation sums, as float64:
8·E·(2 + 2·obs_dim) bytes per member. Per-member (not per-rank) sums keep the reduction order fixed,
so a run on N processes is bit-identical to a run on one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from genpolicy.rollout.evaluator import RolloutResult, TensorRows

if TYPE_CHECKING:
    import lightning as L

    from genpolicy.population.protocol import Members
    from genpolicy.rollout.evaluator import BindFn, PopulationEvaluator


def shard_bounds(n: int, world: int, rank: int) -> tuple[int, int]:
    """Rank ``rank``'s slice [lo, hi) of n items: the first n % world ranks get one extra."""
    base, extra = divmod(n, world)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (rank < extra)


class SliceRows:
    """Members lo … hi-1 of a population (tensor or on-demand rows)."""

    def __init__(self, population: torch.Tensor | Members, lo: int, hi: int) -> None:
        self.base = population if hasattr(population, "rows") else TensorRows(population)
        self.lo, self.hi, self.dim = lo, hi, self.base.dim

    def __len__(self) -> int:
        return self.hi - self.lo

    def rows(self, idx: torch.Tensor) -> torch.Tensor:
        return self.base.rows(idx + self.lo)


def world_of(module: L.LightningModule) -> tuple[int, int]:
    """(world size, rank) while a Trainer with a distributed strategy drives ``module``, else (1, 0)."""
    trainer = getattr(module, "_trainer", None)
    if trainer is None or trainer.world_size <= 1:
        return 1, 0
    return trainer.world_size, trainer.global_rank


@dataclass
class Shard:
    lo: int  # this rank's members are lo … hi-1
    hi: int
    gather_s: float = 0.0  # time in all_gather (waiting for the slowest rank included)
    gather_bytes: int = 0  # bytes this rank contributed to the all_gather


def evaluate_sharded(
    module: L.LightningModule,
    evaluator: PopulationEvaluator,
    bind: BindFn,
    population: torch.Tensor | Members,
    episodes: int,
    seeds: torch.Tensor,
    device: torch.device | str,
    max_steps: int | None = None,
    obs_stats: bool = False,
) -> tuple[RolloutResult, Shard]:
    """Evaluate this rank's slice and gather everyone's: (whole-generation result, this rank's shard)."""
    world, rank = world_of(module)
    n, E = len(population), int(episodes)
    lo, hi = shard_bounds(n, world, rank)
    local = evaluator.evaluate(
        bind, SliceRows(population, lo, hi), E, seeds[lo * E : hi * E], device, max_steps=max_steps, obs_stats=obs_stats
    )
    if world == 1:
        return local, Shard(lo, hi)
    rows = [local.returns, local.lengths.double()]
    if obs_stats:
        rows.append(local.obs_sums.reshape(hi - lo, -1))
    packed = torch.cat(rows, 1).to(device)  # (hi - lo, C) float64
    width = -(-n // world)  # the longest slice
    padded = torch.zeros(width, packed.shape[1], dtype=packed.dtype, device=device)
    padded[: hi - lo] = packed
    start = time.perf_counter()
    gathered = module.all_gather(padded)  # (world, width, C)
    shard = Shard(lo, hi, time.perf_counter() - start, padded.numel() * padded.element_size())
    full = torch.cat([gathered[r, : (lambda b: b[1] - b[0])(shard_bounds(n, world, r))] for r in range(world)]).cpu()
    lengths = full[:, E : 2 * E].long()
    result = RolloutResult(
        returns=full[:, :E].contiguous(),
        lengths=lengths,
        env_steps=int(lengths.sum()),
        wall_s=local.wall_s,
        obs_sums=full[:, 2 * E :].reshape(n, E, 2, -1).contiguous() if obs_stats else None,
    )
    return result, shard
