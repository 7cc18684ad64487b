"""A conditional VAE over actions (GPV, with the state-conditioned design of BCQ: Fujimoto, Meger &
Precup, "Off-Policy Deep Reinforcement Learning without Exploration", arXiv:1812.02900).

Encoder q(z | s, a) sees the state and the action; decoder p(a | s, z) emits an action inside the
action box (tanh, then scaled). Training minimises ‖a − â‖² + β·KL(q(z | s, a) ‖ N(0, I)) with a
fresh ε per sample. Sampling draws z ~ N(0, I), optionally clipped to ±``max_latent`` (BCQ uses 0.5),
which keeps samples near the data. Reconstruction is measured in the action box scaled to [−1, 1],
so β means the same for every environment.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from genpolicy import _checks as check
from genpolicy.policies.mlp import MLP


class ActionVAE(nn.Module):
    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        low: Sequence[float],
        high: Sequence[float],
        latent_dim: int = 8,
        hidden: Sequence[int] = (256, 256),
        activation: str = "relu",
        max_latent: float | None = None,
    ) -> None:
        super().__init__()
        self.latent_dim = check.integer("latent_dim", latent_dim)
        self.max_latent = check.optional(check.positive, "max_latent", max_latent)  # None: no clipping
        self.obs_dim, self.action_dim = int(obs_dim), int(action_dim)
        self.encoder = MLP(obs_dim + action_dim, 2 * self.latent_dim, hidden, activation)  # → (μ, log σ)
        self.decoder = MLP(obs_dim + self.latent_dim, action_dim, hidden, activation)
        low, high = torch.as_tensor(low, dtype=torch.float32), torch.as_tensor(high, dtype=torch.float32)
        self.register_buffer("mid_point", (high + low) / 2)
        self.register_buffer("half_range", (high - low) / 2)

    def unit(self, action: torch.Tensor) -> torch.Tensor:
        """Actions in the box → [−1, 1]."""
        return (action - self.mid_point) / self.half_range

    def encode(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | s, a): μ and log σ (B, latent_dim); log σ clamped to [−4, 15] as in BCQ."""
        mu, log_std = self.encoder(torch.cat([obs, self.unit(action)], -1)).chunk(2, -1)
        return mu, log_std.clamp(-4.0, 15.0)

    def decode_unit(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.decoder(torch.cat([obs, z], -1)))

    def decode(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """p(a | s, z): an action inside the box, (…, action_dim)."""
        return self.mid_point + self.half_range * self.decode_unit(obs, z)

    def losses(
        self, obs: torch.Tensor, action: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(reconstruction, KL), each averaged over the batch (summed over dimensions)."""
        mu, log_std = self.encode(obs, action)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)  # one ε per sample
        z = mu + log_std.exp() * eps
        recon = (self.decode_unit(obs, z) - self.unit(action)).square().sum(-1).mean()
        kl = 0.5 * (mu.square() + (2 * log_std).exp() - 2 * log_std - 1).sum(-1).mean()
        return recon, kl

    def sample_latents(
        self, n: int, generator: torch.Generator | None = None, device: torch.device | str | None = None
    ) -> torch.Tensor:
        """z ~ N(0, I) (n, latent_dim), clipped to ±max_latent when set."""
        z = torch.randn(n, self.latent_dim, generator=generator, device=device or self.mid_point.device)
        return z if self.max_latent is None else z.clamp(-self.max_latent, self.max_latent)

    def bind(self, z: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """A population policy over latents: rows z (M, latent_dim) → ``act(obs (M, B, obs_dim))``;
        each variation holds its z for every step it plays (the evaluator's interface)."""
        z = z.detach()

        @torch.no_grad()
        def act(obs: torch.Tensor) -> torch.Tensor:
            return self.decode(obs, z[:, None, :].expand(-1, obs.shape[1], -1).to(obs))

        return act
