"""How much variation can I buy for how much return? Train the GPV cVAE at several β (the KL
weight) from one trained actor, roll out n variations of each, and tabulate and plot β against the
variations' return and diversity.

    python scripts/sweep_beta.py --experiment gpv_pendulum --actor-ckpt RUN/checkpoints/last.ckpt \
        --betas 0 0.1 0.5 1 2 --n 16 --json assets/sweep_beta_pendulum.json --plot assets/sweep_beta_pendulum.png

Each β is a whole `python -m genpolicy.fit` run, then `python -m genpolicy.variations` on its
checkpoint (the same commands a user runs).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_es import machine, save_json


def run(cmd: list[str]) -> str:
    env = {**os.environ, "WANDB_MODE": os.environ.get("WANDB_MODE", "offline")}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return proc.stdout


def one_beta(args, beta: float, tmp: Path) -> dict:
    run_dir = tmp / f"beta_{beta:g}"
    start = time.perf_counter()
    run(
        [
            sys.executable,
            "-m",
            "genpolicy.fit",
            f"experiment={args.experiment}",
            f"method.actor_ckpt={args.actor_ckpt}",
            f"method.beta={beta}",
            f"seed={args.seed}",
            f"hydra.run.dir={run_dir}",
            "logger=none",
            "trainer.enable_progress_bar=false",
            *args.overrides,
        ]
    )
    train_s = time.perf_counter() - start
    out = run(
        [
            sys.executable,
            "-m",
            "genpolicy.variations",
            f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}",
            f"n={args.n}",
            f"episodes={args.episodes}",
            f"hydra.run.dir={run_dir / 'variations'}",
            "gif=0",
        ]
    )
    v = json.loads(out.strip().splitlines()[-1])
    return {
        "beta": beta,
        "train_s": round(train_s, 1),
        **{
            k: v[k]
            for k in (
                "return_median",
                "return_mean",
                "return_min",
                "return_max",
                "actor_return",
                "median_fraction_of_actor",
                "mean_pairwise_action_distance",
                "descriptor_std",
                "returns",
            )
        },
    }


def plot(rows: list[dict], path: Path, env: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    betas = [r["beta"] for r in rows]
    xs = [max(b, 1e-3) for b in betas]  # β = 0 drawn at 10⁻³ on the log axis
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(xs, [r["return_median"] for r in rows], "o-", color="tab:blue", label="median variation return")
    ax.fill_between(
        xs,
        [r["return_min"] for r in rows],
        [r["return_max"] for r in rows],
        color="tab:blue",
        alpha=0.15,
        label="min–max over variations",
    )
    ax.axhline(rows[0]["actor_return"], color="gray", ls="--", label="actor (DDPG/TD3)")
    ax.set_xscale("log")
    ax.set_xlabel("β (KL weight; 0 shown at 10⁻³)")
    ax.set_ylabel("return")
    ax2 = ax.twinx()
    ax2.plot(xs, [r["mean_pairwise_action_distance"] for r in rows], "s-", color="tab:orange")
    ax2.set_ylabel("diversity: mean pairwise action distance", color="tab:orange")
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title(f"{env}: variation vs return")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--experiment", default="gpv_pendulum")
    ap.add_argument("--actor-ckpt", required=True)
    ap.add_argument("--betas", nargs="+", type=float, default=[0.0, 0.1, 0.5, 1.0, 2.0])
    ap.add_argument("--n", type=int, default=16, help="variations per β")
    ap.add_argument("--episodes", type=int, default=1, help="episodes per variation")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--plot", type=Path, default=None)
    ap.add_argument("--keep", type=Path, default=None, help="keep each β's GPV run dir here (default: a temp dir)")
    ap.add_argument("overrides", nargs="*", help="extra Hydra overrides for every GPV run")
    args = ap.parse_args()
    print(
        f"{'β':>6}{'median return':>15}{'of actor':>10}{'min':>10}{'max':>10}{'diversity':>11}{'train s':>9}",
        flush=True,
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for beta in args.betas:
            r = one_beta(args, beta, args.keep or Path(tmp))
            rows.append(r)
            frac = "-" if r["median_fraction_of_actor"] is None else f"{100 * r['median_fraction_of_actor']:.0f}%"
            print(
                f"{beta:>6g}{r['return_median']:>15.1f}{frac:>10}{r['return_min']:>10.1f}{r['return_max']:>10.1f}"
                f"{r['mean_pairwise_action_distance']:>11.3f}{r['train_s']:>9.1f}",
                flush=True,
            )
    print(f"actor return: {rows[0]['actor_return']:.1f}")
    result = {
        "machine": machine(),
        "experiment": args.experiment,
        "actor_ckpt": str(args.actor_ckpt),
        "n": args.n,
        "episodes": args.episodes,
        "rows": rows,
        "date": time.strftime("%Y-%m-%d"),
    }
    save_json(args.json, result)
    if args.plot:
        plot(rows, args.plot, args.experiment)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
