"""The optimisers that step a gradient-based strategy's centre: Adam, SGD and ClipUp.

ClipUp: Toklu, Liskowski & Srivastava, "ClipUp: A Simple and Powerful Optimizer for Distribution-based
Policy Evolution", PPSN 2020, arXiv:2008.02387. Momentum on the *normalised* gradient, with the
velocity's norm clipped to ``max_speed``:

    v ← m·v + lr · g/‖g‖,   v ← v · min(1, max_speed/‖v‖),   θ ← θ − v

so a step never exceeds ``max_speed`` whatever the fitness scale. The paper's heuristic, and the
default here, is ``max_speed = 2·lr``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from genpolicy._checks import choice, decay, nonnegative, positive

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

OPTIMIZERS = ("adam", "sgd", "clipup")


class ClipUp(torch.optim.Optimizer):
    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 0.01,
        momentum: float = 0.9,
        max_speed: float | None = None,
        weight_decay: float = 0.0,
    ) -> None:
        positive("lr", lr)
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        max_speed = 2 * lr if max_speed is None else positive("max_speed", max_speed)
        super().__init__(params, {"lr": lr, "momentum": momentum, "max_speed": max_speed, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None if closure is None else closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad if group["weight_decay"] == 0 else p.grad + group["weight_decay"] * p
                state = self.state[p]
                v = state.setdefault("velocity", torch.zeros_like(p))
                norm = g.norm()
                v.mul_(group["momentum"])
                if norm > 0:
                    v.add_(g, alpha=group["lr"] / float(norm))
                speed = float(v.norm())
                if speed > group["max_speed"]:
                    v.mul_(group["max_speed"] / speed)
                p.sub_(v)
        return loss


@dataclass
class OptimizerSettings:
    """Which optimiser steps the centre, and how (validated at construction)."""

    name: str = "adam"
    lr: float = 0.01
    lr_decay: float = 1.0  # lr ← lr · decay, once per generation
    momentum: float = 0.9  # sgd, clipup
    weight_decay: float = 0.0  # L2 coefficient
    max_speed: float | None = None  # clipup only; None: 2 · lr

    def __post_init__(self) -> None:
        choice("optimizer", self.name, OPTIMIZERS)
        positive("lr", self.lr)
        decay("lr_decay", self.lr_decay)
        nonnegative("weight_decay", self.weight_decay)
        if not (isinstance(self.momentum, (int, float)) and 0 <= self.momentum < 1):
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if self.max_speed is not None:
            positive("max_speed", self.max_speed)

    def build(
        self, params: Iterable[torch.Tensor]
    ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        params = list(params)
        if self.name == "adam":
            opt = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        elif self.name == "sgd":
            opt = torch.optim.SGD(params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
        else:
            opt = ClipUp(
                params, lr=self.lr, momentum=self.momentum, max_speed=self.max_speed, weight_decay=self.weight_decay
            )
        return opt, torch.optim.lr_scheduler.ExponentialLR(opt, gamma=self.lr_decay)
