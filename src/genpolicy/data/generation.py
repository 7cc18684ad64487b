"""The generation stream: a DataModule that owns the environments and yields one item per generation.

Each item is ``{"generation": g, "seed": s_g}`` with ``s_g`` a pure function of (run seed, g), so a
resumed run continues the exact same sequence of seeds. The stream starts at the LightningModule's
``generation`` counter, which is restored from the checkpoint before the dataloader is built.

By default an epoch never ends and ``trainer.max_steps`` (= ``generations``) sets the length of a
run. With ``generations_per_epoch=K`` every epoch is K generations (a resumed run first finishes
its current epoch), so ``trainer.max_epochs`` and epoch-level callbacks work too.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import lightning as L
from torch.utils.data import DataLoader, IterableDataset

from genpolicy._checks import integer
from genpolicy.envs.registry import EnvSpec
from genpolicy.rollout.evaluator import PopulationEvaluator
from genpolicy.seeding import generation_seed

if TYPE_CHECKING:
    from collections.abc import Iterator


class GenerationStream(IterableDataset):
    """Generations ``start, start+1, …`` up to the next multiple of ``per_epoch`` (endless if None)."""

    def __init__(self, seed: int, start: int = 0, per_epoch: int | None = None) -> None:
        self.seed, self.start, self.per_epoch = int(seed), int(start), per_epoch

    def __iter__(self) -> Iterator[dict[str, int]]:
        stop = None if self.per_epoch is None else (self.start // self.per_epoch + 1) * self.per_epoch
        for g in itertools.count(self.start) if stop is None else range(self.start, stop):
            yield {"generation": g, "seed": generation_seed(self.seed, g)}


class GenerationDataModule(L.LightningDataModule):
    def __init__(
        self, env: EnvSpec, seed: int = 0, generations_per_epoch: int | None = None, chunk_size: int | None = None
    ) -> None:
        super().__init__()
        self.env, self.seed = env, int(seed)
        self.chunk_size = None if chunk_size is None else integer("chunk_size", chunk_size)
        self.per_epoch = (
            None if generations_per_epoch is None else integer("generations_per_epoch", generations_per_epoch)
        )
        self.evaluator: PopulationEvaluator | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.evaluator is None:
            self.evaluator = PopulationEvaluator(self.env, chunk_size=self.chunk_size)

    def train_dataloader(self) -> DataLoader:
        module = self.trainer.lightning_module if self.trainer is not None else None
        start = int(getattr(module, "generation", 0))
        return DataLoader(GenerationStream(self.seed, start, self.per_epoch), batch_size=None)

    def teardown(self, stage: str | None = None) -> None:
        if self.evaluator is not None:
            self.evaluator.close()
            self.evaluator = None
