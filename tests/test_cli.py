"""The entry points as a user runs them: subprocesses, exit codes, files left behind."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from genpolicy.fit import load_checkpoint

TINY = [
    "strategy.popsize=8",
    "method.eval_episodes=2",
    "final_eval_episodes=2",
    "logger=csv",
    "trainer.enable_progress_bar=false",
]
ENV = {**os.environ, "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "0"}


def _run(module, *args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=timeout, env=ENV
    )


def test_fit_then_evaluate_cli(tmp_path):
    run_dir = tmp_path / "run"
    proc = _run("genpolicy.fit", *TINY, "generations=3", f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["generations"] == 3 and summary["experiment"] == "direct_cartpole"
    assert "test return" in proc.stdout
    assert (run_dir / ".hydra" / "config.yaml").is_file() and (run_dir / "metrics.csv").is_file()

    proc = _run(
        "genpolicy.evaluate",
        f"ckpt_path={summary['checkpoint']}",
        "episodes=3",
        "video=true",
        f"hydra.run.dir={tmp_path / 'vid'}",
        "video_format=gif",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["episodes"] == 3 and result["eval_return_mean"] > 0
    video = Path(result["video"])
    assert video.is_file() and video.stat().st_size > 1000 and video.suffix == ".gif"
    assert video.parent == tmp_path / "vid"

    # the tools refuse keys they do not know (a typo) and a path where a switch belongs; no dir is left
    proc = _run(
        "genpolicy.evaluate", f"ckpt_path={summary['checkpoint']}", "+epsiodes=3", f"hydra.run.dir={tmp_path / 'e'}"
    )
    assert proc.returncode == 2 and "unknown option epsiodes; evaluate takes ckpt_path, device, episodes" in proc.stderr
    assert not (tmp_path / "e").exists()
    from hydra import compose, initialize_config_dir

    from genpolicy._cli import InputError
    from genpolicy._configs import config_dir
    from genpolicy.evaluate import evaluate_cli

    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("evaluate", overrides=[f"ckpt_path={summary['checkpoint']}", "video=videos"])
    with pytest.raises(InputError, match="video must be true or false, got 'videos'"):
        evaluate_cli(cfg, tmp_path)
    assert result["video_steps"] >= 8


def test_bad_input_exits_2_with_one_clear_line(tmp_path):
    cases = [
        (["env.id=NotAnEnv-v0"], "unknown env id 'NotAnEnv-v0'"),
        (["method=es", "strategy.popsize=9"], "popsize must be even"),
        (["method=es", "strategy.sigma=-1"], "sigma must be > 0"),
        ([f"resume={tmp_path / 'missing.ckpt'}"], "checkpoint not found"),
        (["env.backend=gymnasium", "env.compile=true"], "env.compile=true compiles the torch-native step"),
    ]
    for i, (overrides, message) in enumerate(cases):
        run_dir = tmp_path / f"bad{i}"
        proc = _run("genpolicy.fit", *TINY, *overrides, f"hydra.run.dir={run_dir}")
        assert proc.returncode == 2, (overrides, proc.stderr[-2000:])
        errors = [line for line in proc.stderr.splitlines() if line.startswith("genpolicy.fit: error:")]
        assert len(errors) == 1 and message in errors[0], proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr
        assert not run_dir.exists()  # nothing half-written left behind
    proc = _run("genpolicy.evaluate", f"ckpt_path={tmp_path / 'missing.ckpt'}")
    assert proc.returncode == 2 and "checkpoint not found" in proc.stderr


def test_kill_mid_run_leaves_loadable_last_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    last = run_dir / "checkpoints" / "last.ckpt"
    proc = subprocess.Popen(
        [sys.executable, "-m", "genpolicy.fit", *TINY, "generations=100000", f"hydra.run.dir={run_dir}"],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 120
        seen = set()
        while time.time() < deadline and len(seen) < 4:  # let last.ckpt be rewritten a few times
            if last.exists():
                seen.add(last.stat().st_mtime_ns)
            time.sleep(0.01)
        assert len(seen) >= 4, "last.ckpt was not written repeatedly"
        proc.send_signal(signal.SIGKILL)  # most likely mid-generation, possibly mid-save
    finally:
        proc.kill()
        proc.wait()
    ckpt = load_checkpoint(str(last))
    assert int(ckpt["state_dict"]["generation"]) >= 3
    assert torch.isfinite(ckpt["state_dict"]["centre"]).all()
    # and it resumes
    gen = int(ckpt["state_dict"]["generation"])
    proc = _run(
        "genpolicy.fit", *TINY, f"generations={gen + 1}", f"resume={last}", f"hydra.run.dir={tmp_path / 'resumed'}"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((tmp_path / "resumed" / "summary.json").read_text())["generations"] == gen + 1


def test_video_keeps_every_kth_frame_downscaled(tmp_path):
    import imageio.v2 as imageio

    from genpolicy.envs.registry import EnvSpec
    from genpolicy.rollout.video import record_episode

    spec = EnvSpec.make("Pendulum-v1")  # 200 steps, 500×500 frames
    out = record_episode(spec, lambda obs: torch.zeros(1, 1, 1), tmp_path / "p.gif", every=3, scale=2)
    frames = imageio.mimread(out["video"])
    assert out["video_steps"] == 200
    assert len(frames) == 1 + 200 // 3 + 1  # the start, every 3rd step, the last step
    assert frames[0].shape[:2] == (250, 250)


def test_exported_checkpoint_is_small_and_plays(tmp_path):
    run_dir = tmp_path / "run"
    proc = _run("genpolicy.fit", *TINY, "generations=2", "method=es", f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    last, small = run_dir / "checkpoints" / "last.ckpt", tmp_path / "shipped" / "policy.ckpt"
    script = Path(__file__).resolve().parents[1] / "scripts" / "export_checkpoint.py"
    proc = subprocess.run([sys.executable, str(script), str(last), str(small)], capture_output=True, text=True, env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = load_checkpoint(str(small))
    assert "optimizer_states" not in ckpt and small.stat().st_size < last.stat().st_size
    assert not list(small.parent.glob("*.part"))
    full = load_checkpoint(str(last))
    assert all(torch.equal(v, ckpt["state_dict"][k]) for k, v in full["state_dict"].items())
    proc = _run("genpolicy.evaluate", f"ckpt_path={small}", "episodes=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["episodes"] == 2


def test_video_frames_are_uint8_and_tiny_frames_are_enlarged():
    import numpy as np

    from genpolicy.rollout.video import as_video_frame

    tiny = np.random.default_rng(0).random((10, 10, 3))  # MinAtar renders float colours on 10×10
    frame = as_video_frame(tiny)
    assert frame.dtype == np.uint8 and frame.shape == (160, 160, 3)
    assert frame[15, 15, 0] == round(tiny[0, 0, 0] * 255) and frame[16, 0, 1] == round(tiny[1, 0, 1] * 255)
    atari = np.zeros((210, 160, 3), dtype=np.uint8)
    assert as_video_frame(atari).shape == (210, 160, 3)


def test_mp4_of_odd_sized_frames_is_written(tmp_path):
    import numpy as np

    from genpolicy.rollout.video import _write

    frames = [np.full((105, 81, 3), i * 20, dtype=np.uint8) for i in range(5)]  # Atari at video_scale=2
    _write(tmp_path / "odd.mp4", frames, fps=10)
    assert (tmp_path / "odd.mp4").stat().st_size > 100 and not list(tmp_path.glob("*.part*"))
