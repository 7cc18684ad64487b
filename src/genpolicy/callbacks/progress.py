"""A progress bar that speaks in generations: ``generations: 12/50 [gen=12, fit_mean=…, test=…]``."""

from __future__ import annotations

from lightning.pytorch.callbacks import TQDMProgressBar


class GenerationProgressBar(TQDMProgressBar):
    def on_train_epoch_start(self, trainer, *args) -> None:
        super().on_train_epoch_start(trainer, *args)
        self.train_progress_bar.set_description("generations")

    def get_metrics(self, trainer, pl_module) -> dict:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        if "gen" in items:
            items["gen"] = int(items["gen"])
        return items
