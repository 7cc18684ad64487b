"""Small user-style modules for ModulePolicy's tests (importable by Hydra as ``toy_modules.<Name>``)."""

from __future__ import annotations

import torch
from torch import nn


class TinyNet(nn.Module):
    """obs → hidden → logits, the way a user would write a policy network."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: int = 16) -> None:
        super().__init__()
        self.body, self.out = nn.Linear(obs_dim, hidden), nn.Linear(hidden, action_dim)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:  # (B, obs_dim) → (B, action_dim)
        return self.out(torch.tanh(self.body(obs)))


class LSTMNet(nn.Module):
    """An LSTM cell written with plain ops (``aten::lstm_cell`` has no vmap batching rule) + readout."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 8) -> None:
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Linear(in_dim + hidden, 4 * hidden)
        self.out = nn.Linear(hidden, out_dim)

    def initial_state(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.zeros(batch_size, self.hidden), torch.zeros(batch_size, self.hidden)  # (h, c)

    def forward(self, obs: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        h, c = state  # (B, hidden) each
        i, f, g, o = self.gates(torch.cat([obs, h], -1)).chunk(4, -1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return self.out(h), (h, c)


class RewardBias(nn.Module):
    """A tiny online learner: logits = W·obs + b, where the per-copy bias b starts at 0 and moves by
    ``rate · reward`` after every step (``rate`` (out_dim,) is part of the genome)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim)
        self.rate = nn.Parameter(torch.full((out_dim,), 0.01))

    def initial_state(self, batch_size: int) -> tuple[torch.Tensor]:
        return (torch.zeros(batch_size, self.rate.numel()),)

    def forward(self, obs: torch.Tensor, state: tuple[torch.Tensor]):
        return self.linear(obs) + state[0], state

    def learn(self, state: tuple[torch.Tensor], reward: torch.Tensor, done: torch.Tensor) -> tuple[torch.Tensor]:
        return (state[0] + reward.unsqueeze(-1) * self.rate,)  # (B, out_dim)


class WrongSize(nn.Module):
    """Outputs one value too many."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim + 1)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.linear(obs)
