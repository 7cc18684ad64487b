"""Q-networks for actor–critic methods: ``n`` critics Q_i(s, a) (TD3 uses two, DDPG one)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from genpolicy._checks import integer
from genpolicy.policies.mlp import MLP


class Critics(nn.Module):
    """``n`` independent MLPs over the concatenated (observation, action): forward → (n, B)."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: Sequence[int] = (400, 300),
                 activation: str = "relu", n: int = 1) -> None:
        super().__init__()
        self.nets = nn.ModuleList(MLP(obs_dim + action_dim, 1, hidden, activation) for _ in range(integer("critics", n)))

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        x = torch.cat([obs, action], -1)  # (B, obs_dim + action_dim)
        return torch.stack([net(x).squeeze(-1) for net in self.nets])

    def first(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Q_1(s, a) (B,): the critic the actor climbs."""
        return self.nets[0](torch.cat([obs, action], -1)).squeeze(-1)
