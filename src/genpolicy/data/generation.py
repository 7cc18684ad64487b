"""The generation stream: a DataModule that owns the environments and yields one item per generation.

Each item is ``{"generation": g, "seed": s_g}`` with ``s_g`` a pure function of (run seed, g), so a
resumed run continues the exact same sequence of seeds. The stream starts at the LightningModule's
``generation`` counter, which is restored from the checkpoint before the dataloader is built.
"""

from __future__ import annotations

import itertools

import lightning as L
from torch.utils.data import DataLoader, IterableDataset

from genpolicy.envs.registry import EnvSpec
from genpolicy.population.noise import member_seed
from genpolicy.rollout.evaluator import PopulationEvaluator


class GenerationStream(IterableDataset):
    def __init__(self, seed: int, start: int = 0) -> None:
        self.seed, self.start = int(seed), int(start)

    def __iter__(self):
        for g in itertools.count(self.start):
            yield {"generation": g, "seed": member_seed(self.seed, g)}


class GenerationDataModule(L.LightningDataModule):
    def __init__(self, env: EnvSpec, seed: int = 0) -> None:
        super().__init__()
        self.env, self.seed = env, int(seed)
        self.evaluator: PopulationEvaluator | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.evaluator is None:
            self.evaluator = PopulationEvaluator(self.env)

    def train_dataloader(self) -> DataLoader:
        module = self.trainer.lightning_module if self.trainer is not None else None
        start = int(getattr(module, "generation", 0))
        return DataLoader(GenerationStream(self.seed, start), batch_size=None)

    def teardown(self, stage: str | None = None) -> None:
        if self.evaluator is not None:
            self.evaluator.close()
            self.evaluator = None
