"""Every random stream of a run, by name, in one place.

A stream is ``member_seed(parent, STREAMS[name])``: a 63-bit seed mixed by SplitMix64 (below) from
its parent seed and the stream's number. The run seed is the root; each generation's seed comes from the
run's ``generation`` stream; a generation's member noise, environment resets, action sampling and
latents are streams of that generation seed. Because every stream has its own number and every
derived seed goes through the mixer once more, no two streams of a run coincide
(tests/test_seeding.py checks all the seeds one generation uses).
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


def seeded_normals(seeds: torch.Tensor, start: int, count: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Standard normal numbers ``start … start + count − 1`` of each seed's counter stream, (count, K)
    for seeds (K,): a pure function of (seed, position), whatever the batch a seed sits in. Box–Muller
    on two :func:`seeded_uniform`-style draws per number."""
    keys = _splitmix64_t(seeds.to(torch.int64))[None]
    at = (2 * (int(start) + torch.arange(int(count), device=seeds.device, dtype=torch.int64)))[:, None]
    u1, u2 = (_srl(_splitmix64_t(keys ^ (at + k)), 11).to(torch.float64).mul_(2.0**-53) for k in (0, 1))
    normal = torch.sqrt(-2.0 * torch.log1p(-u1)) * torch.cos((2 * torch.pi) * u2)
    return normal.to(dtype)


STREAMS = {
    # ---- gradient methods (DDPG/TD3, GPV): children of the run seed
    "variations": 1,  # genpolicy.variations: the latents it plays
    "collector_action": 7,  # exploration noise of the step collector
    "replay_sampler": 8,  # minibatch draws from the replay buffer
    "target_noise": 9,  # TD3's target-policy smoothing
    "demo_sampler": 10,  # GPV: minibatch draws from the demonstrations
    "demo_env": 11,  # GPV: the teacher's demonstration episodes
    "variation_latents": 12,  # GPV: the latents of the test variations
    "cvae": 13,  # GPV: the cVAE's reparameterisation ε
    "explore": 14,  # ST-GPV: exploration latents
    # ---- population methods: children of the run seed
    "generation": 20,  # → one seed per generation (index = generation number)
    "eval": 21,  # → one seed per test (index = test number), → one reset seed per test episode
    "test_latent": 22,  # PGEN: the fixed latents tests play
    # ---- children of a generation seed
    "noise": 30,  # → one seed per noise row (ES/PGPE ε, CEM and sep-CMA-ES samples)
    "env": 31,  # → one reset seed per member copy (member, latent, episode)
    "centre_env": 32,  # → the current solution's reset seeds
    "action": 33,  # sampled discrete actions
    "latent": 34,  # PGEN: the generation's latents
    "elite_env": 35,  # → the GA elite candidates' re-evaluation episodes
    "ga_parent": 36,  # → each GA member's parent draw
    "ga_mutation": 37,  # → each GA member's mutation noise
}
INDEXED = {"replay_rank": 1000, "collector_episode": 1_000_003}  # stream base + index (rank, episode number)


def stream(seed: int, name: str) -> int:
    """The seed of stream ``name`` under ``seed``."""
    if name not in STREAMS:
        raise KeyError(f"unknown seed stream {name!r}; streams: {', '.join(sorted(STREAMS))}")
    return member_seed(seed, STREAMS[name])


def indexed(seed: int, name: str, index: int) -> int:
    """The seed of an indexed stream (``replay_rank``, ``collector_episode``) for ``index``."""
    return member_seed(seed, INDEXED[name] + int(index))


def seeds(seed: int, name: str, indices: torch.Tensor) -> torch.Tensor:
    """One seed per index (int64) of stream ``name`` under ``seed``: e.g. one reset seed per copy."""
    return member_seeds(stream(seed, name), indices)


def generation_seed(run_seed: int, generation: int) -> int:
    return member_seed(stream(run_seed, "generation"), generation)


def eval_seeds(run_seed: int, test: int, n: int) -> torch.Tensor:
    """Reset seeds of test ``test``'s ``n`` episodes: a pure function of (run seed, test number)
    shared by every method (−1: the final test after training)."""
    return member_seeds(member_seed(stream(run_seed, "eval"), test), torch.arange(n))


def generator(seed: int, name: str, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch.Generator on ``device`` seeded with stream ``name`` of ``seed``."""
    return torch.Generator(device=device).manual_seed(stream(seed, name))
