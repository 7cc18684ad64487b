"""Population search over a policy's weights as a LightningModule: the genome is the flat
parameter vector of the policy (or of a generator, PGEN), the strategy (population/) comes from config.

One training step is one generation: ask the strategy for P members, evaluate them plus the current
solution (the "centre") in one sharded, batched rollout, and hand the fitness to the one generation
update of the strategy protocol (population/protocol.py): a gradient-based strategy's estimate goes
into ``centre.grad`` and Lightning's optimiser steps it; the others update themselves (after a
requested re-evaluation, e.g. a GA's elite) and ``centre`` mirrors their solution while a no-op
optimiser step keeps Lightning's step counter at one per generation.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import lightning as L
import torch
from torch import nn
from torchmetrics.aggregation import MaxMetric, MeanMetric, MinMetric

from genpolicy._checks import integer
from genpolicy.methods.sharding import evaluate_sharded
from genpolicy.policies.population_policy import PopulationPolicy
from genpolicy.population import STRATEGIES
from genpolicy.population.protocol import Strategy, update
from genpolicy.rollout.evaluator import PopulationEvaluator, RolloutResult, TensorRows
from genpolicy.seeding import eval_seeds, generator, seeds, stream

if TYPE_CHECKING:
    from collections.abc import Callable

    from genpolicy.methods.sharding import Shard
    from genpolicy.nets.hypernetwork import Hypernetwork
    from genpolicy.population.protocol import Members

__all__ = ["PopulationModule", "eval_seeds"]


def strategy_names(kind: str) -> str:
    return ", ".join(name for name, cls in STRATEGIES.items() if cls.kind == kind)


class PopulationModule(L.LightningModule):
    strategy_kinds: tuple[str, ...] = ("gradient", "genetic", "distribution")  # the strategies a method accepts

    def __init__(
        self,
        policy: PopulationPolicy,
        strategy: Strategy,
        episodes_per_member: int = 1,
        eval_every: int = 1,
        eval_episodes: int = 10,
        adaptive_episode_cap: bool = False,
        seed: int = 0,
        genome: Hypernetwork | Callable[..., Hypernetwork] | None = None,
    ) -> None:
        super().__init__()
        if strategy.kind not in self.strategy_kinds:
            raise ValueError(
                f"{type(self).__name__} needs a {' or '.join(self.strategy_kinds)} strategy "
                f"({', '.join(strategy_names(k) for k in self.strategy_kinds)}), got "
                f"{type(strategy).__name__}; method=direct takes any strategy"
            )
        for name, value in (
            ("episodes_per_member", episodes_per_member),
            ("eval_every", eval_every),
            ("eval_episodes", eval_episodes),
        ):
            integer(name, value)
        self.automatic_optimization = False
        self.policy, self.strategy = policy, strategy
        self.episodes_per_member, self.eval_every = int(episodes_per_member), int(eval_every)
        self.eval_episodes, self.adaptive_episode_cap = int(eval_episodes), bool(adaptive_episode_cap)
        self.seed = int(seed)

        self.genome = genome(policy_params=policy.num_params) if callable(genome) else genome  # None: the weights
        initial = self.genome.initial_parameters() if self.genome is not None else policy.initial_parameters()
        self.centre = nn.Parameter(initial)  # θ (D,): the current solution (policy or generator weights)
        strategy.initialize(self.centre)  # a gradient-based strategy keeps it (the optimiser moves it), others copy
        self.register_buffer("generation", torch.zeros((), dtype=torch.long))
        self.register_buffer("env_steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("last_mean_length", torch.zeros((), dtype=torch.float64))
        self.fitness_mean, self.fitness_sq = MeanMetric(), MeanMetric()
        self.fitness_max, self.fitness_min = MaxMetric(), MinMetric()
        self.latest_test: tuple[int, float] | None = None  # (generation, mean test return)

    # ---------------------------------------------------------------- Lightning plumbing
    def configure_optimizers(
        self,
    ) -> torch.optim.Optimizer | tuple[list[torch.optim.Optimizer], list[torch.optim.lr_scheduler.LRScheduler]]:
        optimizer, scheduler = self.strategy.make_optimizer([self.centre])
        return optimizer if scheduler is None else ([optimizer], [scheduler])

    def on_save_checkpoint(self, checkpoint: dict) -> None:  # σ, a GA's parents/elite, a CEM's mean/std …
        checkpoint["strategy_state"] = self.strategy.state_dict()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.strategy.load_state_dict(checkpoint["strategy_state"])

    @property
    def evaluator(self) -> PopulationEvaluator:
        return self.trainer.datamodule.evaluator

    # ---------------------------------------------------------------- seeds
    def env_seeds(self, gen_seed: int, members: int, pair: int = 1, name: str = "env") -> torch.Tensor:
        """One reset seed per (member, latent, episode), member-major; with ``pair=2`` a mirrored
        pair shares its seeds (common random numbers: the pair's fitness difference then measures ε,
        not the start state)."""
        per = self.latents * self.episodes_per_member  # copies per member
        idx = torch.arange(members * per)
        return seeds(gen_seed, name, (idx // per // pair) * per + idx % per)

    @property
    def latents(self) -> int:
        return 1 if self.genome is None else self.genome.latents

    def policies(self, genomes: torch.Tensor | Members, z: torch.Tensor | None = None) -> torch.Tensor | Members:
        """The policies to play for a population of genomes (rows): the genomes themselves, or each
        generator decoded at the latents ``z`` (generator-major)."""
        if self.genome is None:
            return genomes
        from genpolicy.nets.hypernetwork import DecodedRows

        return DecodedRows(genomes if hasattr(genomes, "rows") else TensorRows(genomes), self.genome, z)

    def test_policies(self) -> torch.Tensor:
        """The policies the current solution stands for (Q, D): the centre, or the generator decoded at
        ``genome.test_latents`` fixed latents."""
        centre = self.centre.detach()[None]
        if self.genome is None:
            return centre
        z = self.genome.sample_latents(stream(self.seed, "test_latent"), self.genome.test_latents)
        rows = self.policies(centre, z)
        return rows.rows(torch.arange(len(rows)))

    def test_return(
        self, episodes: int | None = None, seed: int = 0, evaluator: PopulationEvaluator | None = None
    ) -> RolloutResult:
        """Play the unperturbed centre for ``episodes`` test episodes (seeded by ``seed``).

        During training (no ``evaluator`` given) the episodes are shared out over the DDP ranks and
        every rank gets all returns; with an ``evaluator`` the test runs here alone.
        """
        n = episodes or self.eval_episodes
        policies = self.test_policies()  # (Q, D): n test episodes for each
        seeds = eval_seeds(self.seed, seed, len(policies) * n)
        copies = policies.repeat_interleave(n, 0)  # one row per test episode
        if evaluator is not None:
            return evaluator.evaluate(self.policy.bind, copies, 1, seeds, self.device)
        return evaluate_sharded(self, self.evaluator, self.policy.bind, copies, 1, seeds, self.device)[0]

    # ---------------------------------------------------------------- one generation
    def training_step(self, batch: dict, batch_idx: int) -> None:
        started = time.perf_counter()
        gen, gen_seed = int(batch["generation"]), int(batch["seed"])
        P = self.strategy.popsize
        members = self.strategy.ask(gen_seed)
        population = WithSolution(members, self.centre.detach())  # P + 1: the current solution last
        cap = None
        if self.adaptive_episode_cap and self.last_mean_length > 0:
            cap = max(1, int(2 * self.last_mean_length))
        env_seeds = torch.cat(
            [self.env_seeds(gen_seed, P, self.strategy.env_pairs), self.env_seeds(gen_seed, 1, name="centre_env")]
        )
        act_gen = generator(gen_seed, "action", self.device)
        z = None if self.genome is None else self.genome.sample_latents(stream(gen_seed, "latent"), self.latents)
        result, shard = evaluate_sharded(  # this rank's slice, everyone's results
            self,
            self.evaluator,
            lambda params: self.policy.bind(params, act_gen),
            self.policies(population, z),
            self.episodes_per_member,
            env_seeds,
            self.device,
            max_steps=cap,
            obs_stats=self.policy.norm.enabled,
        )
        fit_all = result.returns.view(P + 1, -1).mean(1)  # (P + 1,): mean over latents × episodes
        fitness, centre_fitness = fit_all[:P], fit_all[P]
        k = self.latents
        # this rank's members (a member belongs to the rank holding its first policy), for the metrics
        local_fitness = fit_all[-(-shard.lo // k) : min(-(-shard.hi // k), P)]

        extra = update(
            self.strategy,
            self.centre,
            self.optimizers(),
            self.lr_schedulers(),
            fitness.to(self.device),
            gen_seed,
            lambda candidates, episodes: self._rescore(candidates, episodes, gen_seed, z),
        )
        if result.obs_count:
            self.policy.norm.update(result.obs_sum, result.obs_sumsq, result.obs_count)

        self.generation += 1
        self.env_steps += result.env_steps
        self.last_mean_length.fill_(float(result.lengths[: P * self.latents].double().mean()))
        self._log_generation(gen, fitness, local_fitness, centre_fitness, result, extra, cap, shard)
        if (gen + 1) % self.eval_every == 0:
            test = self.test_return(seed=gen)
            self.env_steps += test.env_steps
            mean = float(test.returns.mean())
            self.latest_test = (gen, mean)
            self.log_dict({"eval/return_mean": mean, "eval/return_std": float(test.returns.std(unbiased=False))})
        if self.latest_test is not None:
            self.log("test", self.latest_test[1], prog_bar=True, logger=False)
        self.log("time/generation_s", time.perf_counter() - started)

    def _rescore(self, candidates: Members, episodes: int, gen_seed: int, z: torch.Tensor | None) -> torch.Tensor:
        """Mean return of each candidate (k,) over ``episodes`` episodes — the same episodes for all —
        sharded; counted in ``env_steps``."""
        k = self.latents
        idx = torch.arange(len(candidates) * k * episodes)
        scores, _ = evaluate_sharded(
            self,
            self.evaluator,
            self.policy.bind,
            self.policies(candidates, z),
            episodes,
            seeds(gen_seed, "elite_env", idx % (k * episodes)),
            self.device,
        )
        self.env_steps += scores.env_steps
        return scores.returns.view(len(candidates), -1).mean(1)

    def _log_generation(
        self,
        gen: int,
        fitness: torch.Tensor,
        local_fitness: torch.Tensor,
        centre_fitness: torch.Tensor,
        result: RolloutResult,
        extra: dict,
        cap: int | None,
        shard: Shard,
    ) -> None:
        finite = torch.isfinite(fitness)
        local = local_fitness[torch.isfinite(local_fitness)]
        # each rank adds its own members; compute() synchronises the metrics across DDP ranks
        for metric, values in (
            (self.fitness_mean, local),
            (self.fitness_sq, local.square()),
            (self.fitness_max, local),
            (self.fitness_min, local),
        ):
            metric.update(values.to(self.device, torch.float32))
        mean, sq = self.fitness_mean.compute(), self.fitness_sq.compute()
        stats = {
            "fitness/mean": mean,
            "fitness/max": self.fitness_max.compute(),
            "fitness/min": self.fitness_min.compute(),
            "fitness/std": (sq - mean.square()).clamp_min(0).sqrt(),
            "fitness/nonfinite": float((~finite).sum()),
            "es/centre_rank": float(1 + (fitness > centre_fitness).sum()),
            "es/centre_fitness": float(centre_fitness),
            **extra,
            "rollout/env_steps": float(self.env_steps),
            "rollout/steps_per_s": result.steps_per_s,
            "rollout/episode_length": float(result.lengths.double().mean()),
            "rollout/episode_length_max": float(result.lengths.max()),
            "rollout/episode_cap": float(cap or 0),  # 0: no cap this generation
            "ddp/gather_s": shard.gather_s,
            "ddp/gather_bytes": float(shard.gather_bytes),
        }
        for metric in (self.fitness_mean, self.fitness_sq, self.fitness_max, self.fitness_min):
            metric.reset()
        self.log_dict(stats)
        self.log_dict(
            {"gen": float(gen), "fit_mean": float(stats["fitness/mean"]), "fit_max": float(stats["fitness/max"])},
            prog_bar=True,
            logger=False,
        )


class WithSolution:
    """A strategy's members plus its current solution as an extra last member (for its rank)."""

    def __init__(self, members: Members, solution: torch.Tensor) -> None:
        self.members, self.solution, self.dim = members, solution, members.dim

    def __len__(self) -> int:
        return len(self.members) + 1

    def rows(self, idx: torch.Tensor) -> torch.Tensor:
        idx = idx.cpu()
        out = self.solution.expand(len(idx), -1).clone()
        inside = idx < len(self.members)
        if inside.any():
            out[inside] = self.members.rows(idx[inside])
        return out
