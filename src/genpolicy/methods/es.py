"""OpenAI evolution strategies as a LightningModule.

Paper: Salimans, Ho, Chen, Sidor & Sutskever, "Evolution Strategies as a Scalable Alternative to
Reinforcement Learning", arXiv:1703.03864 (2017). Reference implementations folded in:
atgambardella/pytorch-es (mirrored pairs, rank shaping, the centre-rank diagnostic, adaptive
episode cap) and staturecrane/PyTorch-ES (reward-goal stopping, the bring-your-own-model API).

The population engine does the work (methods/population.py with the OpenAIES strategy): each
generation the negated ES ascent estimate goes into ``centre.grad`` and the configured optimiser
(Adam or SGD, L2 weight decay) steps it; lr and σ decay once per generation.
"""

from __future__ import annotations

from genpolicy.methods.population import PopulationModule
from genpolicy.population.openai_es import OpenAIES


class ESModule(PopulationModule):
    def __init__(self, policy, strategy: OpenAIES, **kwargs) -> None:
        if not isinstance(strategy, OpenAIES):
            raise ValueError(f"method es needs strategy=openai_es, got {type(strategy).__name__}; "
                             "use method=direct for other strategies")
        super().__init__(policy, strategy, **kwargs)
