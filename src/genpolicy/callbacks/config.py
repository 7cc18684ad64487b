"""Store the composed run config inside every checkpoint (evaluate.py rebuilds the policy from it)."""

from __future__ import annotations

import lightning as L


class StoreConfig(L.Callback):
    def __init__(self, config: dict) -> None:
        self.config = config

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint["genpolicy"] = {"config": self.config, "version": 1}
