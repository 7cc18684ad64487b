"""Evaluation throughput with 1 and N DDP processes on one machine (Lightning's own DDP strategy).

    python scripts/bench_scaling.py --json assets/bench_scaling.json

Runs `python -m genpolicy.fit experiment=es_lunarlander` for a fixed number of generations with
`trainer.devices=N trainer.strategy=ddp` (gloo on CPU). Same seed → every run does exactly the same
work (DDP runs are bit-identical to one process), so throughput = training env steps / Σ generation
wall time (rank 0's, which includes waiting for the slowest rank) compares like with like. Also
reports what the all_gather moved and cost per generation, and projects N machines from it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(processes: int, popsize: int, args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "genpolicy.fit",
            f"experiment={args.experiment}",
            f"seed={args.seed}",
            f"strategy.popsize={popsize}",
            f"generations={args.generations}",
            "goal_stopping.reward_goal=null",
            f"method.eval_every={10**6}",
            "logger=csv",
            "final_eval_episodes=1",
            f"hydra.run.dir={tmp}/run",
            "trainer.enable_progress_bar=false",
            "trainer.accelerator=cpu",
            f"trainer.devices={processes}",
        ]
        if processes > 1:
            cmd.append(f"trainer.strategy={args.strategy}")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-3000:])
        rows = [r for r in csv.DictReader(open(Path(tmp) / "run" / "metrics.csv")) if r.get("time/generation_s")]
    before = float(rows[args.skip - 1]["rollout/env_steps"]) if args.skip else 0.0
    rows = rows[args.skip :]  # the first generations include warm-up (process start, env creation)
    total = float(rows[-1]["rollout/env_steps"]) - before  # cumulative counter; no tests run in between
    wall = sum(float(r["time/generation_s"]) for r in rows)
    return {
        "popsize": popsize,
        "processes": processes,
        "generations": len(rows),
        "env_steps": int(total),
        "wall_s": round(wall, 3),
        "steps_per_s": total / wall,
        "gather_s_per_gen": sum(float(r["ddp/gather_s"]) for r in rows) / len(rows),
        "gather_bytes_per_rank": float(rows[-1]["ddp/gather_bytes"]),
    }


def project(data: dict, latency_s: float, bandwidth: float, ranks=(2, 8, 32, 128, 512, 1440)) -> list[dict]:
    """Speed-up for R ranks from the measured runs of the largest population: T(R) = T1 / (R · e) + C(R),
    T1 = one process's generation time, e = the measured 2-process efficiency (speed-up / 2), C(R) = a
    ring all_gather of the per-generation bytes: (R − 1) · latency + (R − 1) / R · bytes / bandwidth."""
    runs = data["runs"]
    popsize = max(r["popsize"] for r in runs)
    one = next(r for r in runs if r["popsize"] == popsize and r["processes"] == 1)
    two = max((r for r in runs if r["popsize"] == popsize), key=lambda r: r["processes"])
    t1 = one["wall_s"] / one["generations"]
    eff = two["speedup"] / two["processes"]
    total_bytes = two["gather_bytes_per_rank"] * two["processes"]  # ≈ 8 · C · (P + 1), independent of R
    rows = []
    for r in ranks:
        comm = (r - 1) * latency_s + (r - 1) / r * total_bytes / bandwidth
        t = t1 / (r * eff) + comm
        rows.append({"ranks": r, "generation_s": t, "comm_s": comm, "speedup": t1 / t})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--experiment", default="es_lunarlander")
    ap.add_argument("--popsize", type=int, nargs="+", default=[64, 256, 512])
    ap.add_argument("--generations", type=int, default=12)
    ap.add_argument("--skip", type=int, default=3, help="warm-up generations left out")
    ap.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--strategy", default="ddp")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--project", type=Path, default=None, help="only print the projection for this JSON (and add it)")
    ap.add_argument("--latency-us", type=float, default=50.0, help="per-hop network latency for the projection")
    ap.add_argument("--bandwidth-gbps", type=float, default=10.0, help="network bandwidth for the projection")
    args = ap.parse_args()
    if args.project:
        data = json.loads(args.project.read_text())
        rows = project(data, args.latency_us * 1e-6, args.bandwidth_gbps * 1e9 / 8)
        print(
            f"projection (population {max(r['popsize'] for r in data['runs'])}, latency {args.latency_us:g} µs, "
            f"{args.bandwidth_gbps:g} Gbit/s):"
        )
        print(f"{'ranks':>8}{'generation ms':>15}{'comm ms':>10}{'speed-up':>10}")
        for r in rows:
            print(f"{r['ranks']:>8}{r['generation_s'] * 1e3:>15.2f}{r['comm_s'] * 1e3:>10.3f}{r['speedup']:>9.1f}×")
        data["projection"] = {"latency_us": args.latency_us, "bandwidth_gbps": args.bandwidth_gbps, "rows": rows}
        args.project.write_text(json.dumps(data, indent=2) + "\n")
        return
    print(
        f"{args.experiment}, {args.generations} generations per run (first {args.skip} skipped), "
        f"{os.cpu_count()} cores, strategy={args.strategy}"
    )
    print(
        f"{'population':>10}{'processes':>10}{'env steps/s':>14}{'speed-up':>10}{'gather ms/gen':>15}{'bytes/rank':>12}"
    )
    results, speedups = [], {}
    for popsize in args.popsize:
        base = None
        for n in args.processes:
            r = run(n, popsize, args)
            results.append(r)
            base = base or r["steps_per_s"]
            r["speedup"] = r["steps_per_s"] / base
            print(
                f"{popsize:>10}{n:>10}{r['steps_per_s']:>14,.0f}{r['speedup']:>9.2f}×"
                f"{r['gather_s_per_gen'] * 1e3:>15.2f}{r['gather_bytes_per_rank']:>12,.0f}",
                flush=True,
            )
        speedups[popsize] = results[-1]["speedup"]
    out = {
        "runs": results,
        "speedup": speedups,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "date": time.strftime("%Y-%m-%d"),
    }
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
