"""``python -m genpolicy.landscape ckpt_path=PATH grid=N``: the fitness landscape of a PGEN generator.

Evaluates the generator of a PGEN checkpoint over an N × N grid of its latent plane (E episodes per point; the
point's value is their mean — not the last episode, as the reference recorded) and writes into its run
directory (``hydra.run.dir``, default ``landscape``): ``landscape.npz`` (axes, mean returns, all returns),
``landscape.png`` (heatmap with a colour bar, axes in latent units), ``diversity.json`` (the fraction of the
grid whose return reaches the competence threshold; the mean pairwise distance between the actions of
different latents on a fixed set of probe states) and ``gallery.gif`` (policies from several latents side by
side); with ``wandb.enabled=true`` the picture, the gallery and the diversity figures are also logged to W&B.
Latents with more than 2 dimensions: the plane of ``dims`` is swept and the other dimensions are 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import hydra
import numpy as np
import torch
from omegaconf import DictConfig

from genpolicy import _checks as check
from genpolicy._cli import InputError, tool_cli
from genpolicy._configs import config_dir
from genpolicy._io import atomic_path, write_json
from genpolicy.fit import restore
from genpolicy.rollout.video import mean_pairwise_distance, tiled_gif

if TYPE_CHECKING:
    from collections.abc import Sequence

    from genpolicy.envs.registry import EnvSpec
    from genpolicy.methods.population import PopulationModule


def grid_latents(n: int, radius: float, dims: Sequence[int], latent_dim: int) -> tuple[np.ndarray, torch.Tensor]:
    axis = np.linspace(-radius, radius, n)
    z = torch.zeros(n * n, latent_dim)
    z0, z1 = np.meshgrid(axis, axis, indexing="ij")  # row i: dims[0] = axis[i]
    z[:, dims[0]] = torch.as_tensor(z0.reshape(-1), dtype=torch.float32)
    z[:, dims[1]] = torch.as_tensor(z1.reshape(-1), dtype=torch.float32)
    return axis, z


def plot_landscape(
    path: Path, axis: np.ndarray, mean: np.ndarray, dims: Sequence[int], env_id: str, episodes: int
) -> None:
    """Heatmap of the grid's mean returns (axes in latent units) with a colour bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(axis)
    fig, ax = plt.subplots(figsize=(5.5, 4.7))
    im = ax.imshow(mean.T, origin="lower", extent=(axis[0], axis[-1], axis[0], axis[-1]), cmap="viridis", aspect="auto")
    fig.colorbar(im, ax=ax, label=f"mean return over {episodes} episodes")
    ax.set_xlabel(f"latent z[{dims[0]}]")
    ax.set_ylabel(f"latent z[{dims[1]}]")
    ax.set_title(f"{env_id}\ngenerator landscape ({n}×{n})", fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


def action_diversity(module: PopulationModule, policies: torch.Tensor, states: torch.Tensor) -> float:
    """Mean pairwise distance between the actions (discrete: one-hot) of the policies on the probe states."""
    with torch.no_grad():
        acts = module.policy.act(policies, states.expand(len(policies), -1, -1))  # (M, S[, a])
    if module.policy.head.kind == "discrete":
        acts = torch.nn.functional.one_hot(acts, module.policy.head.n).float()
    return mean_pairwise_distance(acts)


def probe_states(env: EnvSpec, module: PopulationModule, policy: torch.Tensor, count: int, seed: int) -> torch.Tensor:
    """Observations visited by ``policy`` (restarting episodes as needed): (1, count, obs_dim)."""
    act = module.policy.bind(policy[None])
    single = env.make_single()
    states, episode = [], 0
    try:
        obs, _ = single.reset(seed=seed)
        while len(states) < count:
            states.append(np.asarray(obs, dtype=np.float32).reshape(-1))
            a = act(torch.as_tensor(states[-1]).view(1, 1, -1)).reshape(-1).numpy()
            obs, _, terminated, truncated, _ = single.step(a[0] if env.action_kind == "discrete" else a)
            if terminated or truncated:
                episode += 1
                obs, _ = single.reset(seed=seed + episode)
    finally:
        single.close()
    return torch.as_tensor(np.stack(states))[None]


def landscape(cfg: DictConfig, out: Path) -> dict:
    """The landscape of ``cfg.ckpt_path`` written into ``out``; returns the diversity figures."""
    for key in ("grid", "episodes", "probe_states"):
        check.integer(key, cfg[key])
    check.integer("gallery", cfg.gallery, 0)
    check.positive("range", cfg.range)
    env, module, run_cfg = restore(cfg.ckpt_path)
    if getattr(module, "genome", None) is None:
        raise InputError(
            f"checkpoint {cfg.ckpt_path} has no latent space: its method ({run_cfg.method._target_}) "
            "does not evolve a generator; a landscape needs a PGEN checkpoint (method=pgen)"
        )
    dims = [int(d) for d in cfg.dims]
    if len(dims) != 2 or len(set(dims)) != 2 or not all(0 <= d < module.genome.latent_dim for d in dims):
        raise InputError(f"dims must be two different latent dimensions in [0, {module.genome.latent_dim}), got {dims}")
    n, E = int(cfg.grid), int(cfg.episodes)
    axis, z = grid_latents(n, float(cfg.range), dims, module.genome.latent_dim)
    policies = module.policies(module.centre.detach()[None], z)
    policies = policies.rows(torch.arange(len(policies)))  # (N², D)

    from genpolicy.rollout import PopulationEvaluator

    evaluator = PopulationEvaluator(env)
    try:
        seeds = torch.arange(n * n * E) % E + int(cfg.seed)  # the same episodes at every point
        result = evaluator.evaluate(module.policy.bind, policies, E, seeds, cfg.device)
    finally:
        evaluator.close()
    returns = result.returns.view(n, n, E).numpy()
    mean = returns.mean(-1)
    with atomic_path(out / "landscape.npz") as tmp:
        np.savez(tmp, axis=axis, dims=np.array(dims), returns=returns, mean=mean)

    plot_landscape(out / "landscape.png", axis, mean, dims, env.id, E)

    threshold = float(cfg.threshold) if cfg.threshold is not None else env.goal
    probes = probe_states(env, module, policies[(n * n) // 2], int(cfg.probe_states), int(cfg.seed))
    stride = max(1, (n * n) // 64)  # at most ~64 latents for the pairwise distances
    diversity = {
        "grid": n,
        "range": float(cfg.range),
        "dims": dims,
        "episodes": E,
        "threshold": threshold,
        "competent_fraction": None if threshold is None else float((mean >= threshold).mean()),
        "grid_mean": float(mean.mean()),
        "grid_max": float(mean.max()),
        "grid_min": float(mean.min()),
        "best_latent": [float(v) for v in z[int(mean.argmax())]],
        "mean_pairwise_action_distance": action_diversity(module, policies[::stride], probes),
        "probe_states": int(cfg.probe_states),
        "env": env.id,
        "generation": int(module.generation),
    }
    write_json(out / "diversity.json", diversity)
    if int(cfg.gallery) > 0:
        picks = np.linspace(0, n - 1, int(cfg.gallery)).round().astype(int)  # along the diagonal
        tiled_gif(
            env, [module.policy.bind(p[None]) for p in policies[picks * n + picks]], out / "gallery.gif", int(cfg.seed)
        )
    result = {**diversity, "out": str(out)}
    if cfg.wandb.enabled:
        from genpolicy.loggers import log_media

        gif = [out / "gallery.gif"] if int(cfg.gallery) > 0 else []
        result["wandb_dir"] = log_media(
            out,
            "landscape",
            diversity,
            images=[out / "landscape.png"],
            videos=gif,
            project=cfg.wandb.project,
            name=f"landscape-{env.id}",
            mode=cfg.wandb.mode,
        )
    return result


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="landscape")
def main(cfg: DictConfig) -> None:
    tool_cli("landscape", landscape, cfg)


if __name__ == "__main__":
    main()
