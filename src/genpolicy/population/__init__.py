"""Search strategies over flat parameter vectors (one protocol: population/protocol.py) and fitness
shaping. No Lightning here.

Adding a strategy: one file here, one config in configs/strategy/ (named as its registry key), one
line in STRATEGIES; tests/test_strategies.py then runs the whole suite on it through the path ``fit``
uses.
"""

from __future__ import annotations

from genpolicy.population.cem import CEM
from genpolicy.population.ga import GeneticAlgorithm
from genpolicy.population.noise import member_seed, pair_noise
from genpolicy.population.openai_es import OpenAIES
from genpolicy.population.optim import ClipUp, OptimizerSettings
from genpolicy.population.pgpe import PGPE
from genpolicy.population.protocol import GradientStrategy, Members, Strategy, TensorMembers, update
from genpolicy.population.sep_cma_es import SepCMAES
from genpolicy.population.shaping import SHAPINGS, centered_ranks, shape_fitness, zscore

STRATEGIES: dict[str, type[Strategy]] = {  # the registry: config name → class
    "openai_es": OpenAIES,
    "pgpe": PGPE,
    "sep_cma_es": SepCMAES,
    "ga": GeneticAlgorithm,
    "cem": CEM,
}

__all__ = [
    "STRATEGIES",
    "Strategy",
    "GradientStrategy",
    "Members",
    "TensorMembers",
    "update",
    "OpenAIES",
    "PGPE",
    "SepCMAES",
    "GeneticAlgorithm",
    "CEM",
    "ClipUp",
    "OptimizerSettings",
    "SHAPINGS",
    "centered_ranks",
    "zscore",
    "shape_fitness",
    "member_seed",
    "pair_noise",
]
