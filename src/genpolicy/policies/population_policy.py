"""Normaliser + network + action head: the acting policy of a population method."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from genpolicy.policies.heads import make_head
from genpolicy.policies.mlp import MLP
from genpolicy.policies.normalizer import RunningNorm


class PopulationPolicy(nn.Module):
    """Acts for P parameter vectors at once: ``act(params (P, D), obs (P, B, obs_dim))``.

    The normaliser's statistics are shared by all members and live in this module's buffers.
    """

    def __init__(
        self,
        obs_dim: int,
        action_kind: str,
        action_dim: int,
        action_low: Sequence[float] = (),
        action_high: Sequence[float] = (),
        hidden: Sequence[int] = (64, 64),
        activation: str = "tanh",
        bias: bool = True,
        action_mode: str | None = None,
        obs_norm: bool = True,
    ) -> None:
        super().__init__()
        self.head = make_head(action_kind, action_dim, action_low, action_high, action_mode)
        # The module's own weights are only a template (layout + initial centre), never trained.
        self.net = MLP(obs_dim, self.head.out_dim, hidden, activation, bias).requires_grad_(False)
        self.norm = RunningNorm(obs_dim, enabled=obs_norm)

    @property
    def num_params(self) -> int:
        return self.net.num_params

    def initial_parameters(self) -> torch.Tensor:
        return self.net.flat_parameters()

    def bind(
        self, params: torch.Tensor, generator: torch.Generator | None = None
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        """``act(obs (P, B, obs_dim)) → actions (P, B[, act_dim])`` for the members params (P, D)."""
        layers = self.net.split(params.detach())
        dtype = params.dtype

        @torch.no_grad()
        def act(obs: torch.Tensor) -> torch.Tensor:
            return self.head(self.net.batched_split(layers, self.norm(obs.to(dtype))), generator)

        return act

    @torch.no_grad()
    def act(self, params: torch.Tensor, obs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One-off batched action: params (P, D), obs (P, B, obs_dim)."""
        return self.bind(params, generator)(obs)
