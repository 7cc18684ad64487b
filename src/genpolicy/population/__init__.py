"""Search strategies (ask/tell over flat parameter vectors) and fitness shaping. No Lightning here."""

from genpolicy.population.noise import member_seed, pair_noise
from genpolicy.population.openai_es import OpenAIES
from genpolicy.population.shaping import SHAPINGS, centered_ranks, shape_fitness, zscore

__all__ = ["OpenAIES", "SHAPINGS", "centered_ranks", "zscore", "shape_fitness", "member_seed", "pair_noise"]
