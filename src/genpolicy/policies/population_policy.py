"""Normaliser + network + action head: the acting policy of a population method."""

from __future__ import annotations

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
        action_low=(),
        action_high=(),
        hidden=(64, 64),
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

    @torch.no_grad()
    def act(self, params: torch.Tensor, obs: torch.Tensor, generator: torch.Generator | None = None):
        out = self.net.batched(params, self.norm(obs))  # (P, B, out_dim)
        return self.head(out, generator)
