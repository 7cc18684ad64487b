"""Adam as plain tensor operations, so that a compiled update can fuse it with everything around it.

Kingma & Ba, "Adam: A Method for Stochastic Optimization", arXiv:1412.6980 (2014), in the form of
``torch.optim.Adam``: m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g², p ← p − lr/(1 − β₁ᵗ) · m / (√v/√(1 − β₂ᵗ) + ε).
It reads and writes the ``torch.optim.Adam`` object's own state tensors (``step``, ``exp_avg``,
``exp_avg_sq``), so an update made here and one made by ``opt.step()`` are interchangeable and a
checkpoint holds the same optimizer state either way. Inside one ``torch.compile`` graph the step
becomes one C++ loop per tensor that reads the gradient straight from the backward pass and also
writes the parameter's compute-dtype copy: no ``.grad`` tensors, no separate cast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


def hyper(opt: torch.optim.Optimizer) -> tuple[float, float, float, float] | None:
    """(lr, β₁, β₂, ε) of a plain Adam with one parameter group; None for anything :func:`step_` does
    not implement (another optimizer, weight decay, AMSGrad, maximize, tensor hyper-parameters)."""
    if type(opt) is not torch.optim.Adam or len(opt.param_groups) != 1:
        return None
    g = opt.param_groups[0]
    if (
        g["weight_decay"]
        or g["amsgrad"]
        or g["maximize"]
        or any(isinstance(v, torch.Tensor) for v in (g["lr"], *g["betas"], g["eps"]))
    ):
        return None
    return float(g["lr"]), float(g["betas"][0]), float(g["betas"][1]), float(g["eps"])


def state(opt: torch.optim.Adam, params: Sequence[torch.Tensor]) -> dict[str, list[torch.Tensor]] | None:
    """The optimizer's per-parameter state as lists aligned with ``params``, created the way
    ``torch.optim.Adam`` creates it on its first step when absent; None if the parameters' step counts
    differ (torch skips a parameter without a gradient), which :func:`step_` does not handle."""
    out = {"step": [], "exp_avg": [], "exp_avg_sq": []}
    for p in params:
        s = opt.state[p]
        if not s:
            s["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
            s["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            s["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        for k, values in out.items():
            values.append(s[k])
    return out if len({float(t) for t in out["step"]}) <= 1 else None


def step_(
    params: Sequence[torch.Tensor],
    grads: Sequence[torch.Tensor],
    state: dict[str, list[torch.Tensor]],
    hyper: tuple[float, float, float, float],
    copies: Sequence[torch.Tensor] = (),
) -> None:
    """One Adam step in place on ``params`` and ``state`` (whose step counts are equal, see :func:`state`);
    each ``copies[i]`` (if given) receives the new ``params[i]`` in its own dtype."""
    lr, beta1, beta2, eps = hyper
    for t in state["step"]:
        t.add_(1)
    # The bias corrections once for all tensors, as exp(t·log β) rather than β ** t: inductor keeps a
    # reused exp as its own value, where a pow would be recomputed inside every element loop (two
    # scalar pows per 16 floats made the step 3× slower).
    t = state["step"][0]
    step_size = lr / (1 - torch.exp(t * math.log(beta1)))
    inv_sqrt_bc2 = torch.rsqrt(1 - torch.exp(t * math.log(beta2)))
    for i, (p, g, m, v) in enumerate(zip(params, grads, state["exp_avg"], state["exp_avg_sq"], strict=True)):
        g = g.to(p.dtype)
        m.lerp_(g, 1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        p.sub_(step_size * m / (v.sqrt() * inv_sqrt_bc2 + eps))
        if copies:
            copies[i].copy_(p)
