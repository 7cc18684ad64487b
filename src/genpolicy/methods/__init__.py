"""LightningModules, one file per method."""

from genpolicy.methods.es import ESModule

__all__ = ["ESModule"]
