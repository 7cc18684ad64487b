"""A hypernetwork genome (PGEN, riveSunder/pgens): a generator MLP maps a latent z to the whole flat
parameter vector of a policy. The generator's own parameters are the genome a strategy evolves;
one generator × K latents decodes to K policies, and all generators × latents are evaluated as one
batch of policies on the population engine.

PGEN's generator: bias-free latent(2) → 16 → (policy parameter count), policy weights = tanh(output),
latents during training z ~ N(0, (1/3)²). All of it is configurable here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from genpolicy._checks import choice, integer, positive
from genpolicy.policies.mlp import MLP
from genpolicy.population.noise import pair_noise

if TYPE_CHECKING:
    from collections.abc import Sequence

    from genpolicy.population.protocol import Members


class Hypernetwork:
    def __init__(
        self,
        policy_params: int,
        latent_dim: int = 2,
        hidden: Sequence[int] = (16,),
        activation: str = "tanh",
        bias: bool = False,
        output: str = "tanh",
        latents: int = 3,
        latent_std: float = 1 / 3,
        test_latents: int = 4,
    ) -> None:
        self.latent_dim = integer("latent_dim", latent_dim)
        self.latents, self.test_latents = integer("latents", latents), integer("test_latents", test_latents)
        self.latent_std = positive("latent_std", latent_std)
        self.output = choice("hypernetwork output", output, ("tanh", "identity"))
        self.net = MLP(self.latent_dim, int(policy_params), hidden, activation, bias).requires_grad_(False)
        self.policy_params = int(policy_params)

    @property
    def num_params(self) -> int:
        return self.net.num_params

    def initial_parameters(self) -> torch.Tensor:
        return self.net.flat_parameters()

    def sample_latents(
        self, seed: int, k: int, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        """k latents (k, latent_dim) ~ N(0, latent_std²), a pure function of ``seed``."""
        return self.latent_std * pair_noise(seed, range(k), self.latent_dim, device or "cpu", dtype)

    def decode(self, genomes: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Generators (M, Dg) × latents (K, latent_dim) → policy parameters (M·K, D), generator-major."""
        out = self.net.batched(genomes, z.to(genomes).expand(genomes.shape[0], -1, -1))  # (M, K, D)
        out = torch.tanh(out) if self.output == "tanh" else out
        return out.reshape(-1, self.policy_params)


class DecodedRows:
    """The policies of a genome population: row i is genome i // K decoded at latent i % K."""

    def __init__(self, genomes: Members, hyper: Hypernetwork, z: torch.Tensor) -> None:
        self.genomes, self.hyper, self.z, self.k = genomes, hyper, z, z.shape[0]
        self.dim = hyper.policy_params

    def __len__(self) -> int:
        return len(self.genomes) * self.k

    def rows(self, idx: torch.Tensor) -> torch.Tensor:
        idx = idx.cpu()
        genome_rows = self.genomes.rows(idx // self.k)  # (n, Dg)
        z = self.z[idx % self.k].to(genome_rows)  # (n, latent_dim)
        out = self.hyper.net.batched(genome_rows, z.unsqueeze(1)).squeeze(1)  # one latent per row
        return torch.tanh(out) if self.hyper.output == "tanh" else out
