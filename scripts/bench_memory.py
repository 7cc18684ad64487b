"""Peak memory of one ES generation with a huge population (the chunked, lazily-built evaluation).

    python scripts/bench_memory.py --json assets/bench_memory.json

Runs `python -m genpolicy.fit experiment=es_cartpole strategy.popsize=P generations=G` as a whole
process for each population (and chunk-size override) and records its peak RSS (wait4) and time.
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


def run(popsize: int, generations: int, chunk: int | None, hidden: list[int]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "genpolicy.fit",
            "experiment=es_cartpole",
            f"strategy.popsize={popsize}",
            f"generations={generations}",
            "goal_stopping.reward_goal=null",
            "logger=csv",
            "final_eval_episodes=10",
            f"policy.hidden=[{','.join(map(str, hidden))}]",
            f"hydra.run.dir={tmp}/run",
            "trainer.enable_progress_bar=false",
        ] + ([f"data.chunk_size={chunk}"] if chunk else [])
        start = time.perf_counter()
        with open(Path(tmp) / "log", "w") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError((Path(tmp) / "log").read_text()[-3000:])
        summary = json.loads((Path(tmp) / "run" / "summary.json").read_text())
    return {
        "popsize": popsize,
        "hidden": hidden,
        "chunk_size": chunk or "auto",
        "generations": generations,
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "process_wall_s": round(wall, 1),
        "env_steps": summary["env_steps"],
        "steps_per_s": round(summary["env_steps"] / summary["wall_s"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--popsize", type=int, nargs="+", default=[65536])
    ap.add_argument("--hidden", nargs="+", default=["32x32", "64x64"], help="MLP hidden sizes, e.g. 32x32 64x64")
    ap.add_argument("--chunk", type=int, nargs="+", default=[0], help="chunk-size overrides (0 = automatic)")
    ap.add_argument("--generations", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    rows = []
    print(f"{'popsize':>8}{'MLP':>8}{'chunk':>8}{'peak RSS MB':>13}{'wall s':>8}{'env steps':>12}{'steps/s':>10}")
    for p in args.popsize:
        for hidden in ([int(h) for h in spec.split("x")] for spec in args.hidden):
            for c in args.chunk:
                r = run(p, args.generations, c or None, hidden)
                rows.append(r)
                print(
                    f"{p:>8}{'-'.join(map(str, hidden)):>8}{str(r['chunk_size']):>8}{r['peak_rss_mb']:>13,.0f}"
                    f"{r['process_wall_s']:>8.1f}{r['env_steps']:>12,}{r['steps_per_s']:>10,}",
                    flush=True,
                )
    out = {
        "runs": rows,
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "date": time.strftime("%Y-%m-%d"),
    }
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
