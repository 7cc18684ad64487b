"""PGEN on Bullet as a user runs it: whole `python -m genpolicy.fit` processes with CSV metrics,
then (optionally) the latent landscape of the best generator.

    python scripts/bench_pgen.py --experiment pgen_pendulum --seeds 0 1 2 --threshold 1000 \
        --json assets/bench_pgen_pendulum.json [--landscape-dir assets/pgen_pendulum_landscape] [overrides …]

Per seed: the first generation at which a generator's fitness (its mean over K latents × episodes)
reaches ``--threshold`` and the env steps spent until then (the figure PGEN's stored runs give),
the first test (mean over the fixed test latents) at or above it, the final test return and the
whole-process wall time. With ``--landscape-dir`` the first seed's best generator is swept over a
16×16 latent grid (python -m genpolicy.landscape) into that directory.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_es import machine, save_json


def first(rows: list[dict], key: str, threshold: float) -> dict | None:
    for r in rows:
        if r.get(key) not in (None, "") and float(r[key]) >= threshold:
            return {"generation": int(float(r["step"])) + 1, "env_steps": int(float(r["rollout/env_steps"]))}
    return None


def run_seed(args, seed: int, tmp: Path) -> tuple[dict, Path]:
    run_dir = tmp / f"seed{seed}"
    cmd = [
        sys.executable,
        "-m",
        "genpolicy.fit",
        f"experiment={args.experiment}",
        f"seed={seed}",
        "logger=csv",
        f"hydra.run.dir={run_dir}",
        "trainer.enable_progress_bar=false",
        *args.overrides,
    ]
    env = {**os.environ, "WANDB_MODE": "offline"}
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    summary = json.loads((run_dir / "summary.json").read_text())
    rows = [r for r in csv.DictReader(open(run_dir / "metrics.csv")) if r.get("fitness/max")]
    tests = [(int(float(r["step"])) + 1, float(r["eval/return_mean"])) for r in rows if r.get("eval/return_mean")]
    return {
        "seed": seed,
        "process_wall_s": round(wall, 1),
        "generations": summary["generations"],
        "env_steps": summary["env_steps"],
        "final_test_return": summary["eval_return_mean"],
        "final_test_episodes": summary["eval_episodes"],
        "first_fitness_at_threshold": first(rows, "fitness/max", args.threshold),
        "first_test_at_threshold": first(rows, "eval/return_mean", args.threshold),
        "best_test_return": max((t for _, t in tests), default=None),
        "tests": tests[:: max(1, len(tests) // 40)],
    }, run_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--experiment", default="pgen_pendulum")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--threshold", type=float, default=1000.0)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--landscape-dir", type=Path, default=None)
    ap.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run")
    args = ap.parse_args()
    print(
        f"{'seed':>4}{'fitness≥thr: gen':>18}{'env steps':>12}{'test≥thr: gen':>15}{'best test':>11}"
        f"{'final test':>12}{'gens':>6}{'wall s':>8}",
        flush=True,
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, seed in enumerate(args.seeds):
            r, run_dir = run_seed(args, seed, Path(tmp))
            rows.append(r)
            f, t = r["first_fitness_at_threshold"], r["first_test_at_threshold"]
            print(
                f"{seed:>4}{(f or {}).get('generation', '-'):>18}{(f or {}).get('env_steps', '-'):>12}"
                f"{(t or {}).get('generation', '-'):>15}{r['best_test_return']:>11.1f}{r['final_test_return']:>12.1f}"
                f"{r['generations']:>6}{r['process_wall_s']:>8.1f}",
                flush=True,
            )
            if args.landscape_dir and i == 0:
                best = run_dir / "checkpoints" / "best.ckpt"
                out = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "genpolicy.landscape",
                        f"ckpt_path={best}",
                        "grid=16",
                        f"hydra.run.dir={args.landscape_dir}",
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                r["landscape"] = json.loads(out.stdout.strip().splitlines()[-1])
                print(f"landscape: grid mean {r['landscape']['grid_mean']:.1f}, max {r['landscape']['grid_max']:.1f}")
    result = {
        "machine": machine(),
        "experiment": args.experiment,
        "threshold": args.threshold,
        "overrides": args.overrides,
        "runs": rows,
        "date": time.strftime("%Y-%m-%d"),
    }
    save_json(args.json, result)


if __name__ == "__main__":
    main()
