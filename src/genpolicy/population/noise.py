"""Gaussian perturbations regenerated from seeds.

Member noise is a pure function of (generation seed, pair index): any process rebuilds any member
without storing or sending noise. Seeds are mixed with SplitMix64 so neighbouring indices give
unrelated streams.
"""

from __future__ import annotations

import torch

_MASK64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def member_seed(seed: int, index: int) -> int:
    """A 63-bit seed for stream ``index`` of ``seed`` (usable by torch.Generator.manual_seed)."""
    return _splitmix64(_splitmix64(int(seed) & _MASK64) ^ (int(index) & _MASK64)) >> 1


def pair_noise(
    seed: int, indices, dim: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Standard-normal noise rows (len(indices), dim), row j drawn from ``member_seed(seed, j)``."""
    indices = list(indices)
    out = torch.empty(len(indices), dim, device=device, dtype=dtype)
    gen = torch.Generator(device=device)
    for row, j in enumerate(indices):
        gen.manual_seed(member_seed(seed, j))
        torch.randn(dim, generator=gen, out=out[row])
    return out
