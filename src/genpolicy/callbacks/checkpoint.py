"""Checkpoints per generation: ``last.ckpt`` every k generations and at the end, ``best.ckpt``
whenever the test return improves. Files are written atomically (a temporary file, then a rename,
through Lightning's checkpoint IO), so a crash never leaves a half-written ``last.ckpt``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lightning.pytorch.callbacks import Checkpoint

from genpolicy._checks import integer

if TYPE_CHECKING:
    import lightning as L


class GenerationCheckpoint(Checkpoint):  # a Checkpoint: Lightning adds no default ModelCheckpoint
    def __init__(self, dirpath: str | Path, every_n_generations: int = 1) -> None:
        self.dirpath = Path(dirpath)
        self.every = integer("checkpoint.every_n_generations", every_n_generations)
        self.best_score: float | None = None
        self._seen = None
        self._saved_generation: int | None = None

    @property
    def last_path(self) -> Path:
        return self.dirpath / "last.ckpt"

    @property
    def best_path(self) -> Path:
        return self.dirpath / "best.ckpt"

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        latest = getattr(pl_module, "latest_test", None)
        if latest is not None and latest != self._seen:
            self._seen = latest
            if self.best_score is None or latest[1] > self.best_score:
                self.best_score = float(latest[1])
                trainer.save_checkpoint(self.best_path, weights_only=False)
        gen = int(pl_module.generation)
        if gen % self.every == 0 and gen != self._saved_generation:  # once per generation (or round)
            self._saved_generation = gen
            trainer.save_checkpoint(self.last_path, weights_only=False)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        trainer.save_checkpoint(self.last_path, weights_only=False)

    def state_dict(self) -> dict:
        return {"best_score": self.best_score}

    def load_state_dict(self, state_dict: dict) -> None:
        self.best_score = state_dict["best_score"]
