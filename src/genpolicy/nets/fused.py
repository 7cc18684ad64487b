"""Hand-written forward and backward passes for stacks of small MLPs (the actor–critic update).

An off-policy update on a CPU is dominated by per-call costs, not arithmetic: autograd's graph, autocast's weight
casts on every call, ``addmm``'s slow bias path and a separate GEMM per critic. Here ``n`` MLPs of one shape (TD3's
twin critics; an actor is ``n = 1``) become batched matrices (:class:`Shadow`, re-read only after a parameter
changed); every hidden layer is one ``bmm`` in the compute dtype (bfloat16 runs on AMX/tensor cores); the last layer —
Q-values and pre-tanh actions — stays float32 (a bf16 Q of −500 would be rounded to ±2). The backward pass is the
chain rule written out, so one update is a fixed, short sequence of kernels. Parameters stay in their ``nn.Linear``
modules (checkpoints are unchanged); :func:`write_grads` stores the gradients as their float32 ``.grad``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from genpolicy.policies.mlp import ACTIVATIONS, MLP

if TYPE_CHECKING:
    from typing import TypeAlias

    # per layer: (∂L/∂W (n, out, in), ∂L/∂b (n, out) or None), first layer first (:func:`backward`)
    LayerGrads: TypeAlias = list[tuple[torch.Tensor, torch.Tensor | None]]


@dataclass
class Stack:
    """``n`` same-shaped MLPs: per layer W (n, out, in) and b (n, 1, out) or None."""

    weights: list[torch.Tensor]
    biases: list[torch.Tensor | None]
    activation: str

    def part(self, start: int, stop: int) -> Stack:
        """MLPs ``start`` … ``stop − 1`` of the stack (views)."""
        return Stack(
            [w[start:stop] for w in self.weights],
            [None if b is None else b[start:stop] for b in self.biases],
            self.activation,
        )

    def first(self, k: int = 1) -> Stack:
        """The first ``k`` MLPs of the stack (views)."""
        return self.part(0, k)


@dataclass
class Tape:
    """What the backward pass needs: each layer's input and each hidden layer's pre-activation and output."""

    inputs: list[torch.Tensor] = field(default_factory=list)
    pre: list[torch.Tensor] = field(default_factory=list)
    post: list[torch.Tensor] = field(default_factory=list)

    def part(self, start: int, stop: int) -> Tape:
        """The record of MLPs ``start`` … ``stop − 1`` of a stack's pass (views): their backward pass alone."""
        return Tape(*([t[start:stop] for t in ts] for ts in (self.inputs, self.pre, self.post)))


class Shadow:
    """Persistent batched copies of ``n`` same-shaped MLPs (hidden layers in ``dtype``, the last layer
    float32): :meth:`refresh` re-reads every parameter in one ``_foreach_copy_`` instead of a stack
    and a cast per tensor."""

    def __init__(self, mlps: Sequence[MLP], dtype: torch.dtype = torch.float32) -> None:
        first, last = mlps[0], len(mlps[0].layers) - 1
        self.dtype, self.weights, self.biases = dtype, [], []
        for i, layer in enumerate(first.layers):
            dt = torch.float32 if i == last else dtype
            self.weights.append(layer.weight.new_empty((len(mlps), *layer.weight.shape), dtype=dt))
            self.biases.append(
                None if layer.bias is None else layer.weight.new_empty((len(mlps), 1, layer.out_features), dtype=dt)
            )
        self.net = Stack(self.weights, self.biases, first.activation)
        self.params = parameters(mlps)
        self._dst = slots(self.net)
        self._seen = [None] * len(self.params)
        self.refresh()

    @torch.no_grad()
    def refresh(self) -> Stack:
        """The stack, with the parameters that changed since the last read re-read (an optimiser step,
        a Polyak update, a loaded checkpoint: every in-place write bumps a tensor's version counter).
        Only those: a stack of a network and its target often has one half current."""
        seen = [(p._version, p.data_ptr()) for p in self.params]
        stale = [i for i, (now, then) in enumerate(zip(seen, self._seen, strict=True)) if now != then]
        if stale:
            torch._foreach_copy_([self._dst[i] for i in stale], [self.params[i] for i in stale])
            self._seen = seen
        return self.net


def parameters(mlps: Sequence[MLP]) -> list[torch.Tensor]:
    """The MLPs' parameters layer by layer, MLP by MLP, weight before bias: the order of :func:`slots`
    and :func:`flat_grads`."""
    return [p for i in range(len(mlps[0].layers)) for m in mlps for p in m.layers[i].parameters()]


def single(params: Sequence[torch.Tensor], like: Stack) -> Stack:
    """A one-MLP stack of ``params`` themselves (views, in the order of :func:`parameters`), shaped like ``like``."""
    it = iter(params)
    weights, biases = [], []
    for b in like.biases:
        weights.append(next(it)[None])
        biases.append(None if b is None else next(it)[None, None])
    return Stack(weights, biases, like.activation)


def slots(net: Stack) -> list[torch.Tensor]:
    """Views of the stack, one per parameter of :func:`parameters`: W[j] (out, in) and b[j, 0] (out,)."""
    return [
        t
        for w, b in zip(net.weights, net.biases, strict=True)
        for j in range(w.shape[0])
        for t in ((w[j],) if b is None else (w[j], b[j, 0]))
    ]


def flat_grads(grads: LayerGrads) -> list[torch.Tensor]:
    """:func:`backward`'s per-layer stacked gradients, one per parameter of :func:`parameters`."""
    return [t for dw, db in grads for j in range(dw.shape[0]) for t in ((dw[j],) if db is None else (dw[j], db[j]))]


def forward(net: Stack, x: torch.Tensor, tape: Tape | None = None) -> torch.Tensor:
    """x (n, B, in) (or (1, B, in), broadcast over the stack) → (n, B, out) float32."""
    act, last = ACTIVATIONS[net.activation], len(net.weights) - 1
    x = x.expand(net.weights[0].shape[0], -1, -1)
    for i, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        x = x.to(w.dtype)
        h = _bmm(x, w.transpose(1, 2))
        if b is not None:
            h.add_(b)
        if tape is not None:
            tape.inputs.append(x)
        if i == last:
            return h
        x = act(h)
        if tape is not None:
            tape.pre.append(h)
            tape.post.append(x)
    raise AssertionError("unreachable")


def _bmm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``torch.bmm``; a batch of one runs as a plain matrix product. Under ``torch.compile`` a lone
    matrix can get a zero batch stride, and bmm's oneDNN path then copies a transposed operand first
    (two 200 KB copies per DDPG update). Products with a dimension of one stay ``bmm``: inductor turns
    those into fused loops, which it does not do for ``mm``."""
    if a.shape[0] == 1 and min(a.shape[1], a.shape[2], b.shape[2]) > 1:
        return torch.mm(a[0], b[0])[None]
    return torch.bmm(a, b)


def _activation_backward(name: str, grad: torch.Tensor, pre: torch.Tensor, post: torch.Tensor) -> torch.Tensor:
    if name == "relu":
        return torch.ops.aten.threshold_backward(grad, post, 0)
    if name == "tanh":
        return grad * (1 - post * post)
    if name == "identity":
        return grad
    return torch.func.vjp(ACTIVATIONS[name], pre)[1](grad)[0]  # any other elementwise activation


def backward(
    net: Stack, tape: Tape, grad_out: torch.Tensor, weight_grads: bool = True, input_grad: bool = False
) -> tuple[LayerGrads | None, torch.Tensor | None]:
    """Chain rule from ∂L/∂out (n, B, out) → (per layer (∂L/∂W (n, out, in) in the layer's dtype, ∂L/∂b
    (n, out) float32 or None) — or None without ``weight_grads`` — and ∂L/∂x (n, B, in) float32 or None)."""
    grads, g = [], grad_out
    for i in reversed(range(len(net.weights))):
        w = net.weights[i]
        g = g.to(w.dtype)
        if weight_grads:
            db = g.sum(1, dtype=torch.float32) if net.biases[i] is not None else None
            grads.append((_bmm(g.transpose(1, 2), tape.inputs[i]), db))  # cast by write_grads
        if i == 0 and not input_grad:
            break
        g = _bmm(g, w)
        if i > 0:
            g = _activation_backward(net.activation, g, tape.pre[i - 1], tape.post[i - 1])
    return (grads[::-1] if weight_grads else None), (g.float() if input_grad else None)


def write_grads(mlps: Sequence[MLP], grads: LayerGrads) -> None:
    """Store per-layer stacked gradients from :func:`backward` as the MLPs' parameter ``.grad``."""
    params = parameters(mlps)
    for p in params:
        if p.grad is None:
            p.grad = torch.empty_like(p)
    torch._foreach_copy_([p.grad for p in params], flat_grads(grads))
