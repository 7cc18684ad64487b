"""Q-networks for actor–critic methods: ``n`` critics Q_i(s, a) (TD3 uses two, DDPG one)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from genpolicy._checks import integer
from genpolicy.policies.mlp import MLP


class Critics(nn.Module):
    """``n`` independent MLPs over the concatenated (observation, action): forward → (n, B)."""

    def __init__(
        self, obs_dim: int, action_dim: int, hidden: Sequence[int] = (400, 300), activation: str = "relu", n: int = 1
    ) -> None:
        super().__init__()
        self.nets = nn.ModuleList(
            MLP(obs_dim + action_dim, 1, hidden, activation) for _ in range(integer("critics", n))
        )

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        x = torch.cat([obs, action], -1)  # (B, obs_dim + action_dim)
        return torch.stack([_q(net, x) for net in self.nets])

    def first(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Q_1(s, a) (B,): the critic the actor climbs."""
        return _q(self.nets[0], torch.cat([obs, action], -1))


def _q(net: MLP, x: torch.Tensor) -> torch.Tensor:
    """Q (B,). Under bf16 autocast the hidden layers run in bf16 but the last layer in float32, so
    values and TD targets keep float32 resolution (bf16 would round a Q of −500 to ±2)."""
    for layer in net.layers[:-1]:
        x = net._act(layer(x))
    with torch.autocast(device_type=x.device.type, enabled=False):
        return net.layers[-1](x.float()).squeeze(-1)
