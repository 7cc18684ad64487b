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

from genpolicy import _checks as check

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
        check.choice("activation", activation, sorted(ACTIVATIONS))
        sizes = [int(in_dim), *(int(h) for h in hidden), int(out_dim)]
        if any(s <= 0 for s in sizes):
            raise ValueError(f"layer sizes must be positive, got {sizes}")
        self.sizes = sizes
        self.activation = activation
        self.bias = bias
        self.layers = nn.ModuleList(nn.Linear(i, o, bias=bias) for i, o in zip(sizes[:-1], sizes[1:], strict=True))
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

    def load_flat(self, flat: torch.Tensor) -> MLP:
        nn.utils.vector_to_parameters(flat.detach().to(next(self.parameters())), self.parameters())
        return self

    NARROW = 8  # layers with at most this many inputs or outputs skip batched GEMM (see batched_split)

    def split(self, params: torch.Tensor) -> list[tuple[str, torch.Tensor, torch.Tensor | None]]:
        """Per layer (kind, weight, bias (P, 1, out) or None) from flat params (P, D), done once per
        rollout so every step reads contiguous batched matrices. The weight is Wᵀ (P, in, out),
        except for ``narrow_out`` layers, which keep W (P, out, in)."""
        P, offset, layers = params.shape[0], 0, []
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            w = params[:, offset : offset + n_in * n_out].reshape(P, n_out, n_in)
            offset += n_in * n_out
            b = None
            if self.bias:
                b = params[:, offset : offset + n_out].reshape(P, 1, n_out).contiguous()
                offset += n_out
            if n_in <= self.NARROW:
                layers.append(("narrow_in", w.transpose(1, 2).contiguous(), b))
            elif n_out <= self.NARROW:
                layers.append(("narrow_out", w.contiguous(), b))
            else:
                layers.append(("gemm", w.transpose(1, 2).contiguous(), b))
        return layers

    def batched_split(
        self, layers: list[tuple[str, torch.Tensor, torch.Tensor | None]], x: torch.Tensor
    ) -> torch.Tensor:
        """Forward with :meth:`split` weights: x (P, B, in_dim) → (P, B, out_dim).

        Batched GEMM over P tiny matrices pays a per-matrix overhead; for a narrow input (e.g. 4
        observations) a few broadcast multiply-adds are 2.7× faster, for a narrow output (e.g. 2
        actions) a broadcast multiply-sum 1.5× faster (1024 members, 2-core CPU).
        """
        last = len(layers) - 1
        for i, (kind, w, b) in enumerate(layers):
            if kind == "narrow_in":  # w (P, in, out)
                out = b.expand(-1, x.shape[1], -1).clone() if b is not None else x.new_zeros(*x.shape[:2], w.shape[2])
                for j in range(w.shape[1]):
                    out.addcmul_(x[:, :, j : j + 1], w[:, j : j + 1, :])
                x = out
            elif kind == "narrow_out":  # w (P, out, in)
                x = (x.unsqueeze(2) * w.unsqueeze(1)).sum(-1)
                x = x + b if b is not None else x
            else:  # w (P, in, out)
                x = torch.baddbmm(b, x, w) if b is not None else torch.bmm(x, w)
            if i < last:
                x = self._act(x)
        return x

    def batched(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Run P members at once: params (P, D), x (P, B, in_dim) → (P, B, out_dim)."""
        return self.batched_split(self.split(params), x)
