"""Running observation normalisation (Salimans et al. 2017), stored as buffers so it checkpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from collections.abc import Callable


class RunningNorm(nn.Module):
    """Normalise with a running mean/std merged from per-generation sums.

    Statistics are float64 buffers; the std is floored (variance ≥ ``var_floor``) so a feature
    that has not moved yet is not blown up, and outputs are clipped to ±``clip``.
    """

    def __init__(self, dim: int, enabled: bool = True, clip: float = 5.0, var_floor: float = 1e-2) -> None:
        super().__init__()
        self.enabled, self.clip, self.var_floor = enabled, float(clip), float(var_floor)
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("sum", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("sumsq", torch.zeros(dim, dtype=torch.float64))
        self._cache: tuple | None = None  # (mean, std) in the dtype/device last used

    @torch.no_grad()
    def update(self, obs_sum: torch.Tensor, obs_sumsq: torch.Tensor, count: float) -> None:
        if not self.enabled or count <= 0:
            return
        self.sum += obs_sum.to(self.sum)
        self.sumsq += obs_sumsq.to(self.sumsq)
        self.count += float(count)
        self._cache = None

    def mean_std(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Identity statistics (mean 0, std 1) until the first update."""
        if self.count <= 0:
            return torch.zeros_like(self.sum), torch.ones_like(self.sum)
        mean = self.sum / self.count
        var = (self.sumsq / self.count - mean.square()).clamp_min(self.var_floor)
        return mean, var.sqrt()

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return obs
        cache = self._cache
        if cache is None or cache[0].dtype != obs.dtype or cache[0].device != obs.device:
            mean, std = self.mean_std()
            cache = self._cache = (mean.to(obs), std.to(obs))
        return ((obs - cache[0]) / cache[1]).clamp(-self.clip, self.clip)

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        self._cache = None  # statistics replaced: recompute mean/std on next use
        super()._load_from_state_dict(*args, **kwargs)

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], *args: Any, **kwargs: Any) -> RunningNorm:
        self._cache = None  # moved or cast (e.g. .to(device), .double())
        return super()._apply(fn, *args, **kwargs)
