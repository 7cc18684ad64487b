"""What the command-line tools share: bad input as one line and exit code 2, the run directory that
``hydra.run.dir`` names (as for ``fit``), and a refusal of keys the tool does not know."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from genpolicy._checks import InputError
from genpolicy._configs import config_dir

__all__ = ["EXIT_BAD_INPUT", "InputError", "refuse_unknown_keys", "tool_cli", "json_call"]
EXIT_BAD_INPUT = 2


def refuse_unknown_keys(cfg: DictConfig, config_name: str) -> None:
    """A key added with ``+key=value`` that the tool's config file does not hold is a typo, not a
    setting: refuse it, naming the keys that exist."""
    known = set(OmegaConf.load(Path(config_dir()) / f"{config_name}.yaml")) - {"defaults", "hydra"}
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise InputError(
            f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"{config_name} takes {', '.join(sorted(known))} (and hydra.run.dir=DIR for where it writes)"
        )


def _empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def tool_cli(name: str, fn: Callable[[DictConfig, Path], dict], cfg: DictConfig) -> None:
    """Run ``fn(cfg, run_dir)`` for a tool that answers with one JSON line on stdout. ``run_dir`` is
    ``hydra.run.dir``; a run directory the tool left empty (bad input, or nothing asked to be written)
    is removed again. C-level prints of simulators (pybullet) are silenced while it runs."""
    from hydra.core.hydra_config import HydraConfig

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    fresh = _empty_dir(run_dir)

    def checked() -> dict:
        refuse_unknown_keys(cfg, name)
        return fn(cfg, run_dir)

    try:
        result = json_call(name, checked)
    finally:
        if fresh and _empty_dir(run_dir) and run_dir.resolve() != Path.cwd().resolve():
            run_dir.rmdir()
    print(json.dumps(result), flush=True)


def json_call(name: str, fn: Callable, *args: Any) -> dict:
    """``fn(*args)`` with simulator prints silenced; bad input → one line on stderr, exit 2."""
    from genpolicy.envs.registry import quiet_stdout

    try:
        with quiet_stdout():
            return fn(*args)
    except (InputError, ImportError) as err:
        print(f"genpolicy.{name}: error: {err}", file=sys.stderr, flush=True)
        sys.exit(EXIT_BAD_INPUT)
