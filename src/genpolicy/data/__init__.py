"""LightningDataModules that feed the methods."""

from genpolicy.data.demonstrations import DemonstrationDataModule, DemonstrationStream
from genpolicy.data.generation import GenerationDataModule, GenerationStream
from genpolicy.data.replay import ReplayDataModule, ReplayStream

__all__ = ["DemonstrationDataModule", "DemonstrationStream", "GenerationDataModule", "GenerationStream", "ReplayDataModule", "ReplayStream"]
