"""``python -m genpolicy.evaluate ckpt_path=PATH episodes=N [video=DIR]``: test a saved policy.

Prints one JSON line: ``eval_return_mean``, ``eval_return_std``, ``episodes`` (and the video's path
when ``video=DIR`` is given). The checkpoint is loaded with ``weights_only=True``: no pickled code
runs. The policy is rebuilt from the config stored inside the checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from genpolicy._configs import config_dir
from genpolicy.fit import InputError, json_cli, restore


def evaluate(ckpt_path: str, episodes: int = 10, seed: int = 12345, video: str | None = None,
             video_format: str = "mp4", device: str = "cpu", video_every: int = 1, video_scale: int = 1) -> dict:
    import torch

    from genpolicy.rollout import PopulationEvaluator
    from genpolicy.rollout.video import record_episode

    if int(episodes) != episodes or episodes < 1:
        raise InputError(f"episodes must be an integer ≥ 1, got {episodes!r}")
    if video_format not in ("mp4", "gif"):
        raise InputError(f"video_format must be mp4 or gif, got {video_format!r}")
    for name, v in (("video_every", video_every), ("video_scale", video_scale)):
        if int(v) != v or v < 1:
            raise InputError(f"{name} must be an integer ≥ 1, got {v!r}")
    env, module, _ = restore(ckpt_path)
    module.to(torch.device(device)).eval()
    evaluator = PopulationEvaluator(env)
    try:
        test = module.test_return(int(episodes), seed=int(seed), evaluator=evaluator)
    finally:
        evaluator.close()
    returns = test.returns.flatten()
    out = {
        "eval_return_mean": float(returns.mean()),
        "eval_return_std": float(returns.std(unbiased=False)),
        "episodes": int(returns.numel()),
        "env": env.id,
        "generation": int(module.generation),
        "checkpoint": str(ckpt_path),
    }
    if video:
        name = f"{env.id.replace('/', '_')}_gen{int(module.generation)}.{video_format}"  # ALE/Pong-v5: one file
        act = module.video_act() if hasattr(module, "video_act") else module.policy.bind(module.test_policies()[:1])
        out.update(record_episode(env, act, Path(video) / name, seed=int(seed), device=device,
                                  every=int(video_every), scale=int(video_scale)))
    return out


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="evaluate")
def main(cfg: DictConfig) -> None:
    json_cli("evaluate", evaluate, cfg.ckpt_path, cfg.episodes, cfg.seed, cfg.video, cfg.video_format, cfg.device,
             cfg.video_every, cfg.video_scale)


if __name__ == "__main__":
    main()
