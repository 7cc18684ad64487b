"""Genetic algorithm on policy weights as a LightningModule.

Paper: Such, Madhavan, Conti, Lehman, Stanley & Clune, "Deep Neuroevolution: Genetic Algorithms Are a
Competitive Alternative for Training Deep Neural Networks for Reinforcement Learning",
arXiv:1712.06567 (2017). Truncation selection, an elite carried over unmutated and chosen by
re-evaluation over extra episodes, Gaussian mutation (optionally per element, the MetaRL variant);
the population engine (methods/population.py with population/ga.py) does the work.
"""

from __future__ import annotations

from genpolicy.methods.population import PopulationModule
from genpolicy.population.ga import GeneticAlgorithm


class GAModule(PopulationModule):
    def __init__(self, policy, strategy: GeneticAlgorithm, **kwargs) -> None:
        if not isinstance(strategy, GeneticAlgorithm):
            raise ValueError(f"method ga needs strategy=ga, got {type(strategy).__name__}")
        super().__init__(policy, strategy, **kwargs)
