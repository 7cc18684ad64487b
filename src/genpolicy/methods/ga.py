"""Genetic algorithm on policy weights as a LightningModule.

Paper: Such, Madhavan, Conti, Lehman, Stanley & Clune, "Deep Neuroevolution: Genetic Algorithms Are a
Competitive Alternative for Training Deep Neural Networks for Reinforcement Learning",
arXiv:1712.06567 (2017). Truncation selection, an elite carried over unmutated and chosen by
re-evaluation over extra episodes, Gaussian mutation (optionally per element, the MetaRL variant);
the population engine (methods/population.py with ``strategy=ga``) does the work.
"""

from __future__ import annotations

from genpolicy.methods.population import PopulationModule


class GAModule(PopulationModule):
    strategy_kinds = ("genetic",)
