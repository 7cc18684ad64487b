"""The ES learning curve on Pong beside pytorch-es's: batch mean, best member and the centre's test
return against training episodes, from one or more ``metrics.csv`` (a run resumed from last.ckpt
writes a new run directory; pass them in order).

    python scripts/plot_atari_curve.py runs/es_pong/*/metrics.csv --popsize 16 \
        --json assets/es_pong_curve.json --plot assets/es_pong_curve.png

Episodes count every episode a generation plays: ``popsize`` members plus the centre. pytorch-es's
points (its README: 24 h on 12 cores, population 10) are drawn as ranges.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from bench_es import machine, save_json

# pytorch-es on PongDeterministic-v4: (episodes, lowest, highest batch mean)
PYTORCH_ES = [(2000, -21.0, -21.0), (6000, -20.0, -18.0), (8000, -20.0, -18.0), (16000, -10.0, -8.0)]
PYTORCH_ES_BEST = (16000, 7.0)


def read(paths: list[Path], popsize: int) -> list[dict]:
    """One row per generation (the last run's row wins where runs overlap after a resume)."""
    rows: dict[int, dict] = {}
    tests: dict[int, float] = {}
    for path in paths:
        for r in csv.DictReader(open(path)):
            gen = int(float(r["step"]))
            if r.get("fitness/mean"):
                rows[gen] = {
                    "generation": gen,
                    "episodes": (gen + 1) * (popsize + 1),
                    "batch_mean": float(r["fitness/mean"]),
                    "best": float(r["fitness/max"]),
                    "centre": float(r["es/centre_fitness"]),
                    "wall_s": float(r["time/generation_s"]),
                    "episode_length": float(r["rollout/episode_length"]),
                }
            if r.get("eval/return_mean"):
                tests[gen] = float(r["eval/return_mean"])
    out = [rows[g] for g in sorted(rows)]
    for row in out:
        row["test"] = tests.get(row["generation"])
    return out


def milestones(rows: list[dict], window: int = 10) -> dict:
    """Batch mean (mean over ``window`` generations) and the best member so far, at 2k-episode marks."""
    marks = {}
    for target in range(2000, rows[-1]["episodes"] + 1, 2000):
        upto = [r for r in rows if r["episodes"] <= target]
        last = upto[-window:]
        marks[target] = {
            "batch_mean": round(sum(r["batch_mean"] for r in last) / len(last), 2),
            "best_so_far": max(r["best"] for r in upto),
            "wall_h": round(sum(r["wall_s"] for r in upto) / 3600, 2),
        }
    return marks


def plot(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ep = [r["episodes"] for r in rows]
    ax.plot(ep, [r["batch_mean"] for r in rows], lw=0.8, alpha=0.5, label="batch mean")
    smooth = [
        sum(r["batch_mean"] for r in rows[max(0, i - 9) : i + 1]) / len(rows[max(0, i - 9) : i + 1])
        for i in range(len(rows))
    ]
    ax.plot(ep, smooth, lw=2, label="batch mean (10 generations)")
    ax.plot(ep, [r["best"] for r in rows], ".", ms=2, alpha=0.6, label="best member")
    tested = [r for r in rows if r["test"] is not None]
    ax.plot([r["episodes"] for r in tested], [r["test"] for r in tested], "k^", ms=3, label="test (centre)")
    for e, lo, hi in PYTORCH_ES:
        ax.plot([e, e], [lo - 0.15, hi + 0.15], color="tab:red", lw=4, alpha=0.6)
    ax.plot([], [], color="tab:red", lw=4, alpha=0.6, label="pytorch-es batch mean")
    ax.plot(*PYTORCH_ES_BEST, "r*", ms=8, label="pytorch-es best member")
    ax.set_xlabel("training episodes")
    ax.set_ylabel("return")
    ax.set_ylim(-21.5, 21.5)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("metrics", nargs="+", type=Path)
    ap.add_argument("--popsize", type=int, default=16)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--plot", type=Path, default=None)
    args = ap.parse_args()
    rows = read(args.metrics, args.popsize)
    marks = milestones(rows)
    wall_h = sum(r["wall_s"] for r in rows) / 3600
    m = machine()
    print(f"{'episodes':>9} {'batch mean':>11} {'best so far':>12} {'wall h':>7}")
    for target, v in marks.items():
        print(f"{target:>9} {v['batch_mean']:>11} {v['best_so_far']:>12} {v['wall_h']:>7}")
    if args.plot:
        plot(
            rows,
            args.plot,
            f"experiment=es_pong: {rows[-1]['episodes']:,} episodes, {wall_h:.1f} h on {m['cores']} cores ({m['cpu']})",
        )
    save_json(
        args.json,
        {
            "machine": m,
            "popsize": args.popsize,
            "milestones": marks,
            "generations": rows,
            "pytorch_es": {"batch_mean": PYTORCH_ES, "best": PYTORCH_ES_BEST},
        },
    )


if __name__ == "__main__":
    main()
