"""``python -m genpolicy.fit``: compose the config, build everything, train, test, write summary.json.

Everything that can be wrong with the input (env id, hyper-parameters, action space, checkpoint)
is checked while building, before the Trainer starts; errors print one line and exit with code 2.
"""

from __future__ import annotations

import logging
import pickle
import shutil
import sys
import time
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from genpolicy import _checks as check
from genpolicy._cli import EXIT_BAD_INPUT, InputError
from genpolicy._configs import config_dir
from genpolicy._io import write_json, write_text
from genpolicy.loggers import close_logger

if TYPE_CHECKING:
    import lightning as L

    from genpolicy.envs.registry import EnvSpec


def _instantiate(node: DictConfig, what: str, **kwargs: Any) -> Any:
    """instantiate() with the user's error (not Hydra's wrapper) as an InputError naming the group."""
    try:
        # Always build a partial and call it ourselves: runtime objects passed to instantiate()
        # directly would be converted into configs (dataclasses become DictConfigs).
        return instantiate(node, _partial_=True)(**kwargs)
    except InstantiationException as err:
        cause = err.__cause__ or err
        raise InputError(f"{what}: {cause}") from None
    except (ValueError, TypeError, ImportError) as err:
        raise InputError(f"{what}: {err}") from None


def build(cfg: DictConfig) -> tuple[EnvSpec, L.LightningDataModule, L.LightningModule]:
    """(env spec, datamodule, LightningModule) from a composed config. Validates as it builds."""
    env = _instantiate(cfg.env, "env")
    method_cls = _method_class(cfg)
    kinds = getattr(method_cls, "action_kinds", ("discrete", "box"))
    if env.action_kind not in kinds:
        raise InputError(
            f"method {method_cls.__name__} needs {' or '.join(kinds)} actions; {env.id} has {env.action_kind} actions"
        )
    sizes = dict(
        obs_dim=env.obs_dim,
        action_kind=env.action_kind,
        action_dim=env.action_dim,
        action_low=env.action_low,
        action_high=env.action_high,
    )
    if env.frames:  # image observations: only a policy that reads (C, H, W) frames may play them
        _check_reads_frames(cfg, env)
        sizes["obs_shape"] = env.obs_shape
    policy = _instantiate(cfg.policy, "policy", **sizes)
    searched = {}  # population methods get a search strategy; gradient methods (DDPG/TD3, GPV) none
    if getattr(method_cls, "uses_strategy", True):
        searched["strategy"] = _instantiate(cfg.strategy, "strategy")
    module = _instantiate(cfg.method, "method", policy=policy, seed=int(cfg.seed), **searched)
    datamodule = _instantiate(cfg.data, "data", env=env, seed=int(cfg.seed))
    return env, datamodule, module


def _check_reads_frames(cfg: DictConfig, env: EnvSpec) -> None:
    """Refuse a vector policy (mlp, linear, actor) on an env with image frames, naming the one that fits."""
    import inspect

    from hydra.utils import get_class

    try:
        cls = get_class(cfg.policy._target_)
        takes = "obs_shape" in inspect.signature(cls).parameters
    except Exception:  # noqa: BLE001 - a bad policy target is reported when it is built
        return
    if not takes:
        raise InputError(
            f"policy: {cls.__name__} reads vector observations, but {env.id} gives image frames "
            f"{tuple(env.obs_shape)}: use policy=convlstm (or policy=module with a module that "
            "takes obs_shape)"
        )


def _method_class(cfg: DictConfig) -> type[L.LightningModule]:
    from hydra.utils import get_class

    try:
        return get_class(cfg.method._target_)
    except Exception as err:  # noqa: BLE001 - any failure here is a bad method config
        raise InputError(f"method: cannot import {cfg.method.get('_target_')!r}: {err}") from None


def load_checkpoint(path: str) -> dict:
    """Load a checkpoint without running pickled code; a clear InputError when missing or corrupt."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise InputError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(p):
        raise InputError(f"checkpoint {path} is not a torch checkpoint file (truncated or corrupt)")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise InputError(f"checkpoint {path} holds objects that cannot be loaded safely (weights_only=True)") from None
    except Exception as err:  # noqa: BLE001 - a damaged archive
        raise InputError(f"checkpoint {path} cannot be loaded (corrupt): {type(err).__name__}") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "genpolicy" not in ckpt:
        raise InputError(f"checkpoint {path} is not a genpolicy checkpoint (no state_dict/config inside)")
    return ckpt


def check_compatible(saved: dict, expected: dict, path: str) -> None:
    """Refuse a checkpoint whose tensors do not fit the module built from the current config."""
    problems = [f"{k}: missing" for k in expected if k not in saved]
    problems += [
        f"{k}: {tuple(saved[k].shape)} in the checkpoint, {tuple(v.shape)} here"
        for k, v in expected.items()
        if k in saved and saved[k].shape != v.shape
    ]
    if problems:
        raise InputError(
            f"checkpoint {path} does not match this config (another env or policy?): " + "; ".join(problems[:3])
        )


def restore(path: str) -> tuple[EnvSpec, L.LightningModule, DictConfig]:
    """(env spec, module, config) rebuilt from a checkpoint's own config and loaded with its weights."""
    ckpt = load_checkpoint(path)
    cfg = OmegaConf.create(ckpt["genpolicy"]["config"])
    if "actor_ckpt" in cfg.method:  # a GPV checkpoint carries its teacher: the original file is not needed
        cfg.method.actor_ckpt = str(path)
    env, _, module = build(cfg)
    check_compatible(ckpt["state_dict"], module.state_dict(), path)
    module.load_state_dict(ckpt["state_dict"])
    return env, module, cfg


def _callbacks(cfg: DictConfig, run_dir: Path, goal: float | None) -> list[L.Callback]:
    from genpolicy.callbacks import GenerationCheckpoint, GenerationProgressBar, GoalStopping, StoreConfig

    callbacks = [
        StoreConfig(OmegaConf.to_container(cfg, resolve=True)),
        GenerationCheckpoint(run_dir / "checkpoints", int(cfg.checkpoint.every_n_generations)),
    ]
    if goal is not None:
        callbacks.append(GoalStopping(goal, int(cfg.goal_stopping.consecutive)))
    if cfg.trainer.get("enable_progress_bar", True):
        callbacks.append(GenerationProgressBar())
    return callbacks


def _integer_key(cfg: DictConfig, key: str, minimum: int) -> None:
    try:
        check.integer(key, OmegaConf.select(cfg, key), minimum)
    except ValueError as err:
        raise InputError(str(err)) from None


def check_top_level(cfg: DictConfig) -> None:
    """The run-level keys: one line naming the key and what it accepts."""
    try:
        cfg.name = str(cfg.name)  # the hydra resolver is there only under hydra.main
    except Exception:  # noqa: BLE001 - composed without Hydra's runtime (tests, the Python API)
        cfg.name = "run"
    _integer_key(cfg, "seed", 0)
    _integer_key(cfg, "generations", -1)
    _integer_key(cfg, "final_eval_episodes", 1)
    _integer_key(cfg, "goal_stopping.consecutive", 1)
    goal = cfg.goal_stopping.reward_goal
    if goal not in (None, "solved") and (isinstance(goal, bool) or not isinstance(goal, (int, float))):
        raise InputError(f"goal_stopping.reward_goal must be a number, solved or null, got {goal!r}")
    if cfg.resume is not None and not isinstance(cfg.resume, str):
        raise InputError(f"resume must be a checkpoint path or null, got {cfg.resume!r}")


def module_settings(module: L.LightningModule) -> tuple[str, ...]:
    """The process-wide settings a method asks for (genpolicy._process), none by default."""
    return tuple(getattr(module, "process_settings", ()))


def run(cfg: DictConfig, run_dir: Path) -> dict:
    """Train and test one experiment into ``run_dir``; returns the summary."""
    start = time.perf_counter()
    check_top_level(cfg)
    import lightning as L
    import torch

    from genpolicy._process import process_settings
    from genpolicy.rollout import PopulationEvaluator
    from genpolicy.rollout.threads import cores_per_process, torch_threads

    L.seed_everything(int(cfg.seed), workers=True, verbose=False)  # before build: initial weights
    env, datamodule, module = build(cfg)
    if cfg.resume:  # fail now, not after the Trainer has started
        check_compatible(load_checkpoint(cfg.resume)["state_dict"], module.state_dict(), cfg.resume)
    goal = env.goal if cfg.goal_stopping.reward_goal == "solved" else cfg.goal_stopping.reward_goal
    logger = (
        _instantiate(cfg.logger, "logger", save_dir=str(run_dir), name=f"{cfg.name}") if cfg.get("logger") else False
    )
    if hasattr(logger, "start"):  # W&B: its service starts while the run is built and trains
        logger.start()
    trainer = _instantiate(
        cfg.trainer, "trainer", logger=logger, callbacks=_callbacks(cfg, run_dir, goal), default_root_dir=str(run_dir)
    )
    if hasattr(module, "check_trainer"):  # a method's own limits on the Trainer (e.g. precision)
        try:
            module.check_trainer(trainer)
        except ValueError as err:
            raise InputError(f"trainer: {err}") from None
    write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    # ranks that share this machine share its cores: each gets its part as its intra-op thread budget
    # the method's process-wide settings (denormal flush, allocator thresholds) hold for the run only
    with torch_threads(cores_per_process(trainer.num_devices)), process_settings(module_settings(module)):
        trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.resume or None, weights_only=True)

    last = run_dir / "checkpoints" / "last.ckpt"
    best = run_dir / "checkpoints" / "best.ckpt"
    summary = {}
    if trainer.is_global_zero:
        evaluator = PopulationEvaluator(env)
        try:
            with torch.no_grad():
                test = module.test_return(int(cfg.final_eval_episodes), seed=-1, evaluator=evaluator)
        finally:
            evaluator.close()
        returns = test.returns.flatten()
        mean, std = float(returns.mean()), float(returns.std(unbiased=False))
        choices = HydraConfig.get().runtime.choices if HydraConfig.initialized() else {}
        summary = {
            "experiment": str(cfg.name),
            "method": str(choices.get("method", cfg.method._target_)),
            "env": env.id,
            "generations": int(module.generation),
            "env_steps": int(module.env_steps),
            "wall_s": round(time.perf_counter() - start, 3),
            "eval_return_mean": mean,
            "eval_return_std": std,
            "eval_episodes": int(returns.numel()),
            "goal": env.goal,
            "solved": bool(env.goal is not None and mean >= env.goal),
            "seed": int(cfg.seed),
            "checkpoint": str(last),
            "best_checkpoint": str(best) if best.exists() else None,
            "run_dir": str(run_dir),
        }
        write_json(run_dir / "summary.json", summary)
        if logger:
            logger.log_metrics({"test/return_mean": mean, "test/return_std": std}, step=int(module.generation))
        close_logger(logger)
        print(
            f"{summary['experiment']}: {summary['generations']} generations, {summary['env_steps']:,} env steps, "
            f"{summary['wall_s']:.1f} s → test return {mean:.1f} ± {std:.1f} over {returns.numel()} episodes"
            f"{' (solved)' if summary['solved'] else ''}\n  run dir: {run_dir}",
            flush=True,
        )
    return summary


def _is_fresh_hydra_dir(run_dir: Path) -> bool:
    return run_dir.is_dir() and all(p.name == ".hydra" or p.suffix == ".log" for p in run_dir.iterdir())


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="fit")
def main(cfg: DictConfig) -> None:
    logging.getLogger("lightning.pytorch").propagate = False  # Lightning prints itself; no echo via Hydra
    warnings.filterwarnings("ignore", message=r".*(LeafSpec|does not have many workers|dataloader_iter).*")
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        run(cfg, run_dir)
    except InputError as err:
        if _is_fresh_hydra_dir(run_dir):  # leave nothing behind for input we refused
            shutil.rmtree(run_dir, ignore_errors=True)
        print(f"genpolicy.fit: error: {err}", file=sys.stderr, flush=True)
        sys.exit(EXIT_BAD_INPUT)


if __name__ == "__main__":
    main()
