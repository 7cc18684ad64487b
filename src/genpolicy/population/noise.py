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


def _signed(c: int) -> int:
    return c - (1 << 64) if c >= 1 << 63 else c


_GOLDEN, _MIX1, _MIX2 = (_signed(c) for c in (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB))


def _srl(x: torch.Tensor, k: int) -> torch.Tensor:
    """Logical right shift of int64 bit patterns (torch's >> is arithmetic)."""
    return (x >> k) & ((1 << (64 - k)) - 1)


def _splitmix64_t(x: torch.Tensor) -> torch.Tensor:
    x = x + _GOLDEN  # int64 arithmetic wraps: the same bits as the uint64 reference
    x = (x ^ _srl(x, 30)) * _MIX1
    x = (x ^ _srl(x, 27)) * _MIX2
    return x ^ _srl(x, 31)


def member_seeds(seed: int, indices: torch.Tensor) -> torch.Tensor:
    """Vectorised :func:`member_seed`: int64 tensor of seeds for ``indices`` (any device)."""
    base = torch.tensor(_signed(_splitmix64(int(seed) & _MASK64)), dtype=torch.int64, device=indices.device)
    return _srl(_splitmix64_t(base ^ indices.to(torch.int64)), 1)


def seeded_uniform(seeds: torch.Tensor, stream: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """One U[0, 1) number per seed for stream ``stream``: a pure function of (seed, stream)."""
    bits = _splitmix64_t(_splitmix64_t(seeds.to(torch.int64)) ^ int(stream))
    return _srl(bits, 11).to(torch.float64).mul_(2.0**-53).to(dtype)


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
