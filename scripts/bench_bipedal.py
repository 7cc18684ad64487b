"""TD3 and DDPG on BipedalWalker-v3 for 1M env steps (rl-zoo settings: γ 0.98, buffer 200k, 10k
warm-up steps, Gaussian noise 0.1, lr 1e-3, 400-300 networks, batch 256, one update per env step),
side by side, each on one core, with the test (10 episodes) every 20k steps.

    python scripts/bench_bipedal.py --launch --runs runs --json assets/bench_bipedal.json \
        --plot assets/bench_bipedal.png

``--launch`` starts both runs (or resumes each from ``RUN/checkpoints/last.ckpt``, replay buffer
included, when a previous launch was cut off) and waits; without it the script only summarises the
run dirs. Per algorithm: the env steps and training wall time (``time/elapsed_s``: rounds and tests,
summed over resumes) at which the 10-episode test first reached the goal (≥ 250), the best and
final tests. Prints a table, writes JSON with the machine, and plots test return against env steps.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
from pathlib import Path

from bench_es import machine, save_json

GOAL = 250.0
STEPS = 1_000_000


def launch(algo: str, run_dir: Path, seed: int, precision: str, overrides: list[str]) -> subprocess.Popen:
    last = run_dir / "checkpoints" / "last.ckpt"
    cmd = [
        sys.executable,
        "-m",
        "genpolicy.fit",
        f"experiment={algo}_bipedal",
        f"seed={seed}",
        "data.save_replay=true",
        "logger=csv",
        "trainer.enable_progress_bar=false",
        f"trainer.precision={precision}",
        f"hydra.run.dir={run_dir}",
        *overrides,
    ]
    if last.is_file():
        cmd.append(f"resume={last}")
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    log = open(run_dir.parent / f"{run_dir.name}.log", "a")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # one core per run
    print(("resuming " if last.is_file() else "starting ") + " ".join(cmd), flush=True)
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)


def summarise(algo: str, run_dir: Path) -> dict:
    path = run_dir / "metrics.csv"
    if not path.is_file():
        raise SystemExit(f"{path} not found: launch the run first (--launch)")
    rows = list(csv.DictReader(path.open(newline="")))
    by_steps = {
        int(float(r["rollout/env_steps"])): (float(r["eval/return_mean"]), float(r["time/elapsed_s"]))
        for r in rows
        if r.get("eval/return_mean") and r.get("time/elapsed_s")
    }  # a resumed run may repeat rows
    tests = [(steps, ret, t) for steps, (ret, t) in sorted(by_steps.items())]
    if not tests:
        raise SystemExit(f"{path} has no test rows yet")
    first = next(((s, ret, t) for s, ret, t in tests if ret >= GOAL), None)
    steps, final, elapsed = tests[-1]
    return {
        "algo": algo,
        "env_steps": steps,
        "elapsed_s": round(elapsed, 1),
        "final_test": round(final, 1),
        "best_test": round(max(ret for _, ret, _ in tests), 1),
        "goal_steps": first and first[0],
        "goal_elapsed_s": first and round(first[2], 1),
        "meets_goal": first is not None and first[0] <= STEPS,
        "curve": [{"env_steps": s, "test": round(ret, 2), "elapsed_s": round(t, 1)} for s, ret, t in tests],
    }


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for r in rows:
        ax.plot([c["env_steps"] for c in r["curve"]], [c["test"] for c in r["curve"]], label=r["algo"].upper())
    ax.axhline(GOAL, color="grey", ls="--", lw=1, label=f"goal {GOAL:g}")
    ax.set_xlabel("env steps")
    ax.set_ylabel("test return (10 episodes)")
    ax.set_title("BipedalWalker-v3")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--algos", nargs="+", default=["td3", "ddpg"], choices=["td3", "ddpg"])
    ap.add_argument("--runs", type=Path, default=Path("runs"), help="run dirs go here: RUNS/{algo}_bipedal_seed{seed}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--precision", default="bf16-mixed", help="trainer.precision (bf16-mixed: AMX / tensor cores)")
    ap.add_argument("--launch", action="store_true", help="start or resume the runs and wait for them")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--plot", type=Path, default=None)
    ap.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run")
    args = ap.parse_args()
    dirs = {a: args.runs / f"{a}_bipedal_seed{args.seed}" for a in args.algos}
    if args.launch:
        procs = {a: launch(a, d, args.seed, args.precision, args.overrides) for a, d in dirs.items()}
        failed = [a for a, p in procs.items() if p.wait() != 0]
        if failed:
            raise SystemExit(f"runs failed: {failed} (see {args.runs}/*.log)")
    rows = [summarise(a, d) for a, d in dirs.items()]
    print(
        f"{'algo':<6}{'env steps':>11}{'wall h':>8}{'final test':>12}{'best test':>11}"
        f"{'≥250 at steps':>15}{'≥250 at h':>11}"
    )
    for r in rows:
        at = f"{r['goal_steps']:,}" if r["goal_steps"] else "—"
        at_h = f"{r['goal_elapsed_s'] / 3600:.2f}" if r["goal_elapsed_s"] else "—"
        print(
            f"{r['algo']:<6}{r['env_steps']:>11,}{r['elapsed_s'] / 3600:>8.2f}{r['final_test']:>12.1f}"
            f"{r['best_test']:>11.1f}{at:>15}{at_h:>11}"
        )
    save_json(
        args.json,
        {
            "machine": machine(),
            "env": "BipedalWalker-v3",
            "seed": args.seed,
            "precision": args.precision,
            "goal": {"test_return_min": GOAL, "env_steps_max": STEPS},
            "runs": rows,
            "date": time.strftime("%Y-%m-%d"),
        },
    )
    if args.plot:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
