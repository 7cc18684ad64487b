"""Benchmark the ES experiments as a user runs them: whole `python -m genpolicy.fit` processes.

    python scripts/bench_es.py --experiments es_cartpole es_lunarlander --seeds 0 1 2 \
        --json assets/bench_es.json

``--experiments default`` runs the main job (`python -m genpolicy.fit` with no experiment). For each
(experiment, seed): the whole-process wall time (interpreter start to exit, W&B offline
logging included), peak RSS, and what summary.json reports (solved, test return over 10 episodes,
generations, env steps). Prints a table and writes JSON with the machine it ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def machine() -> dict:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }


def save_json(path: Path | None, result: dict) -> None:
    """Write a benchmark's result (when ``--json`` was given)."""
    if path:
        from genpolicy._io import write_json

        write_json(path, result)
        print(f"wrote {path}")


def run_one(experiment: str, seed: int, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        chosen = [] if experiment == "default" else [f"experiment={experiment}"]  # default: the main job
        cmd = [
            sys.executable,
            "-m",
            "genpolicy.fit",
            *chosen,
            f"seed={seed}",
            f"hydra.run.dir={run_dir}",
            "trainer.enable_progress_bar=false",
            *extra,
        ]
        env = {**os.environ, "WANDB_MODE": os.environ.get("WANDB_MODE", "offline")}
        log = Path(tmp) / "log.txt"
        start = time.perf_counter()
        with open(log, "w") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
            _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{log.read_text()[-3000:]}")
        rss = usage.ru_maxrss
        summary = json.loads((run_dir / "summary.json").read_text())
    return {
        "experiment": experiment,
        "seed": seed,
        "process_wall_s": round(wall, 2),
        "peak_rss_mb": round(rss / 1024, 1),
        **{
            k: summary[k]
            for k in (
                "solved",
                "eval_return_mean",
                "eval_return_std",
                "eval_episodes",
                "generations",
                "env_steps",
                "wall_s",
            )
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--experiments", nargs="+", default=["es_cartpole", "es_lunarlander"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    ap.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run")
    args = ap.parse_args()
    rows = []
    head = (
        f"{'experiment':<16}{'seed':>5}{'solved':>8}{'test return':>18}{'gens':>6}"
        f"{'env steps':>12}{'wall s':>9}{'RSS MB':>8}"
    )
    print(head, flush=True)
    for experiment in args.experiments:
        for seed in args.seeds:
            r = run_one(experiment, seed, args.overrides)
            rows.append(r)
            ret = f"{r['eval_return_mean']:.1f} ± {r['eval_return_std']:.1f}"
            print(
                f"{experiment:<16}{seed:>5}{str(r['solved']):>8}{ret:>18}{r['generations']:>6}"
                f"{r['env_steps']:>12,}{r['process_wall_s']:>9.1f}{r['peak_rss_mb']:>8.0f}",
                flush=True,
            )
    result = {"machine": machine(), "runs": rows, "date": time.strftime("%Y-%m-%d")}
    save_json(args.json, result)


if __name__ == "__main__":
    main()
