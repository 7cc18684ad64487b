"""LightningModules, one file per method."""

from __future__ import annotations

from genpolicy.methods.es import ESModule
from genpolicy.methods.ga import GAModule
from genpolicy.methods.gpv import GPVModule, STGPVModule
from genpolicy.methods.metarl import MetaRLModule
from genpolicy.methods.pgen import PGENModule
from genpolicy.methods.population import PopulationModule
from genpolicy.methods.td3 import TD3Module

__all__ = [
    "ESModule",
    "GAModule",
    "MetaRLModule",
    "GPVModule",
    "STGPVModule",
    "PGENModule",
    "PopulationModule",
    "TD3Module",
]
