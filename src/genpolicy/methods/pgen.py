"""PGEN — policy-generating evolved networks (riveSunder/pgens), as a LightningModule.

A hypernetwork (Ha, Dai & Le, "HyperNetworks", arXiv:1609.09106, 2016) maps a latent z to the whole
parameter vector of an agent policy; it is evolved purely on fitness: a generator's fitness is the
mean return of the policies it generates over K sampled latents × E episodes. The genome is the
generator's weights (nets/hypernetwork.py); every strategy (CEM as PGEN ran, GA, OpenAI-ES) works
on it, and all generators × latents are evaluated as one batch of policies, sharded under DDP.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from genpolicy.methods.population import PopulationModule

if TYPE_CHECKING:
    from collections.abc import Callable

    from genpolicy.nets.hypernetwork import Hypernetwork
    from genpolicy.policies.population_policy import PopulationPolicy
    from genpolicy.population.protocol import Strategy


class PGENModule(PopulationModule):
    def __init__(
        self,
        policy: PopulationPolicy,
        strategy: Strategy,
        genome: Hypernetwork | Callable[..., Hypernetwork],
        **kwargs: Any,
    ) -> None:
        if genome is None:
            raise ValueError("method pgen needs a genome (the hypernetwork config under method.genome)")
        super().__init__(policy, strategy, genome=genome, **kwargs)
