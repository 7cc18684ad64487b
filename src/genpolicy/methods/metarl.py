"""MetaRL — a learning rule evolved by a genetic algorithm, as a LightningModule.

Source system: ASFaust/MetaRL (GA-evolved message-passing learning rule; no paper). The genome is
the rule (policies/metarl.py, nets/learning_rule.py): 520 numbers for three small recurrent cells.
Its fitness is the return of fresh random actors that the rule trains online during one lifetime
(an episode of the MetaRL pendulums), averaged over ``lifetimes`` actors per rule: it measures how
well the rule *learns*, not a lucky initial actor. Every rule of a generation trains the same
lifetimes — the same initial actors and the same noise, drawn from the generation seed — so rules
are compared on common random numbers. The outer loop is the population engine with ``strategy=ga``
(truncation selection, an elite chosen by re-evaluation, sparse mutation where every child differs).

:meth:`MetaRLModule.lifetime_report` is what ``genpolicy.evaluate`` prints for a MetaRL checkpoint:
the evolved rule's fresh actors against the same actors frozen and against a random rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from genpolicy.methods.population import PopulationModule
from genpolicy.policies.metarl import MetaRLPolicy
from genpolicy.seeding import eval_seeds, seeds, stream

if TYPE_CHECKING:
    from genpolicy.policies.metarl import MetaRLActor
    from genpolicy.population.protocol import Strategy
    from genpolicy.rollout.evaluator import PopulationEvaluator


class MetaRLModule(PopulationModule):
    def __init__(self, policy: MetaRLPolicy, strategy: Strategy, lifetimes: int = 1, **kwargs: Any) -> None:
        if not isinstance(policy, MetaRLPolicy):
            raise ValueError(
                f"method=metarl evolves learning rules: it needs policy=metarl, got {type(policy).__name__}"
            )
        kwargs.pop("episodes_per_member", None)
        super().__init__(policy, strategy, episodes_per_member=lifetimes, **kwargs)

    def env_seeds(self, gen_seed: int, members: int, pair: int = 1, name: str = "env") -> torch.Tensor:
        """Every rule plays the same ``lifetimes`` seeds: the same start states, initial actors and noise."""
        idx = torch.arange(members * self.episodes_per_member)
        return seeds(gen_seed, name, idx % self.episodes_per_member)

    @torch.no_grad()
    def lifetime_report(self, evaluator: PopulationEvaluator, episodes: int, seed: int = 0) -> dict:
        """Train ``episodes`` fresh actors with the evolved rule, and play the same start states and
        initial actors frozen and with a random rule (N(0, genome_std²), seeded by ``seed``)."""
        lifetime = int(evaluator.spec.max_episode_steps)
        quarter = lifetime - lifetime // 4
        rule = self.centre.detach()[None]
        random_rule = torch.randn(1, rule.shape[1], generator=torch.Generator().manual_seed(stream(seed, "noise")))
        random_rule = (random_rule * self.policy.genome_std).to(rule)
        runs = {}
        for name, genome, learn in (("eval", rule, True), ("frozen", rule, False), ("random_rule", random_rule, True)):
            actors = []

            def bind(params: torch.Tensor, learn: bool = learn, actors: list[MetaRLActor] = actors) -> MetaRLActor:
                actors.append(self.policy.bind(params, learn=learn, record=True))
                return actors[-1]

            result = evaluator.evaluate(bind, genome, episodes, eval_seeds(self.seed, seed, episodes), self.device)
            per_step = torch.cat([a.reward_matrix(lifetime, a.copies) for a in actors], 1)  # one per chunk
            runs[name] = (result.returns.flatten(), per_step)
        out = {}
        for name, (returns, per_step) in runs.items():
            out[f"{name}_return_mean"] = float(returns.mean())
            out[f"{name}_last_quarter_return_mean"] = float(per_step[quarter:].sum(0).mean())
        out["eval_return_std"] = float(runs["eval"][0].std(unbiased=False))
        out["reward_per_step"] = {name: per_step.mean(1).tolist() for name, (_, per_step) in runs.items()}
        out["last_quarter_return_mean"] = out.pop("eval_last_quarter_return_mean")
        out["lifetime"] = lifetime
        return out
