"""Gaussian perturbations regenerated from seeds.

Member noise is a pure function of (seed, row index): any process rebuilds any member without
storing or sending noise. Seeds are mixed with SplitMix64 (genpolicy.seeding) so neighbouring indices
give unrelated streams.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from genpolicy.seeding import member_seed, member_seeds, seeded_uniform  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    from collections.abc import Iterable


def pair_noise(
    seed: int, indices: Iterable[int], dim: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Standard-normal noise rows (len(indices), dim), row j drawn from ``member_seed(seed, j)``."""
    indices = list(indices)
    out = torch.empty(len(indices), dim, device=device, dtype=dtype)
    gen = torch.Generator(device=device)
    for row, j in enumerate(indices):
        gen.manual_seed(member_seed(seed, j))
        torch.randn(dim, generator=gen, out=out[row])
    return out
