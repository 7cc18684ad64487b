"""Where the Hydra configs live: inside the installed package, or at the top of a source checkout."""

from __future__ import annotations

from pathlib import Path


def config_dir() -> str:
    here = Path(__file__).resolve().parent
    for candidate in (here / "configs", here.parents[1] / "configs"):
        if (candidate / "fit.yaml").is_file():
            return str(candidate)
    raise FileNotFoundError(f"genpolicy configs not found next to {here} (broken install?)")
