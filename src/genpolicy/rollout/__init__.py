"""The one episode loop: evaluate a population of parameter vectors on vectorised environments."""

from __future__ import annotations

from genpolicy.rollout.evaluator import PopulationEvaluator, RolloutResult

__all__ = ["PopulationEvaluator", "RolloutResult"]
