"""GPV — generating policy variations (the GPV reference: DDPG, then a VAE over its actions).

A conditional VAE over actions (nets/cvae.py; encoder q(z | s, a), decoder p(a | s, z), the design of
BCQ, Fujimoto et al. arXiv:1812.02900) learns the trained actor's state → action map; each latent z
held for a whole episode is a *variation* of that policy. β (the KL weight) is the knob: small β
reproduces the actor, large β buys variation at the price of return.

- ``GPVModule`` (post-training): loads a DDPG/TD3 checkpoint (``actor_ckpt``), records
  (state, actor(state)) over N episodes of the actor (data/demonstrations.py) and trains the cVAE.
- ``STGPVModule`` (simultaneous): TD3/DDPG whose cVAE trains on replay states against the current
  actor while the actor trains; the cVAE's samples (a fresh z per step) are the exploration policy.
Variations are played by the population engine: a population of latents, one z per copy.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import lightning as L
import torch

from genpolicy import _checks as check
from genpolicy._checks import integer, positive
from genpolicy.methods.offpolicy import log_round, next_item
from genpolicy.methods.population import eval_seeds
from genpolicy.methods.rngs import SeededRNGs
from genpolicy.methods.td3 import TD3Module
from genpolicy.nets.cvae import ActionVAE
from genpolicy.policies.population_policy import PopulationPolicy
from genpolicy.population.noise import member_seed
from genpolicy.rollout.evaluator import RolloutResult
from genpolicy.seeding import stream

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from lightning.pytorch.core.optimizer import LightningOptimizer

    from genpolicy.rollout.evaluator import PopulationEvaluator


def make_cvae(
    policy: PopulationPolicy,
    latent_dim: int,
    hidden: Sequence[int],
    activation: str,
    beta: float,
    max_latent: float | None,
) -> ActionVAE:
    check.nonnegative("beta (the KL weight)", beta)
    return ActionVAE(
        policy.net.sizes[0],
        policy.head.out_dim,
        policy.head.low.tolist(),
        policy.head.high.tolist(),
        latent_dim,
        hidden,
        activation,
        max_latent,
    )


def play_variations(
    cvae: ActionVAE, evaluator: PopulationEvaluator, n: int, run_seed: int, seed: int, device: torch.device | str
) -> RolloutResult:
    """n test episodes, each a variation: its own z (seeded), held for the whole episode."""
    gen = torch.Generator().manual_seed(member_seed(stream(run_seed, "variation_latents"), seed))
    z = cvae.sample_latents(n, gen, "cpu")
    return evaluator.evaluate(cvae.bind, z, 1, eval_seeds(run_seed, seed, n), device)


def load_teacher(policy: PopulationPolicy, path: str, env_id: str) -> None:
    """Copy a trained actor into ``policy``: from a DDPG/TD3/ST-GPV checkpoint (its actor) or a GPV
    checkpoint (its teacher). Anything else, another env or another actor shape: a clear error."""
    from genpolicy.fit import InputError, load_checkpoint

    ckpt = load_checkpoint(path)
    config = ckpt["genpolicy"]["config"]
    target = config.get("method", {}).get("_target_", "")
    prefix = {"TD3Module": "actor.", "STGPVModule": "actor.", "GPVModule": "policy.net."}.get(target.rsplit(".", 1)[-1])
    if prefix is None:
        raise InputError(
            f"actor_ckpt {path} is not a DDPG/TD3 (or GPV) checkpoint (its method is {target or 'unknown'}); "
            "train an actor first, e.g. python -m genpolicy.fit experiment=td3_pendulum"
        )
    if config.get("env", {}).get("id") != env_id:
        raise InputError(
            f"actor_ckpt {path} was trained on {config.get('env', {}).get('id')}, this run's env is {env_id}"
        )
    weights = {k[len(prefix) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    expected = policy.net.state_dict()
    if weights.keys() != expected.keys() or any(weights[k].shape != v.shape for k, v in expected.items()):
        raise InputError(
            f"actor_ckpt {path}: its actor (hidden {config.get('policy', {}).get('hidden')}) does not "
            "match this run's policy config; use the same policy settings"
        )
    policy.net.load_state_dict(weights)


class GPVModule(SeededRNGs, L.LightningModule):
    action_kinds = ("box",)
    uses_strategy = False
    rng_streams = ("cvae",)

    def __init__(
        self,
        policy: PopulationPolicy,
        actor_ckpt: str | None = None,
        env_id: str | None = None,
        latent_dim: int = 8,
        hidden: Sequence[int] = (256, 256),
        activation: str = "relu",
        beta: float = 0.5,
        max_latent: float | None = None,
        lr: float = 1e-3,
        rounds: int = 20,
        round_steps: int = 100,
        eval_every: int = 1,
        eval_episodes: int = 10,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        if not actor_ckpt:
            raise ValueError(
                "GPV needs a trained actor: method.actor_ckpt=PATH (a DDPG/TD3 checkpoint, e.g. "
                "runs/td3_pendulum/…/checkpoints/last.ckpt)"
            )
        self.policy = policy.requires_grad_(False)  # the teacher: the trained DDPG/TD3 actor
        load_teacher(policy, actor_ckpt, env_id)
        self.cvae = make_cvae(policy, latent_dim, hidden, activation, beta, max_latent)
        self.beta, self.lr = float(beta), positive("lr", lr)
        self.rounds, self.round_steps = integer("rounds", rounds), integer("round_steps", round_steps)
        self.eval_every, self.eval_episodes = integer("eval_every", eval_every), integer("eval_episodes", eval_episodes)
        self.seed = int(seed)
        self.register_buffer("generation", torch.zeros((), dtype=torch.long))  # rounds of round_steps updates
        self.register_buffer("env_steps", torch.zeros((), dtype=torch.long))  # the teacher's recorded steps
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))
        self.latest_test: tuple[int, float] | None = None
        self._sums, self._started = torch.zeros(2), time.perf_counter()

    def teacher_params(self) -> torch.Tensor:
        return torch.nn.utils.parameters_to_vector(self.policy.net.parameters()).detach()[None]

    def teacher_act(self, obs: torch.Tensor) -> torch.Tensor:
        return self.policy.head(self.policy.net(obs))

    def test_return(
        self, episodes: int | None = None, seed: int = 0, evaluator: PopulationEvaluator | None = None
    ) -> RolloutResult:
        return play_variations(
            self.cvae,
            evaluator or self.trainer.datamodule.evaluator,
            episodes or self.eval_episodes,
            self.seed,
            seed,
            self.device,
        )

    def video_act(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """The variation at the latent mean z = 0 (what ``genpolicy.evaluate video=`` records)."""
        return self.cvae.bind(torch.zeros(1, self.cvae.latent_dim, device=self.device))

    def configure_optimizers(self) -> torch.optim.Adam:
        return torch.optim.Adam(self.cvae.parameters(), lr=self.lr)

    def on_fit_start(self) -> None:
        self._sums = self._sums.to(self.device)
        dm = self.trainer.datamodule
        if int(self.env_steps) == 0:
            self.env_steps.fill_(dm.env_steps)
        log_round(
            self, {"gpv/teacher_return": float(dm.teacher_returns.mean()), "gpv/dataset_size": float(len(dm.states))}
        )

    def training_step(self, dataloader_iter: Iterator[tuple[dict, int, int]]) -> None:
        item = next_item(self, dataloader_iter)  # pulled, not prefetched: the sampler state stays exact
        opt = self.optimizers()
        for obs, action in zip(item["obs"], item["action"], strict=True):
            recon, kl = self.cvae.losses(obs, action, self.rng("cvae"))
            opt.zero_grad(set_to_none=True)
            self.manual_backward(recon + self.beta * kl)
            opt.step()
            if torch.is_autocast_enabled(self.device.type):  # cached low-precision weights are stale now
                torch.clear_autocast_cache()
            self._sums += torch.stack([recon.detach(), kl.detach()]).to(self._sums)  # no per-update device sync
            self.updates += 1
            if int(self.updates) % self.round_steps == 0:
                self._end_round()
                if int(self.generation) >= self.rounds:
                    self.trainer.should_stop = True
                    return

    def _end_round(self) -> None:
        self.generation += 1
        gen = int(self.generation)
        recon, kl = (self._sums / self.round_steps).tolist()
        stats = {
            "cvae/recon": recon,
            "cvae/kl": kl,
            "cvae/loss": recon + self.beta * kl,
            "time/round_s": time.perf_counter() - self._started,
        }
        if gen % self.eval_every == 0 or gen >= self.rounds:
            test = self.test_return(seed=gen)
            self.latest_test = (gen - 1, float(test.returns.mean()))
            stats |= {
                "eval/return_mean": self.latest_test[1],
                "eval/return_std": float(test.returns.std(unbiased=False)),
            }
        log_round(self, stats)
        self.log("gen", float(gen), prog_bar=True, logger=False, batch_size=1)
        if self.latest_test is not None:
            self.log("test", self.latest_test[1], prog_bar=True, logger=False, batch_size=1)
        self._sums.zero_()
        self._started = time.perf_counter()


class STGPVModule(TD3Module):
    """TD3/DDPG + a cVAE trained alongside on replay states against the current actor; the cVAE's
    samples explore. Tests report the actor; ``gpv/variation_return`` reports the cVAE's variations."""

    rng_streams = (*TD3Module.rng_streams, "cvae", "explore")
    explores_with_actor = False  # the cVAE's samples explore

    def __init__(
        self,
        policy: PopulationPolicy,
        latent_dim: int = 8,
        cvae_hidden: Sequence[int] = (256, 256),
        cvae_activation: str = "relu",
        beta: float = 0.5,
        max_latent: float | None = None,
        cvae_lr: float = 1e-3,
        **td3: Any,
    ) -> None:
        super().__init__(policy, **td3)
        self.cvae = make_cvae(policy, latent_dim, cvae_hidden, cvae_activation, beta, max_latent)
        self.beta, self.cvae_lr = float(beta), positive("cvae_lr", cvae_lr)

    def configure_optimizers(self) -> list[torch.optim.Adam]:
        return [*super().configure_optimizers(), torch.optim.Adam(self.cvae.parameters(), lr=self.cvae_lr)]

    @torch.no_grad()
    def explore(self, obs: torch.Tensor) -> torch.Tensor:
        obs = obs.to(self.device)
        return self.cvae.decode(obs, self.cvae.sample_latents(len(obs), self.rng("explore"), self.device))

    def _update(
        self,
        b: dict,
        actor_opt: torch.optim.Optimizer | LightningOptimizer,
        critic_opt: torch.optim.Optimizer | LightningOptimizer,
        cvae_opt: torch.optim.Optimizer | LightningOptimizer | None = None,
    ) -> None:
        super()._update(b, actor_opt, critic_opt)
        with torch.no_grad():
            target = self.act(b["obs"])  # the current actor's choice in replayed states
        recon, kl = self.cvae.losses(b["obs"], target, self.rng("cvae"))
        cvae_opt.zero_grad(set_to_none=True)
        self.manual_backward(recon + self.beta * kl)
        self._all_reduce_grads(self.cvae)
        cvae_opt.step()
        r = self._round
        r["recon"] = r.get("recon", 0.0) + recon.detach()
        r["kl"] = r.get("kl", 0.0) + kl.detach()

    def round_stats(self, r: dict, testing: bool) -> dict:
        if not r["n_critic"]:
            return {}
        stats = {"cvae/recon": float(r["recon"]) / r["n_critic"], "cvae/kl": float(r["kl"]) / r["n_critic"]}
        if testing:
            test = play_variations(
                self.cvae,
                self.trainer.datamodule.evaluator,
                self.eval_episodes,
                self.seed,
                int(self.generation),
                self.device,
            )
            stats["gpv/variation_return"] = float(test.returns.mean())
        return stats
