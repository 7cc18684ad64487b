"""A progress bar that speaks in generations: ``generations: 12/50 [gen=12, fit_mean=…, test=…]``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lightning.pytorch.callbacks import TQDMProgressBar

if TYPE_CHECKING:
    import lightning as L


class GenerationProgressBar(TQDMProgressBar):
    def on_train_epoch_start(self, trainer: L.Trainer, *args: Any) -> None:
        super().on_train_epoch_start(trainer, *args)
        self.train_progress_bar.set_description("generations")

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        if "gen" in items:
            items["gen"] = int(items["gen"])
        return items
