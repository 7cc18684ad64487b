"""pytorch-es's Atari network as a population policy: 4 × Conv(32, 3×3, stride 2) + SELU → LSTMCell → logits.

The network of atgambardella/pytorch-es (the OpenAI-ES recipe of Salimans et al. 2017, arXiv
1703.03864, on Pong): a 1×42×42 frame → four 3×3 stride-2 convolutions with 32 channels and SELU
(42 → 21 → 11 → 6 → 3, so 288 features) → an LSTM cell with 256 units → one linear layer to the
action logits; its hidden state is zeroed at each episode start. 588,710 weights for Pong's six
actions (the LSTM holds 559,104 of them).

Two ways to play a population of these networks, tested equal:

* the generic path — :class:`ConvLSTM` is an ordinary ``nn.Module`` (the LSTM cell written with
  plain tensor ops, because ``aten::lstm_cell`` has no vmap rule), played by
  :class:`~genpolicy.policies.ModulePolicy`'s ``functional_call`` + ``vmap``;
* the fast path (:class:`ConvLSTMPolicy`, ``fast=true``, the default) — the M members' convolutions
  as ONE grouped convolution (groups = M) and the LSTM as one batched matrix product per step
  over the members' concatenated [W_ih | W_hh] (laid out once per episode, when the copies are bound).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from genpolicy.policies.module import ModulePolicy, RecurrentModuleActor


def conv_out(size: int, layers: int) -> int:
    """Side length after ``layers`` 3×3 convolutions with stride 2 and padding 1."""
    for _ in range(layers):
        size = (size + 1) // 2
    return size


def check_frames(obs_shape: Sequence[int], what: str) -> tuple[int, int, int]:
    """``obs_shape`` as (C, H, W), or a ValueError saying the policy needs image frames."""
    shape = tuple(int(s) for s in obs_shape or ())
    if len(shape) != 3:
        raise ValueError(
            f"{what} reads image frames (C, H, W), e.g. env=atari; this env's observations are "
            f"{shape or 'vectors'} — use policy=mlp or policy=linear for vector observations"
        )
    return shape


class ConvLSTM(nn.Module):
    """frames (B, C·H·W) flat, state (h, c) each (B, hidden) → (logits (B, out_dim), (h, c))."""

    def __init__(
        self,
        out_dim: int,
        obs_shape: Sequence[int] = (1, 42, 42),
        channels: int = 32,
        conv_layers: int = 4,
        hidden: int = 256,
    ) -> None:
        super().__init__()
        self.obs_shape = check_frames(obs_shape, "ConvLSTM")
        c, h, w = self.obs_shape
        if min(channels, conv_layers, hidden, out_dim) < 1:
            raise ValueError(
                f"channels, conv_layers, hidden and out_dim must be ≥ 1, got "
                f"{channels}, {conv_layers}, {hidden}, {out_dim}"
            )
        self.channels, self.hidden = int(channels), int(hidden)
        self.convs = nn.ModuleList(
            nn.Conv2d(c if i == 0 else channels, channels, 3, stride=2, padding=1) for i in range(conv_layers)
        )
        self.features = channels * conv_out(h, conv_layers) * conv_out(w, conv_layers)
        self.lstm = nn.LSTMCell(self.features, hidden)  # its parameters; the cell is computed below
        self.logits = nn.Linear(hidden, out_dim)
        with torch.no_grad():  # pytorch-es: zero LSTM biases, small normalised-column action weights
            self.lstm.bias_ih.zero_()
            self.lstm.bias_hh.zero_()
            self.logits.weight.normal_()
            self.logits.weight.mul_(0.01 / self.logits.weight.square().sum(1, keepdim=True).sqrt())
            self.logits.bias.zero_()

    def initial_state(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        zeros = self.logits.weight.new_zeros(batch_size, self.hidden)
        return zeros, zeros.clone()

    def forward(
        self, obs: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        x = obs.reshape(-1, *self.obs_shape)
        for conv in self.convs:
            x = F.selu(conv(x))
        h, c = state
        gates = F.linear(x.flatten(1), self.lstm.weight_ih, self.lstm.bias_ih) + F.linear(
            h, self.lstm.weight_hh, self.lstm.bias_hh
        )
        h, c = lstm_update(gates, c)
        return self.logits(h), (h, c)


def lstm_update(gates: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The LSTM cell from its pre-activations (…, 4H) in PyTorch's gate order i, f, g, o → (h, c)."""
    i, f, g, o = gates.chunk(4, -1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


class ConvLSTMPolicy(ModulePolicy):
    """pytorch-es's ConvLSTM for P flat parameter vectors; ``fast`` plays it with grouped convolutions
    and batched LSTM products (else through ModulePolicy's generic vmap path — the reference)."""

    def __init__(
        self,
        obs_dim: int,
        action_kind: str,
        action_dim: int,
        action_low: Sequence[float] = (),
        action_high: Sequence[float] = (),
        *,
        obs_shape: Sequence[int] = (),
        channels: int = 32,
        conv_layers: int = 4,
        hidden: int = 256,
        fast: bool = True,
        action_mode: str | None = None,
        obs_norm: bool = False,
        vmap_chunk_size: int | None = None,
    ) -> None:
        shape = check_frames(obs_shape, "policy=convlstm")
        if action_kind != "discrete":
            raise ValueError(f"policy=convlstm outputs action logits: it needs discrete actions, got {action_kind}")
        module = ConvLSTM(action_dim, shape, channels, conv_layers, hidden)
        super().__init__(
            obs_dim,
            action_kind,
            action_dim,
            action_low,
            action_high,
            module=module,
            obs_shape=shape,
            action_mode=action_mode,
            obs_norm=obs_norm,
            vmap_chunk_size=vmap_chunk_size,
        )
        self.fast = bool(fast)

    def bind(
        self, params: torch.Tensor, generator: torch.Generator | None = None
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        if not self.fast:
            return super().bind(params, generator)
        return FastConvLSTMActor(self, params.detach(), generator)


class FastConvLSTMActor(RecurrentModuleActor):
    """Members (M, D) × B copies each; observations (M, B, C·H·W) → actions (M, B)."""

    def __init__(self, policy: ConvLSTMPolicy, params: torch.Tensor, generator: torch.Generator | None) -> None:
        super().__init__(policy, params, generator)
        self._layout()

    def _layout(self) -> None:
        """Per-member weights → grouped-conv kernels (M·32, C, 3, 3) and the LSTM's [W_ih | W_hh]ᵀ (M, F+H, 4H)."""
        w, net = self.weights, self.policy.net
        M = self.params.shape[0]
        self.kernels = [
            (w[f"net.convs.{i}.weight"].flatten(0, 1), w[f"net.convs.{i}.bias"].flatten())
            for i in range(len(net.convs))
        ]
        self.w_lstm = torch.cat([w["net.lstm.weight_ih"], w["net.lstm.weight_hh"]], 2).transpose(1, 2).contiguous()
        self.b_lstm = (w["net.lstm.bias_ih"] + w["net.lstm.bias_hh"]).view(M, 1, -1)
        self.w_out = w["net.logits.weight"].transpose(1, 2).contiguous()  # (M, H, A)
        self.b_out = w["net.logits.bias"].view(M, 1, -1)

    @torch.no_grad()
    def __call__(self, obs: torch.Tensor) -> torch.Tensor:  # (M, B, C·H·W)
        M, B = obs.shape[:2]
        net = self.policy.net
        if self.state is None:
            self.state = self.policy.initial_state(M, B, self.params)
        c_in, height, width = net.obs_shape
        x = self.policy.norm(obs.to(self.params.dtype))
        x = x.view(M, B, c_in, height, width).transpose(0, 1).reshape(B, M * c_in, height, width)
        for weight, bias in self.kernels:
            x = F.selu(F.conv2d(x, weight, bias, stride=2, padding=1, groups=M))
        x = x.view(B, M, -1).transpose(0, 1)  # (M, B, features): each member's channels in order
        h, c = self.state
        gates = torch.baddbmm(self.b_lstm, torch.cat([x, h], 2), self.w_lstm)
        h, c = lstm_update(gates, c)
        self.state = (h, c)
        return self.policy.head(torch.baddbmm(self.b_out, h, self.w_out), self.generator)

    def select(self, keep: torch.Tensor) -> FastConvLSTMActor:
        super().select(keep)
        self._layout()
        return self
