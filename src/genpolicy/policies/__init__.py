"""Policies: plain nn.Modules with a batched forward over a population of flat parameter vectors."""

from __future__ import annotations

from genpolicy.policies.convlstm import ConvLSTM, ConvLSTMPolicy
from genpolicy.policies.heads import BoxHead, DiscreteHead, make_head
from genpolicy.policies.metarl import MetaRLPolicy
from genpolicy.policies.mlp import MLP
from genpolicy.policies.module import ModulePolicy
from genpolicy.policies.normalizer import RunningNorm
from genpolicy.policies.population_policy import PopulationPolicy

__all__ = [
    "MLP",
    "BoxHead",
    "DiscreteHead",
    "make_head",
    "RunningNorm",
    "PopulationPolicy",
    "ModulePolicy",
    "ConvLSTM",
    "ConvLSTMPolicy",
    "MetaRLPolicy",
]
