"""A callback for DDP tests: at the end of training every rank's parameters must be identical.
Rank 0 writes ``ranks_agree.json`` (world size, largest difference) into the given directory."""

import json
from pathlib import Path

import lightning as L
import torch


class RanksAgree(L.Callback):
    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        flat = torch.nn.utils.parameters_to_vector(module.parameters()).detach()
        every = trainer.strategy.all_gather(flat).reshape(trainer.world_size, -1)
        if trainer.global_rank == 0:
            diff = float((every - every[0]).abs().max())
            Path(self.out_dir, "ranks_agree.json").write_text(
                json.dumps({"world": trainer.world_size, "max_diff": diff})
            )
