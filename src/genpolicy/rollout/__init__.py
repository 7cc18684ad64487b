"""The one episode loop: evaluate a population of parameter vectors on vectorised environments."""

from genpolicy.rollout.evaluator import PopulationEvaluator, RolloutResult

__all__ = ["PopulationEvaluator", "RolloutResult"]
