"""`python -m genpolicy.landscape` on a tiny PGEN training: files, shapes, figures, bad input."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from genpolicy._configs import config_dir
from genpolicy.fit import InputError
from genpolicy.landscape import landscape


def _cfg(*overrides):
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        return compose("landscape", overrides=list(overrides))


def test_landscape_of_a_pgen_generator(fit_run, tmp_path, monkeypatch):
    summary, _ = fit_run("experiment=pgen_cartpole")
    out = tmp_path / "ls"
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("NETRC", "/nonexistent")  # no key: W&B must run offline
    result = landscape(
        _cfg(
            f"ckpt_path={summary['checkpoint']}",
            "grid=3",
            "episodes=2",
            "gallery=2",
            "probe_states=16",
            "wandb.enabled=true",
        ),
        out,
    )
    data = np.load(out / "landscape.npz")
    assert data["returns"].shape == (3, 3, 2) and data["mean"].shape == (3, 3)
    np.testing.assert_allclose(data["mean"], data["returns"].mean(-1))  # the mean, not the last episode
    assert data["axis"][0] == -0.5 and data["axis"][-1] == 0.5
    assert (out / "landscape.png").stat().st_size > 5000 and (out / "gallery.gif").stat().st_size > 5000
    div = json.loads((out / "diversity.json").read_text())
    assert 0.0 <= div["competent_fraction"] <= 1.0 and div["threshold"] == 475.0
    assert div["grid_max"] == float(data["mean"].max()) and div["mean_pairwise_action_distance"] >= 0
    assert result["out"] == str(out)
    run = Path(result["wandb_dir"])  # the offline W&B run holds the picture and the gallery
    assert run.parent == out / "wandb" and run.name.startswith("offline-run-")
    media = {p.suffix for p in (run / "files" / "media").rglob("*") if p.is_file()}
    assert {".png", ".gif"} <= media, media


def test_landscape_refuses_bad_input(fit_run, tmp_path):
    es, _ = fit_run(run_dir=tmp_path / "es")
    with pytest.raises(InputError, match="no latent space"):
        landscape(_cfg(f"ckpt_path={es['checkpoint']}"), tmp_path / "x")
    with pytest.raises(InputError, match="grid must be an integer ≥ 1"):
        landscape(_cfg(f"ckpt_path={es['checkpoint']}", "grid=0"), tmp_path / "x")
    pgen, _ = fit_run("experiment=pgen_cartpole", run_dir=tmp_path / "pgen")
    with pytest.raises(InputError, match="dims must be two different latent dimensions"):
        landscape(_cfg(f"ckpt_path={pgen['checkpoint']}", "dims=[0,2]"), tmp_path / "y")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "genpolicy.landscape",
            f"ckpt_path={es['checkpoint']}",
            f"hydra.run.dir={tmp_path / 'z'}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "no latent space" in proc.stderr
    assert not (tmp_path / "z").exists()
