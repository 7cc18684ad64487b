"""DDPG on Pendulum-v1 with the rl-zoo settings, as a user runs it (whole `python -m genpolicy.fit`
processes): γ 0.98, buffer 200k, 10k random warm-up steps, Gaussian noise 0.1, lr 1e-3, 400-300
networks, batch 256, one update per env step, 20,000 env steps (experiment=ddpg_pendulum).

    python scripts/bench_ddpg.py --seeds 0 1 2 --json assets/bench_ddpg.json [--experiment td3_pendulum]

Reports per seed the whole-process wall time and the test return over 10 episodes, against the
goal (≤ 50 s and ≥ −200; Stable-Baselines3's DDPG takes ~100 s on a 2-core CPU and reaches about
−150 to −190). Prints a table and writes JSON with the machine it ran on.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from bench_es import machine, run_one, save_json

GOAL_S, GOAL_RETURN = 50.0, -200.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--experiment", default="ddpg_pendulum")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    ap.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run")
    args = ap.parse_args()
    extra = ["logger=none", "final_eval_episodes=10", *args.overrides]
    print(
        f"{'experiment':<16}{'seed':>5}{'test return (10 ep.)':>24}{'env steps':>11}{'wall s':>9}{'goal':>6}",
        flush=True,
    )
    rows = []
    for seed in args.seeds:
        r = run_one(args.experiment, seed, extra)
        r["meets_goal"] = r["process_wall_s"] <= GOAL_S and r["eval_return_mean"] >= GOAL_RETURN
        rows.append(r)
        ret = f"{r['eval_return_mean']:.1f} ± {r['eval_return_std']:.1f}"
        print(
            f"{args.experiment:<16}{seed:>5}{ret:>24}{r['env_steps']:>11,}{r['process_wall_s']:>9.1f}"
            f"{'yes' if r['meets_goal'] else 'no':>6}",
            flush=True,
        )
    summary = {
        "median_wall_s": statistics.median(r["process_wall_s"] for r in rows),
        "median_return": statistics.median(r["eval_return_mean"] for r in rows),
        "goal": {"wall_s_max": GOAL_S, "return_min": GOAL_RETURN},
        "all_meet_goal": all(r["meets_goal"] for r in rows),
    }
    print(f"median: {summary['median_wall_s']:.1f} s, return {summary['median_return']:.1f}")
    result = {
        "machine": machine(),
        "experiment": args.experiment,
        "overrides": extra,
        "runs": rows,
        **summary,
        "date": time.strftime("%Y-%m-%d"),
    }
    save_json(args.json, result)


if __name__ == "__main__":
    main()
