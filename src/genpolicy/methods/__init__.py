"""LightningModules, one file per method."""

from genpolicy.methods.es import ESModule
from genpolicy.methods.ga import GAModule
from genpolicy.methods.pgen import PGENModule
from genpolicy.methods.population import PopulationModule

__all__ = ["ESModule", "GAModule", "PGENModule", "PopulationModule"]
