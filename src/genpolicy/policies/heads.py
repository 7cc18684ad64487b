"""Action heads: turn network outputs into environment actions, for any batch shape."""

from __future__ import annotations

from collections.abc import Sequence

import torch


class DiscreteHead:
    """Logits (…, n) → action indices (…). ``mode``: ``argmax`` (default) or ``sample``."""

    kind = "discrete"

    def __init__(self, n: int, mode: str = "argmax") -> None:
        if mode not in ("argmax", "sample"):
            raise ValueError(f"discrete action mode must be 'argmax' or 'sample', got {mode!r}")
        self.n, self.mode, self.out_dim = int(n), mode, int(n)

    def __call__(self, out: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.mode == "argmax":
            return out.argmax(-1)
        probs = torch.softmax(out.reshape(-1, self.n).float(), -1)
        return torch.multinomial(probs, 1, generator=generator).view(out.shape[:-1])


class BoxHead:
    """Outputs (…, d) → actions inside [low, high]. ``mode``: ``tanh`` (squash) or ``clip``."""

    kind = "box"

    def __init__(self, low: Sequence[float], high: Sequence[float], mode: str = "tanh") -> None:
        if mode not in ("tanh", "clip"):
            raise ValueError(f"box action mode must be 'tanh' or 'clip', got {mode!r}")
        self.low = torch.as_tensor(low, dtype=torch.float32)
        self.high = torch.as_tensor(high, dtype=torch.float32)
        if not torch.isfinite(self.low).all() or not torch.isfinite(self.high).all():
            raise ValueError("box actions need finite bounds")
        self.mode, self.out_dim = mode, int(self.low.numel())

    def __call__(self, out: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        low, high = self.low.to(out.device), self.high.to(out.device)
        if self.mode == "tanh":
            return low + (torch.tanh(out) + 1.0) * 0.5 * (high - low)
        return torch.maximum(torch.minimum(out, high), low)

    def backward(self, out: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        """∂L/∂out from ∂L/∂action (the chain rule through :meth:`__call__`, for hand-written updates)."""
        low, high = self.low.to(out.device), self.high.to(out.device)
        if self.mode == "tanh":
            t = torch.tanh(out)
            return grad * (1.0 - t * t) * (0.5 * (high - low))
        return grad * ((out >= low) & (out <= high))


def make_head(
    action_kind: str, action_dim: int, low: Sequence[float] = (), high: Sequence[float] = (), mode: str | None = None
) -> DiscreteHead | BoxHead:
    """Build the head for an env's action space; ``mode`` None picks argmax / tanh."""
    if action_kind == "discrete":
        return DiscreteHead(action_dim, mode or "argmax")
    if action_kind == "box":
        return BoxHead(low, high, mode or "tanh")
    raise ValueError(f"unknown action kind {action_kind!r} (expected 'discrete' or 'box')")
