"""LightningDataModules that feed the methods."""

from genpolicy.data.generation import GenerationDataModule, GenerationStream

__all__ = ["GenerationDataModule", "GenerationStream"]
