"""Population search over a policy's weights as a LightningModule: the genome is the flat
parameter vector of the policy, the strategy (OpenAI-ES, GA, CEM — population/) comes from config.

One training step is one generation: ask the strategy for P members, evaluate them plus the current
solution (the "centre") in one sharded, batched rollout, and update:
- OpenAI-ES (gradient-based): the negated ES ascent estimate goes into ``centre.grad`` and Lightning's
  optimiser steps it; learning-rate and σ decay happen once per generation.
- ask/tell strategies (GA, CEM): the strategy updates itself; a GA's elite candidates are
  re-evaluated over extra episodes first. A no-op optimiser step keeps Lightning's step counter at
  one per generation, and ``centre`` mirrors the strategy's current solution.
"""

from __future__ import annotations

import time

import lightning as L
import torch
from torch import nn
from torchmetrics.aggregation import MaxMetric, MeanMetric, MinMetric

from genpolicy._checks import choice, decay, integer, positive
from genpolicy.methods.sharding import evaluate_sharded
from genpolicy.policies.population_policy import PopulationPolicy
from genpolicy.population.noise import member_seed, member_seeds
from genpolicy.population.ga import GeneticAlgorithm
from genpolicy.population.openai_es import OpenAIES
from genpolicy.rollout.evaluator import PopulationEvaluator, RolloutResult, TensorRows

_ENV_STREAM, _EVAL_STREAM, _ACTION_STREAM, _CENTRE_STREAM, _ELITE_STREAM, _LATENT_STREAM = 1, 2, 3, 4, 5, 6  # seed streams


def eval_seeds(run_seed: int, seed: int, n: int) -> torch.Tensor:
    """Reset seeds of ``n`` test episodes: a pure function of (run seed, test seed), shared by every method."""
    return member_seeds(member_seed(member_seed(run_seed, seed), _EVAL_STREAM), torch.arange(n))


class PopulationModule(L.LightningModule):
    def __init__(
        self,
        policy: PopulationPolicy,
        strategy,
        optimizer: str = "adam",
        lr: float = 0.01,
        lr_decay: float = 1.0,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        episodes_per_member: int = 1,
        eval_every: int = 1,
        eval_episodes: int = 10,
        adaptive_episode_cap: bool = False,
        seed: int = 0,
        genome=None,
    ) -> None:
        super().__init__()
        choice("optimizer", optimizer, ("adam", "sgd"))
        positive("lr", lr)
        decay("lr_decay", lr_decay)
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be ≥ 0, got {weight_decay!r}")
        for name, value in (("episodes_per_member", episodes_per_member), ("eval_every", eval_every),
                            ("eval_episodes", eval_episodes)):
            integer(name, value)
        self.automatic_optimization = False
        self.policy, self.strategy = policy, strategy
        self.optimizer_name, self.lr, self.lr_decay = optimizer, float(lr), float(lr_decay)
        self.momentum, self.weight_decay = float(momentum), float(weight_decay)
        self.episodes_per_member, self.eval_every = int(episodes_per_member), int(eval_every)
        self.eval_episodes, self.adaptive_episode_cap = int(eval_episodes), bool(adaptive_episode_cap)
        self.seed = int(seed)

        self.genome = genome(policy_params=policy.num_params) if callable(genome) else genome  # None: the weights
        initial = self.genome.initial_parameters() if self.genome is not None else policy.initial_parameters()
        self.centre = nn.Parameter(initial)  # θ (D,): ES centre / current solution (policy or generator weights)
        self.gradient_based = isinstance(strategy, OpenAIES)
        if not self.gradient_based:
            strategy.initialize(self.centre.detach())
        self.register_buffer("generation", torch.zeros((), dtype=torch.long))
        self.register_buffer("env_steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("last_mean_length", torch.zeros((), dtype=torch.float64))
        self.fitness_mean, self.fitness_sq = MeanMetric(), MeanMetric()
        self.fitness_max, self.fitness_min = MaxMetric(), MinMetric()
        self.latest_test: tuple[int, float] | None = None  # (generation, mean test return)

    # ---------------------------------------------------------------- Lightning plumbing
    def configure_optimizers(self):
        if not self.gradient_based:  # a no-op step per generation advances Lightning's step counter
            return torch.optim.SGD([self.centre], lr=0.0)
        if self.optimizer_name == "adam":
            opt = torch.optim.Adam([self.centre], lr=self.lr, weight_decay=self.weight_decay)
        else:
            opt = torch.optim.SGD([self.centre], lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
        return [opt], [torch.optim.lr_scheduler.ExponentialLR(opt, gamma=self.lr_decay)]

    def on_save_checkpoint(self, checkpoint: dict) -> None:  # σ, or a GA's parents/elite, a CEM's mean/std
        checkpoint["strategy_state"] = self.strategy.state_dict()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.strategy.load_state_dict(checkpoint["strategy_state"])

    @property
    def evaluator(self) -> PopulationEvaluator:
        return self.trainer.datamodule.evaluator

    # ---------------------------------------------------------------- seeds
    def env_seeds(self, gen_seed: int, members: int, pair: int = 1) -> torch.Tensor:
        """One reset seed per (member, latent, episode), member-major; with ``pair=2`` a mirrored
        pair shares its seeds (common random numbers: the pair's fitness difference then measures ε,
        not the start state)."""
        per = self.latents * self.episodes_per_member  # copies per member
        idx = torch.arange(members * per)
        return member_seeds(member_seed(gen_seed, _ENV_STREAM), (idx // per // pair) * per + idx % per)

    @property
    def latents(self) -> int:
        return 1 if self.genome is None else self.genome.latents

    def policies(self, genomes, z: torch.Tensor | None = None):
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
        z = self.genome.sample_latents(member_seed(self.seed, _LATENT_STREAM), self.genome.test_latents)
        rows = self.policies(centre, z)
        return rows.rows(torch.arange(len(rows)))

    def test_return(self, episodes: int | None = None, seed: int = 0, evaluator=None) -> RolloutResult:
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
        P, D = self.strategy.popsize, self.centre.numel()
        members = self.strategy.population(self.centre, gen_seed) if self.gradient_based else self.strategy.ask(gen_seed)
        population = WithSolution(members, self.centre.detach())  # P + 1: the current solution last
        cap = None
        if self.adaptive_episode_cap and self.last_mean_length > 0:
            cap = max(1, int(2 * self.last_mean_length))
        seeds = torch.cat([self.env_seeds(gen_seed, P, 2 if getattr(self.strategy, "mirrored", False) else 1),
                           self.env_seeds(member_seed(gen_seed, _CENTRE_STREAM), 1)])
        act_gen = torch.Generator(device=self.device).manual_seed(member_seed(gen_seed, _ACTION_STREAM))
        z = None if self.genome is None else self.genome.sample_latents(member_seed(gen_seed, _LATENT_STREAM),
                                                                          self.latents)
        result, shard = evaluate_sharded(  # this rank's slice, everyone's results
            self, self.evaluator, lambda params: self.policy.bind(params, act_gen), self.policies(population, z),
            self.episodes_per_member, seeds, self.device, max_steps=cap, obs_stats=self.policy.norm.enabled,
        )
        fit_all = result.returns.view(P + 1, -1).mean(1)  # (P + 1,): mean over latents × episodes
        fitness, centre_fitness = fit_all[:P], fit_all[P]
        k = self.latents
        # this rank's members (a member belongs to the rank holding its first policy), for the metrics
        local_fitness = fit_all[-(-shard.lo // k) : min(-(-shard.hi // k), P)]

        extra = self._update(self.optimizers(), fitness, gen_seed, D, z)
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

    def _update(self, opt, fitness: torch.Tensor, gen_seed: int, D: int, z) -> dict:
        """Apply the strategy's update; returns strategy-specific metrics."""
        opt.zero_grad()
        if self.gradient_based:
            sigma, lr = self.strategy.sigma, opt.param_groups[0]["lr"]  # the values this generation used
            self.centre.grad = -self.strategy.gradient(fitness.to(self.device), gen_seed, D, self.device,
                                                       self.centre.dtype)
            opt.step()
            self.lr_schedulers().step()
            self.strategy.step()
            return {"es/sigma": sigma, "es/lr": lr, "es/grad_norm": float(self.centre.grad.norm())}
        candidates = self.strategy.tell(fitness, gen_seed)
        extra = {}
        if isinstance(self.strategy, GeneticAlgorithm):  # re-evaluate the elite candidates, sharded
            E, k = self.strategy.elite_episodes, self.latents
            idx = torch.arange(len(candidates) * k * E)
            seeds = member_seeds(member_seed(gen_seed, _ELITE_STREAM), idx % (k * E))  # same episodes for all
            scores, _ = evaluate_sharded(self, self.evaluator, self.policy.bind, self.policies(candidates, z), E,
                                         seeds, self.device)
            candidate_scores = scores.returns.view(len(candidates), -1).mean(1)
            best = self.strategy.tell_elite(candidate_scores)
            self.env_steps += scores.env_steps
            extra = {"ga/elite_return": float(candidate_scores[best]), "ga/elite_changed": float(best != 0)}
        else:
            extra = {"cem/std_mean": float(self.strategy.std.mean())}
        with torch.no_grad():
            self.centre.copy_(self.strategy.solution())
        opt.step()  # no-op (lr 0, no grad): advances the step counter
        return extra

    def _log_generation(self, gen: int, fitness, local_fitness, centre_fitness, result, extra: dict, cap,
                        shard) -> None:
        finite = torch.isfinite(fitness)
        local = local_fitness[torch.isfinite(local_fitness)]
        # each rank adds its own members; compute() synchronises the metrics across DDP ranks
        for metric, values in ((self.fitness_mean, local), (self.fitness_sq, local.square()),
                               (self.fitness_max, local), (self.fitness_min, local)):
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
        self.log_dict({"gen": float(gen), "fit_mean": float(stats["fitness/mean"]),
                       "fit_max": float(stats["fitness/max"])}, prog_bar=True, logger=False)


class WithSolution:
    """A strategy's members plus its current solution as an extra last member (for its rank)."""

    def __init__(self, members, solution: torch.Tensor) -> None:
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
