"""DDPG and TD3 as one LightningModule with manual optimisation.

TD3: Fujimoto, van Hoof & Meger, "Addressing Function Approximation Error in Actor-Critic Methods",
arXiv:1802.09477 (2018) — twin critics (the target takes their minimum), target-policy smoothing
(clipped Gaussian noise on the target action) and delayed actor/target updates. DDPG: Lillicrap et
al., "Continuous control with deep reinforcement learning", arXiv:1509.02971 (2015) — the same module
with the three switches off (one critic, no smoothing, delay 1), as in Stable-Baselines3.

The actor is the policy's MLP (policies/, ReLU hidden layers, tanh squashed into the action box);
test returns are played by the population engine with the actor's flat weights, exactly as an ES
centre is tested. Bootstrapping: y = r + γ·(1 − terminated)·min_i Q'_i(s', ã'); a time-limit
truncation is never an end. Training is counted in rounds of ``round_steps`` env steps (the
"generation" counter the shared callbacks read); the run stops after ``rounds`` rounds.
"""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING, Any

import lightning as L
import torch

from genpolicy._checks import choice, integer, nonnegative, positive
from genpolicy._compile import can_compile, compiled, prepare
from genpolicy.methods.offpolicy import adam_kwargs, check_precision, log_round, next_item, step_and_mark
from genpolicy.methods.population import eval_seeds
from genpolicy.methods.rngs import SeededRNGs
from genpolicy.methods.td3_autograd import autograd_update
from genpolicy.methods.td3_math import (
    accumulate_,
    actor_grads,
    critic_grads,
    roles,
    whole_update,
)
from genpolicy.nets import adam, fused
from genpolicy.nets.critic import Critics
from genpolicy.policies.population_policy import PopulationPolicy
from genpolicy.rollout.evaluator import RolloutResult

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from lightning.pytorch.core.optimizer import LightningOptimizer

    from genpolicy.policies.mlp import MLP
    from genpolicy.rollout.evaluator import PopulationEvaluator

UPDATES = ("auto", "autograd", "fused", "compiled")


class TD3Module(SeededRNGs, L.LightningModule):
    action_kinds = ("box",)
    uses_strategy = False
    explores_with_actor = True  # the collector acts with the actor (+ noise): a compiled update prepares its actions
    rng_streams = ("target_noise",)
    process_settings = ("flush_denormal", "keep_freed_memory")  # set by fit for the run (genpolicy._process)

    def __init__(
        self,
        policy: PopulationPolicy,
        critic_hidden: Sequence[int] = (400, 300),
        critic_activation: str = "relu",
        twin_critics: bool = True,
        target_noise: float = 0.2,
        target_noise_clip: float = 0.5,
        policy_delay: int = 2,
        gamma: float = 0.99,
        tau: float = 0.005,
        actor_lr: float = 1e-3,
        critic_lr: float = 1e-3,
        rounds: int = 100,
        round_steps: int = 1000,
        eval_every: int = 1,
        eval_episodes: int = 10,
        items_per_step: int = 16,
        update: str = "auto",
        seed: int = 0,
    ) -> None:
        super().__init__()
        if policy.head.kind != "box":
            raise ValueError("DDPG/TD3 need a continuous (Box) action space")
        if policy.norm.enabled:
            raise ValueError("DDPG/TD3 actors take raw observations: set policy.obs_norm=false")
        if not 0 <= gamma <= 1 or not 0 < tau <= 1:
            raise ValueError(f"gamma must be in [0, 1] and tau in (0, 1]; got gamma={gamma!r}, tau={tau!r}")
        nonnegative("target_noise", target_noise)
        nonnegative("target_noise_clip", target_noise_clip)
        self.automatic_optimization = False
        self.policy = policy
        self.actor = policy.net.requires_grad_(True)  # the policy's MLP is the actor
        self.critic = Critics(
            policy.net.sizes[0], policy.head.out_dim, critic_hidden, critic_activation, 2 if twin_critics else 1
        )
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.target_noise, self.target_noise_clip = float(target_noise), float(target_noise_clip)
        self.policy_delay = integer("policy_delay", policy_delay)
        self.gamma, self.tau = float(gamma), float(tau)
        self.actor_lr, self.critic_lr = positive("actor_lr", actor_lr), positive("critic_lr", critic_lr)
        self.rounds, self.round_steps = integer("rounds", rounds), integer("round_steps", round_steps)
        self.eval_every, self.eval_episodes = integer("eval_every", eval_every), integer("eval_episodes", eval_episodes)
        self.items_per_step = integer("items_per_step", items_per_step)
        # autograd: the textbook update (td3_autograd.py); fused: hand-written passes (td3_math.py);
        # compiled: the fused update as one torch.compile graph; auto: compiled where torch.compile can
        # build kernels for the training device, else fused (scripts/bench_td3_update.py)
        self.requested_update = choice("method.update", update, UPDATES)
        self.update = self._resolve_update(torch.device("cpu"))
        self.seed = int(seed)
        self.register_buffer("generation", torch.zeros((), dtype=torch.long))  # completed rounds
        self.register_buffer("env_steps", torch.zeros((), dtype=torch.long))  # training env steps
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))  # critic updates
        self.register_buffer("elapsed", torch.zeros((), dtype=torch.float64))  # training wall time (s), tests included
        self.register_buffer("low", policy.head.low.clone())
        self.register_buffer("high", policy.head.high.clone())
        self.latest_test: tuple[int, float] | None = None
        self._round = self._fresh_round()

    # ---------------------------------------------------------------- acting
    def act(self, obs: torch.Tensor, net: torch.nn.Module | None = None) -> torch.Tensor:
        """Deterministic actions (B, action_dim) in the box."""
        return self.policy.head((net or self.actor)(obs))

    @torch.no_grad()
    def explore(self, obs: torch.Tensor) -> torch.Tensor:
        """The collector's policy (it adds the exploration noise); float32 (a few rows: casting the
        weights for bf16 would cost more than the product)."""
        ready = self.__dict__.pop("_prepared_action", None)  # (observations, actions) from the last update
        if ready is not None and ready[0].shape == obs.shape and torch.equal(ready[0], obs.to(ready[0].device)):
            return ready[1]
        with torch.autocast(self.device.type, enabled=False):
            return self.act(obs.to(self.device))

    def test_policies(self) -> torch.Tensor:
        return torch.nn.utils.parameters_to_vector(self.actor.parameters()).detach()[None]  # (1, D)

    def test_return(
        self, episodes: int | None = None, seed: int = 0, evaluator: PopulationEvaluator | None = None
    ) -> RolloutResult:
        n = episodes or self.eval_episodes
        evaluator = evaluator or self.trainer.datamodule.evaluator
        # One member playing n episodes: the n copies share one weight read per step (n members would not).
        # In float32, as the collector acts: casting the weights for bf16 on every step of a few copies
        # costs more than the products (a 10-episode Pendulum test: 100 → 60 ms).
        with torch.autocast(self.device.type, enabled=False):
            return evaluator.evaluate(
                self.policy.bind, self.test_policies(), n, eval_seeds(self.seed, seed, n), self.device
            )

    # ---------------------------------------------------------------- Lightning plumbing
    def configure_optimizers(self) -> list[torch.optim.Adam]:
        return [
            torch.optim.Adam(self.actor.parameters(), lr=self.actor_lr, **adam_kwargs(self.device)),
            torch.optim.Adam(self.critic.parameters(), lr=self.critic_lr, **adam_kwargs(self.device)),
        ]

    # ---------------------------------------------------------------- one item: collected steps + k updates
    def training_step(self, dataloader_iter: Iterator[tuple[dict, int, int]]) -> None:
        # Items are pulled here, not prefetched by Lightning: each is collected with the actor as it is
        # now, and no collected step is ever left uncounted when a run stops or is checkpointed. One
        # Lightning step takes up to ``items_per_step`` items (its own overhead would otherwise rival a
        # small update) and always ends at a round's end, where callbacks test and checkpoint.
        model = self.trainer.strategy.model
        if isinstance(model, torch.nn.parallel.DistributedDataParallel):
            # Hand-written gradients never pass DDP's autograd hooks: DDP stays a pass-through (set on
            # every step — the flag was found re-armed after a round's end) and _all_reduce_grads
            # averages every gradient over the ranks instead.
            model.require_backward_grad_sync = False
        opts = self.optimizers()
        self._forget_plan()  # callbacks ran since the last step
        for _ in range(self.items_per_step):
            if self._train_item(next_item(self, dataloader_iter), opts):
                break

    def _train_item(self, item: dict, opts: Sequence[torch.optim.Optimizer | LightningOptimizer]) -> bool:
        """The item's k updates and counters; True when it ended a round."""
        batch = item["batch"]
        self.__dict__["_acting_obs"] = item["acting_obs"] if self.explores_with_actor else None
        for j in range(int(item["updates"])):
            self._update({k: v[j] for k, v in batch.items()}, *opts)
        self.__dict__["_acting_obs"] = None
        self.env_steps.add_(int(item["env_steps"]))  # in place: no Module.__setattr__ per item
        r = self._round
        r["returns"].extend(item["episode_returns"].tolist())
        r["lengths"].extend(item["episode_lengths"].tolist())
        r["steps"] += int(item["env_steps"])
        if int(self.env_steps) // self.round_steps <= int(self.generation):
            return False
        self.generation.fill_(int(self.env_steps) // self.round_steps)
        self._end_round()
        if int(self.generation) >= self.rounds:
            self.trainer.should_stop = True
        return True

    def _update(
        self,
        b: dict,
        actor_opt: torch.optim.Optimizer | LightningOptimizer,
        critic_opt: torch.optim.Optimizer | LightningOptimizer,
    ) -> None:
        """One critic update and, every ``policy_delay``-th, one actor update and target Polyak step.
        ``update=autograd``: :func:`autograd_update`, the textbook version. ``fused``: the hand-written
        passes of nets/fused.py — bfloat16 hidden layers under bf16-mixed precision, float32 otherwise
        (no autograd, no autocast inside). ``compiled``: in one process and with plain Adam optimizers,
        the whole fused update — passes, Adam steps, Polyak — is one compiled graph."""
        if self.update == "autograd":
            self._forget_plan()
            actor_too = self.policy_delay == 1 or (int(self.updates) + 1) % self.policy_delay == 0
            eps = self._target_eps(b["action"])
            losses = autograd_update(self, b, actor_opt, critic_opt, eps, actor_too, self._all_reduce_grads)
            # torch's fused Adam writes without bumping version counters, which the fused path's copies read
            torch.autograd.graph.increment_version([*self.actor.parameters(), *self.critic.parameters()])
            accumulate_(self._round["sums"], *losses)
            self._count(actor_too)
            return
        dtype = (
            torch.get_autocast_dtype(self.device.type) if torch.is_autocast_enabled(self.device.type) else torch.float32
        )
        shadows = self._shadows(dtype)
        with torch.autocast(self.device.type, enabled=False), torch.no_grad():
            eps = self._target_eps(b["action"])
            actor_too = self.policy_delay == 1 or (int(self.updates) + 1) % self.policy_delay == 0
            plan = self._plan(shadows, actor_opt, critic_opt) if self.update == "compiled" else None
            if plan is not None:
                acting_obs = self.__dict__.get("_acting_obs")
                action = compiled(whole_update)(
                    self.policy.head, *plan, b, self.gamma, self.tau, eps, actor_too, self._round["sums"], acting_obs
                )
                if action is not None:
                    self.__dict__["_prepared_action"] = (acting_obs, action)
                self._count(actor_too)
                return
            self._forget_plan()  # the steps below write parameters without their copies
            nets = roles(shadows["actors"].refresh(), shadows["critics"].refresh())
            grads, critic_loss, q_mean, actor_pass = self._math(critic_grads)(
                self.policy.head, nets, b, self.gamma, eps, actor_too
            )
            self._descend(self.critic, self.critic.nets, grads, critic_opt)
            actor_loss = None
            if actor_too:
                grads, actor_loss = self._math(actor_grads)(
                    self.policy.head, nets["actor"], shadows["critics"].refresh().first(), b["obs"], actor_pass
                )
                self._descend(self.actor, [self.actor], grads, actor_opt)
                for net, target in ((self.actor, self.actor_target), (self.critic, self.critic_target)):
                    torch._foreach_lerp_(list(target.parameters()), list(net.parameters()), self.tau)
            accumulate_(self._round["sums"], critic_loss, q_mean, actor_loss)
            self._count(actor_too)

    def _target_eps(self, action: torch.Tensor) -> torch.Tensor | None:
        """Target-policy smoothing noise, in half-range units like the exploration noise (None when off)."""
        if self.target_noise == 0:
            return None
        eps = torch.randn(action.shape, generator=self.rng("target_noise"), device=self.device)
        return (eps * self.target_noise).clamp(-self.target_noise_clip, self.target_noise_clip) * (
            (self.high - self.low) / 2
        )

    def _descend(
        self,
        net: torch.nn.Module,
        mlps: Sequence[MLP],
        grads: fused.LayerGrads,
        opt: torch.optim.Optimizer | LightningOptimizer,
    ) -> None:
        """Store ``grads`` as ``net``'s ``.grad``, average them over DDP ranks, take the optimizer's step."""
        fused.write_grads(mlps, grads)
        self._all_reduce_grads(net)
        step_and_mark(opt, net)

    def _plan(
        self,
        shadows: dict[str, fused.Shadow],
        actor_opt: torch.optim.Optimizer | LightningOptimizer,
        critic_opt: torch.optim.Optimizer | LightningOptimizer,
    ) -> tuple[dict, dict] | None:
        """:func:`whole_update`'s networks and parameter groups, or None where it does not apply: under DDP
        (the gradients are averaged between the passes and the steps) or with an optimizer other than a
        plain Adam (the eager path then takes that optimizer's own step). Made once per Lightning step (or
        after an eager update): the copies are re-read only if a parameter changed since, and between
        plans only the compiled updates, which keep them current, write the parameters."""
        plan = self.__dict__.get("_plan_cache")
        if plan is not None and plan[0] is shadows:
            return plan[1]
        if self._trainer is not None and self.trainer.world_size > 1:
            return None
        opts = {
            "actor": getattr(actor_opt, "optimizer", actor_opt),
            "critic": getattr(critic_opt, "optimizer", critic_opt),
        }
        hypers = {k: adam.hyper(opt) for k, opt in opts.items()}
        if None in hypers.values():
            return None
        groups = {k: {"params": fused.parameters(mlps)} for k, mlps in self._mlps().items()}
        for k, opt in opts.items():
            groups[k] |= {"state": adam.state(opt, groups[k]["params"]), "hyper": hypers[k]}
            if groups[k]["state"] is None:
                return None
        nets = roles(shadows["actors"].refresh(), shadows["critics"].refresh())
        self.__dict__["_plan_cache"] = (shadows, (nets, groups))
        return nets, groups

    def _forget_plan(self) -> None:
        """Drop the compiled update's plan and prepared actions: something else may write the parameters."""
        for key in ("_plan_cache", "_prepared_action"):
            self.__dict__.pop(key, None)

    def _count(self, actor_too: bool) -> None:
        self.updates.add_(1)  # in place: no Module.__setattr__ on every update
        self._round["n_critic"] += 1
        self._round["n_actor"] += int(actor_too)

    def _mlps(self) -> dict[str, list]:
        return {
            "actor": [self.actor],
            "actor_target": [self.actor_target],
            "critic": list(self.critic.nets),
            "critic_target": list(self.critic_target.nets),
        }

    def _shadows(self, dtype: torch.dtype) -> dict[str, fused.Shadow]:
        """The batched compute-dtype copies of [actor, actor_target] and [critics…, critic targets…] (made
        once per dtype and device; :func:`roles` names their parts)."""
        key = (dtype, self.device)
        cache = self.__dict__.setdefault("_shadow_cache", {})
        if key not in cache:
            cache.clear()
            mlps = self._mlps()
            cache[key] = {
                "actors": fused.Shadow(mlps["actor"] + mlps["actor_target"], dtype),
                "critics": fused.Shadow(mlps["critic"] + mlps["critic_target"], dtype),
            }
        return cache[key]

    def _math(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn``, or its ``torch.compile`` version with ``update=compiled``."""
        return compiled(fn) if self.update == "compiled" else fn

    def _all_reduce_grads(self, net: torch.nn.Module) -> None:
        """Average ``net``'s gradients over DDP ranks (DDP's own hooks are off, see training_step)."""
        if self._trainer is None or self.trainer.world_size == 1:
            return
        grads = [p.grad for p in net.parameters()]
        flat = self.trainer.strategy.reduce(torch.cat([g.reshape(-1) for g in grads]), reduce_op="mean")
        torch._foreach_copy_(
            grads, [c.view_as(g) for c, g in zip(flat.split([g.numel() for g in grads]), grads, strict=True)]
        )

    def round_stats(self, r: dict, testing: bool) -> dict:
        """Extra per-round metrics of subclasses."""
        return {}

    def check_trainer(self, trainer: L.Trainer) -> None:
        """Refuse a Trainer the fused update cannot serve (fit calls this before training)."""
        check_precision(trainer.precision_plugin)

    def _resolve_update(self, device: torch.device) -> str:
        if self.requested_update != "auto":
            return self.requested_update
        return "compiled" if can_compile(device) else "fused"

    def on_train_start(self) -> None:
        self._round = self._fresh_round()  # the loss sums live on the training device
        self.update = self._resolve_update(self.device)
        if self.update == "compiled":
            prepare()  # inductor's CPU checks run during the warm-up steps

    def _fresh_round(self) -> dict:
        return {
            "returns": [],
            "lengths": [],
            "steps": 0,
            "n_critic": 0,
            "n_actor": 0,
            "started": time.perf_counter(),
            "sums": torch.zeros(3, device=self.device),
        }  # critic loss, mean Q_1, actor loss

    def _end_round(self) -> None:
        r, gen = self._round, int(self.generation)
        wall = time.perf_counter() - r["started"]
        stats = {
            "rollout/env_steps": float(self.env_steps),
            "rollout/steps_per_s": r["steps"] / max(wall, 1e-9),
            "time/round_s": wall,
            "ddpg/updates": float(self.updates),
        }
        if r["returns"]:
            stats |= {
                "rollout/episode_return": sum(r["returns"]) / len(r["returns"]),
                "rollout/episode_length": sum(r["lengths"]) / len(r["lengths"]),
            }
        critic_loss, q, actor_loss = r["sums"].tolist()
        if r["n_critic"]:
            stats |= {"ddpg/critic_loss": critic_loss / r["n_critic"], "ddpg/q_mean": q / r["n_critic"]}
        if r["n_actor"]:
            stats["ddpg/actor_loss"] = actor_loss / r["n_actor"]
        testing = gen % self.eval_every == 0 or gen >= self.rounds
        stats |= self.round_stats(r, testing)
        if testing:
            test = self.test_return(seed=gen)
            mean = float(test.returns.mean())
            self.latest_test = (gen - 1, mean)
            stats |= {"eval/return_mean": mean, "eval/return_std": float(test.returns.std(unbiased=False))}
        self.elapsed += time.perf_counter() - r["started"]  # summed over resumed runs, downtime excluded
        stats["time/elapsed_s"] = float(self.elapsed)
        log_round(self, stats)
        self.log("gen", float(gen), prog_bar=True, logger=False, batch_size=1)
        if self.latest_test is not None:
            self.log("test", self.latest_test[1], prog_bar=True, logger=False, batch_size=1)
        self._round = self._fresh_round()
