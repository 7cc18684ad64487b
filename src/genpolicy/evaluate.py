"""``python -m genpolicy.evaluate ckpt_path=PATH [episodes=N] [video=true] [hydra.run.dir=DIR]``: test a
saved policy.

Prints one JSON line: ``eval_return_mean``, ``eval_return_std``, ``episodes``; ``video=true`` records one
episode into the run directory (``hydra.run.dir``, default the current directory) and adds its path.
For a MetaRL checkpoint each episode is a fresh actor trained by the evolved rule for one lifetime;
the line adds ``last_quarter_return_mean`` and the two baselines on the same start states and initial
actors (``frozen_…``: the rule switched off; ``random_rule_…``); ``trace=true`` writes ``trace.json``
(the mean reward at every step of the lifetime for all three) into the run directory, and
``start=rest`` plays them from another start state. The checkpoint is loaded with
``weights_only=True``: no pickled code runs. The policy is rebuilt from the config stored inside it.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from genpolicy import _checks as check
from genpolicy._cli import InputError, tool_cli
from genpolicy._configs import config_dir
from genpolicy._io import write_json
from genpolicy.fit import restore


def _write_trace(path: Path, curves: dict, report: dict) -> None:
    """MetaRL: the mean reward at every step of the lifetime, per run (evolved rule, frozen, random rule)."""
    write_json(path, {"reward_per_step": curves, **report}, indent=None)


def evaluate(
    ckpt_path: str,
    episodes: int = 10,
    seed: int = 12345,
    video: str | None = None,
    video_format: str = "mp4",
    device: str = "cpu",
    video_every: int = 1,
    video_scale: int = 1,
    trace: str | None = None,
    start: str | None = None,
) -> dict:
    import torch

    from genpolicy.rollout import PopulationEvaluator
    from genpolicy.rollout.video import record_episode

    check.integer("episodes", episodes)
    check.choice("video_format", video_format, ("mp4", "gif"))
    check.integer("video_every", video_every)
    check.integer("video_scale", video_scale)
    env, module, _ = restore(ckpt_path)
    if start is not None:  # MetaRL: play the lifetimes from another start state
        from genpolicy.envs.meta import meta_spec
        from genpolicy.envs.torch import META_ENVS

        if env.id not in META_ENVS:
            raise InputError(
                f"start= picks the start state of a MetaRL env ({', '.join(sorted(META_ENVS))}); "
                f"this checkpoint plays {env.id}"
            )
        try:
            env = meta_spec(env.id, **{**env.kwargs, "start": start}, torch_dtype=env.torch_dtype)
        except ValueError as err:
            raise InputError(str(err)) from None
    module.to(torch.device(device)).eval()
    evaluator = PopulationEvaluator(env)
    report = {}
    try:
        if hasattr(module, "lifetime_report"):  # MetaRL: fresh actors trained by the rule, and baselines
            report = module.lifetime_report(evaluator, int(episodes), seed=int(seed))
            curves = report.pop("reward_per_step")
            if trace:
                _write_trace(Path(trace), curves, {**report, "env": env.id, "episodes": int(episodes)})
        test = module.test_return(int(episodes), seed=int(seed), evaluator=evaluator) if not report else None
    finally:
        evaluator.close()
    returns = test.returns.flatten() if test is not None else None
    out = {
        "eval_return_mean": report.pop("eval_return_mean") if report else float(returns.mean()),
        "eval_return_std": report.pop("eval_return_std") if report else float(returns.std(unbiased=False)),
        "episodes": int(episodes),
        **report,
        "env": env.id,
        "generation": int(module.generation),
        "checkpoint": str(ckpt_path),
    }
    if start is not None:
        out["start"] = start
    if video:
        name = f"{env.id.replace('/', '_')}_gen{int(module.generation)}.{video_format}"  # ALE/Pong-v5: one file
        act = module.video_act() if hasattr(module, "video_act") else module.policy.bind(module.test_policies()[:1])
        out.update(
            record_episode(
                env,
                act,
                Path(video) / name,
                seed=int(seed),
                device=device,
                every=int(video_every),
                scale=int(video_scale),
            )
        )
    return out


def evaluate_cli(cfg: DictConfig, run_dir: Path) -> dict:
    """The command line: ``video=true`` / ``trace=true`` write into the run directory (``hydra.run.dir``)."""
    check.flag("video", cfg.video)
    check.flag("trace", cfg.trace)
    return evaluate(
        cfg.ckpt_path,
        cfg.episodes,
        cfg.seed,
        str(run_dir) if cfg.video else None,
        cfg.video_format,
        cfg.device,
        cfg.video_every,
        cfg.video_scale,
        str(run_dir / "trace.json") if cfg.trace else None,
        cfg.start,
    )


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="evaluate")
def main(cfg: DictConfig) -> None:
    tool_cli("evaluate", evaluate_cli, cfg)


if __name__ == "__main__":
    main()
