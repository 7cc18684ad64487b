"""A multilayer perceptron that can run a whole population in one batched call.

The flat parameter layout is exactly ``torch.nn.utils.parameters_to_vector(mlp.parameters())``
(per layer: weight (out, in) row-major, then bias), so a population member can be loaded into the
module with ``vector_to_parameters`` and exported as an ordinary state dict.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

ACTIVATIONS = {
    "tanh": torch.tanh,
    "relu": F.relu,
    "selu": F.selu,
    "elu": F.elu,
    "gelu": F.gelu,
    "identity": lambda x: x,
}


class MLP(nn.Module):
    """``in_dim → hidden… → out_dim`` with one activation between layers (none after the last)."""

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden: Sequence[int] = (64, 64),
        activation: str = "tanh",
        bias: bool = True,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        sizes = [int(in_dim), *(int(h) for h in hidden), int(out_dim)]
        if any(s <= 0 for s in sizes):
            raise ValueError(f"layer sizes must be positive, got {sizes}")
        self.sizes = sizes
        self.activation = activation
        self.bias = bias
        self.layers = nn.ModuleList(nn.Linear(i, o, bias=bias) for i, o in zip(sizes[:-1], sizes[1:]))
        self._act = ACTIVATIONS[activation]

    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = self._act(x)
        return x

    def flat_parameters(self) -> torch.Tensor:
        """The module's current parameters as one vector (D,)."""
        return nn.utils.parameters_to_vector(self.parameters()).detach().clone()

    def load_flat(self, flat: torch.Tensor) -> "MLP":
        nn.utils.vector_to_parameters(flat.detach().to(next(self.parameters())), self.parameters())
        return self

    def split(self, params: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        """Per layer, contiguous (Wᵀ (P, in, out), b (P, 1, out) or None) from flat params (P, D).

        Done once per rollout, so the per-step forward reads contiguous batched matrices.
        """
        P, offset, layers = params.shape[0], 0, []
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:]):
            w = params[:, offset : offset + n_in * n_out].reshape(P, n_out, n_in)
            offset += n_in * n_out
            b = None
            if self.bias:
                b = params[:, offset : offset + n_out].reshape(P, 1, n_out).contiguous()
                offset += n_out
            layers.append((w.transpose(1, 2).contiguous(), b))
        return layers

    def batched_split(self, layers, x: torch.Tensor) -> torch.Tensor:
        """Forward with :meth:`split` weights: x (P, B, in_dim) → (P, B, out_dim)."""
        last = len(layers) - 1
        for i, (wt, b) in enumerate(layers):
            x = torch.baddbmm(b, x, wt) if b is not None else torch.bmm(x, wt)
            if i < last:
                x = self._act(x)
        return x

    def batched(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Run P members at once: params (P, D), x (P, B, in_dim) → (P, B, out_dim)."""
        return self.batched_split(self.split(params), x)
