"""Search strategies (ask/tell over flat parameter vectors) and fitness shaping. No Lightning here."""

from genpolicy.population.noise import member_seed, pair_noise
from genpolicy.population.cem import CEM
from genpolicy.population.ga import GeneticAlgorithm
from genpolicy.population.openai_es import ESSearch, OpenAIES
from genpolicy.population.shaping import SHAPINGS, centered_ranks, shape_fitness, zscore

__all__ = ["OpenAIES", "ESSearch", "GeneticAlgorithm", "CEM", "SHAPINGS", "centered_ranks", "zscore", "shape_fitness", "member_seed", "pair_noise"]
