"""``python -m genpolicy.variations ckpt_path=PATH n=16``: roll out variations of a GPV policy.

Each variation holds one latent z for a whole episode (``resample=true``: a fresh z every step). Writes into
its run directory (``hydra.run.dir``, default ``variations``): ``variations.json`` — per-variation returns,
the DDPG/TD3 actor's return on the same start states, diversity (the mean pairwise distance between the
variations' actions on a fixed probe set of states visited by the actor, and the spread across variations of a
behaviour descriptor: mean action on the probes and episode length) — and ``variations.gif``, a grid of
variations rendered headless. With ``wandb.enabled=true`` both go to W&B.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import TYPE_CHECKING

import hydra
import torch
from omegaconf import DictConfig

from genpolicy import _checks as check
from genpolicy._cli import InputError, tool_cli
from genpolicy._configs import config_dir
from genpolicy._io import write_json
from genpolicy.fit import restore
from genpolicy.rollout.video import mean_pairwise_distance, tiled_gif
from genpolicy.seeding import generator

if TYPE_CHECKING:
    from collections.abc import Callable

    from genpolicy.envs.registry import EnvSpec
    from genpolicy.methods.gpv import GPVModule, STGPVModule
    from genpolicy.nets.cvae import ActionVAE


def load_gpv(path: str) -> tuple[EnvSpec, GPVModule | STGPVModule]:
    """(env, module) of a GPV or ST-GPV checkpoint."""
    env, module, cfg = restore(path)
    if not hasattr(module, "cvae"):
        raise InputError(
            f"checkpoint {path} is not a GPV checkpoint (its method is {cfg.method._target_}); variations "
            "need method=gpv (experiment=gpv_*) or method=stgpv (experiment=stgpv_*)"
        )
    return env, module.eval()


def _resampling(
    cvae: ActionVAE, generator: torch.Generator
) -> Callable[[torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]:
    @torch.no_grad()
    def bind(rows: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        def act(obs: torch.Tensor) -> torch.Tensor:
            z = cvae.sample_latents(obs.shape[0] * obs.shape[1], generator, obs.device).view(*obs.shape[:2], -1)
            return cvae.decode(obs, z)

        return act

    return bind


def variations(cfg: DictConfig, out: Path) -> dict:
    """Variations of the GPV policy in ``cfg.ckpt_path``, written into ``out``; returns the figures."""
    for key in ("n", "episodes", "probe_states", "gif_columns", "gif_every", "gif_scale"):
        check.integer(key, cfg[key])
    check.integer("gif", cfg.gif, 0)
    env, module = load_gpv(cfg.ckpt_path)
    cvae, n, E, seed = module.cvae, int(cfg.n), int(cfg.episodes), int(cfg.seed)
    teacher = module.actor if hasattr(module, "actor") else module.policy.net  # the DDPG/TD3 actor
    actor_params = torch.nn.utils.parameters_to_vector(teacher.parameters()).detach()[None]
    gen = generator(seed, "variations")
    z = cvae.sample_latents(n, gen, "cpu")  # (n, latent_dim)

    from genpolicy.rollout import PopulationEvaluator

    evaluator = PopulationEvaluator(env)
    try:
        seeds = torch.arange(n * E) % E + seed  # every variation plays the same start states
        bind = _resampling(cvae, gen) if cfg.resample else cvae.bind
        played = evaluator.evaluate(bind, z, E, seeds, cfg.device)
        actor = evaluator.evaluate(
            module.policy.bind, actor_params.expand(1, -1), E, seeds[:E], cfg.device, record_obs=True
        )
    finally:
        evaluator.close()
    states = actor.observations
    probes = states[torch.linspace(0, len(states) - 1, min(int(cfg.probe_states), len(states))).long()]
    with torch.no_grad():
        acts = torch.stack([cvae.decode(probes, zi.expand(len(probes), -1)) for zi in z])  # (n, S, a)
    returns = played.returns.mean(1)  # (n,)
    lengths = played.lengths.double().mean(1)
    descriptor = torch.cat([acts.mean(1).double(), lengths[:, None]], 1)  # (n, a + 1): mean action, length
    actor_return = float(actor.returns.mean())
    median = statistics.median(returns.tolist())
    result = {
        "env": env.id,
        "n": n,
        "episodes": E,
        "resample": bool(cfg.resample),
        "beta": float(module.beta),
        "latent_dim": cvae.latent_dim,
        "max_latent": cvae.max_latent,
        "returns": returns.tolist(),
        "actor_return": actor_return,
        "return_median": median,
        "return_mean": float(returns.mean()),
        "return_min": float(returns.min()),
        "return_max": float(returns.max()),
        "median_fraction_of_actor": median / actor_return if actor_return > 0 else None,
        "mean_pairwise_action_distance": mean_pairwise_distance(acts),
        "descriptor_std": {
            "mean_action": descriptor[:, :-1].std(0, unbiased=False).tolist(),
            "episode_length": float(descriptor[:, -1].std(unbiased=False)),
        },
        "probe_states": len(probes),
        "env_steps": played.env_steps + actor.env_steps,
    }
    write_json(out / "variations.json", result)
    if int(cfg.gif) > 0:
        tiled_gif(
            env,
            [cvae.bind(zi[None]) for zi in z[: int(cfg.gif)]],
            out / "variations.gif",
            seed,
            columns=int(cfg.gif_columns),
            every=int(cfg.gif_every),
            scale=int(cfg.gif_scale),
        )
    result = {**result, "out": str(out)}
    if cfg.wandb.enabled:
        from genpolicy.loggers import log_media

        gif = [out / "variations.gif"] if int(cfg.gif) > 0 else []
        result["wandb_dir"] = log_media(
            out,
            "variations",
            result,
            videos=gif,
            project=cfg.wandb.project,
            name=f"variations-{env.id}",
            mode=cfg.wandb.mode,
        )
    return result


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="variations")
def main(cfg: DictConfig) -> None:
    tool_cli("variations", variations, cfg)


if __name__ == "__main__":
    main()
