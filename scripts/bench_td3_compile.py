"""TD3 on BipedalWalker-v3, eager against ``method.update=compiled``: the time of a round of 1,000 env steps
(one update each) and of the whole process, as a user runs it.

    python scripts/bench_td3_compile.py --json assets/bench_td3_bipedal_compile.json

Each variant is one ``python -m genpolicy.fit experiment=td3_bipedal`` process of ``--rounds`` rounds
(bf16-mixed, both cores, tests off until the end). The compiled run starts from an empty inductor
cache, so its whole-process time includes compiling. Reports the median ``time/round_s`` over the
last ``--measure`` rounds (the first rounds are the 10k-step random warm-up and the compilation).
Prints a table and writes JSON with the machine it ran on.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_es import machine, save_json


def run(compile_: bool, rounds: int, seed: int, overrides: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        cmd = [
            sys.executable,
            "-m",
            "genpolicy.fit",
            "experiment=td3_bipedal",
            f"seed={seed}",
            f"generations={rounds}",
            "method.eval_every=1000",
            "logger=csv",
            "trainer.enable_progress_bar=false",
            "trainer.precision=bf16-mixed",
            f"method.update={'compiled' if compile_ else 'fused'}",
            f"hydra.run.dir={run_dir}",
            *overrides,
        ]
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(Path(tmp) / "inductor")}  # compiles from scratch
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wall = time.perf_counter() - start
        if proc.returncode:
            sys.exit(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}")
        with open(run_dir / "metrics.csv") as f:
            rows = [r for r in csv.DictReader(f) if r.get("time/round_s")]
    return {"process_wall_s": wall, "round_s": [float(r["time/round_s"]) for r in rows]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=22, help="rounds of 1,000 env steps per run")
    ap.add_argument("--measure", type=int, default=10, help="median over this many last rounds")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("overrides", nargs="*", help="extra Hydra overrides for both runs")
    args = ap.parse_args()
    print(f"{'variant':<12}{'median round s':>16}{'whole process s':>17}", flush=True)
    result = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "rounds": args.rounds,
        "command": "python -m genpolicy.fit experiment=td3_bipedal trainer.precision=bf16-mixed "
        "method.compile={false,true} (empty inductor cache)",
    }
    for name, compile_ in (("eager", False), ("compiled", True)):
        r = run(compile_, args.rounds, args.seed, args.overrides)
        measured = r["round_s"][-args.measure :]
        r["median_round_s"] = statistics.median(measured)
        result[name] = r
        print(f"{name:<12}{r['median_round_s']:>16.2f}{r['process_wall_s']:>17.1f}", flush=True)
    result["round_speedup"] = result["eager"]["median_round_s"] / result["compiled"]["median_round_s"]
    print(f"compiled rounds {result['round_speedup']:.2f}× faster")
    save_json(args.json, result)


if __name__ == "__main__":
    main()
