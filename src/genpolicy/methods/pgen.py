"""PGEN — policy-generating evolved networks (riveSunder/pgens), as a LightningModule.

A hypernetwork (Ha, Dai & Le, "HyperNetworks", arXiv:1609.09106, 2016) maps a latent z to the whole
parameter vector of an agent policy; it is evolved purely on fitness: a generator's fitness is the
mean return of the policies it generates over K sampled latents × E episodes. The genome is the
generator's weights (nets/hypernetwork.py); every strategy (CEM as PGEN ran, GA, OpenAI-ES) works
on it, and all generators × latents are evaluated as one batch of policies, sharded under DDP.
"""

from __future__ import annotations

from genpolicy.methods.population import PopulationModule


class PGENModule(PopulationModule):
    def __init__(self, policy, strategy, genome, **kwargs) -> None:
        if genome is None:
            raise ValueError("method pgen needs a genome (the hypernetwork config under method.genome)")
        super().__init__(policy, strategy, genome=genome, **kwargs)
