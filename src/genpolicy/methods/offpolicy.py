"""What the off-policy LightningModules (DDPG/TD3 in td3.py, ST-GPV in gpv.py) share: pulling items
from the replay stream, logging once per round, the precision they accept, Adam's fused kernel."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from collections.abc import Iterator

    import lightning as L
    from lightning.pytorch.core.optimizer import LightningOptimizer
    from lightning.pytorch.plugins import Precision


def adam_kwargs(device: torch.device) -> dict:
    """Adam's fused kernel (one pass over all parameters) where torch has one for the device."""
    return {"fused": True} if device.type in ("cpu", "cuda") else {}


def next_item(module: L.LightningModule, dataloader_iter: Iterator[tuple[dict, int, int]]) -> dict:
    """The next item of a data module's stream, on the module's device (items are made on the CPU)."""
    item, _, _ = next(dataloader_iter)
    return item if module.device.type == "cpu" else module.transfer_batch_to_device(item, module.device, 0)


def check_precision(plugin: Precision) -> None:
    """The fused update computes its own gradients and casts only to bfloat16: a float16 gradient
    scaler (``16-mixed`` on CUDA) would unscale gradients that were never scaled."""
    if getattr(plugin, "scaler", None) is not None:
        raise ValueError(
            "DDPG/TD3 support trainer.precision 32-true or bf16-mixed, not 16-mixed "
            "(its gradient scaler would unscale gradients the fused update never scaled)"
        )


def step_and_mark(opt: torch.optim.Optimizer | LightningOptimizer, net: torch.nn.Module) -> None:
    """``opt.step()``, then mark ``net``'s parameters as written: torch's fused Adam kernel updates them
    without bumping their version counters, which the fused update's shadows read."""
    opt.step()
    torch.autograd.graph.increment_version(list(net.parameters()))


def log_round(module: L.LightningModule, stats: dict) -> None:
    """Log once per round, at step = rounds done (``self.log`` in a step that logs nothing else would
    repeat the last values on every training step)."""
    for logger in module.loggers:
        logger.log_metrics(stats, step=int(module.generation))
