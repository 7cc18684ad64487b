"""Reward per step over a lifetime, averaged over fresh actors, for an evolved MetaRL rule against its
two baselines on the same start states and initial actors (the rule switched off; a random rule).

    python -m genpolicy.evaluate ckpt_path=assets/checkpoints/metarl_pendulum.ckpt episodes=100 \
        trace=true hydra.run.dir=runs/metarl_eval     # writes runs/metarl_eval/trace.json
    python scripts/plot_metarl.py runs/metarl_eval/trace.json --plot assets/metarl_pendulum_reward.png

The curves are smoothed with a centred moving average of ``--window`` steps.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

LABELS = {
    "eval": "evolved rule (actors learn)",
    "frozen": "rule off (frozen random actors)",
    "random_rule": "random rule",
}


def smooth(values: list[float], window: int) -> list[float]:
    half, out = window // 2, []
    for t in range(len(values)):
        part = values[max(0, t - half) : t + half + 1]
        out.append(sum(part) / len(part))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trace", type=Path, help="trace.json written by evaluate trace=true")
    ap.add_argument("--plot", type=Path, required=True)
    ap.add_argument("--window", type=int, default=25)
    ap.add_argument("--title", default=None)
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = json.loads(args.trace.read_text())
    fig, ax = plt.subplots(figsize=(7, 3.6), constrained_layout=True)
    for name, curve in data["reward_per_step"].items():
        key = "last_quarter_return_mean" if name == "eval" else f"{name}_last_quarter_return_mean"
        total = data.get(f"{name}_return_mean", data.get("eval_return_mean"))
        label = f"{LABELS.get(name, name)}: {total:,.0f} (last quarter {data[key]:,.0f})"
        ax.plot(smooth(curve, args.window), label=label)
    ax.set_xlabel("step of the lifetime")
    ax.set_ylabel("reward per step (mean over actors)")
    ax.set_ylim(0, None)
    ax.set_title(
        args.title or f"{data.get('env', 'MetaRL')}: return of one lifetime, {data.get('episodes', '')} fresh actors"
    )
    ax.legend(fontsize=8, loc="lower right")
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.plot, dpi=110)
    print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
