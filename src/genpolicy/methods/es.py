"""OpenAI evolution strategies as a LightningModule.

Paper: Salimans, Ho, Chen, Sidor & Sutskever, "Evolution Strategies as a Scalable Alternative to
Reinforcement Learning", arXiv:1703.03864 (2017). Reference implementations folded in:
atgambardella/pytorch-es (mirrored pairs, rank shaping, the centre-rank diagnostic, adaptive
episode cap) and staturecrane/PyTorch-ES (reward-goal stopping, the bring-your-own-model API).

The population engine does the work (methods/population.py): each generation the negated ascent
estimate of a gradient-based strategy (``strategy=openai_es``, or PGPE) goes into ``centre.grad`` and
the strategy's optimiser (Adam, SGD or ClipUp; L2 weight decay) steps it; lr and σ decay once per
generation. ``method=direct`` takes any strategy; this method refuses the non-gradient ones.
"""

from __future__ import annotations

from genpolicy.methods.population import PopulationModule


class ESModule(PopulationModule):
    strategy_kinds = ("gradient",)
