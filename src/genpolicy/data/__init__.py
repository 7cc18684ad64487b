"""LightningDataModules that feed the methods."""

from __future__ import annotations

from genpolicy.data.demonstrations import DemonstrationDataModule
from genpolicy.data.generation import GenerationDataModule, GenerationStream
from genpolicy.data.replay import ItemStream, ReplayDataModule

__all__ = ["DemonstrationDataModule", "GenerationDataModule", "GenerationStream", "ItemStream", "ReplayDataModule"]
