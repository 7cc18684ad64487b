"""genpolicy: evolve, generate and meta-learn reinforcement-learning policies.

The population engine (``population``, ``rollout``, ``policies``, ``envs``) is plain PyTorch;
``methods`` wraps it in LightningModules and ``fit`` / ``evaluate`` are the Hydra entry points.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["EvolutionModule", "evolve", "__version__"]


def __getattr__(name: str) -> Any:  # import the Lightning-backed API only when it is asked for
    if name in ("EvolutionModule", "evolve"):
        from genpolicy import api

        return getattr(api, name)
    raise AttributeError(f"module 'genpolicy' has no attribute {name!r}")
