"""MetaRL speed and memory: one whole step (env + actor + rule) for 1k, 10k and 100k individuals.

    python scripts/bench_metarl.py [--populations 1000 10000 100000] [--steps 40] [--threads 2]
        [--device cpu|cuda] [--kernels auto compiled] [--original DIR] [--json OUT]

Each population runs in a fresh process: it imports torch and torch_geometric (the baseline RSS),
builds the rule population and its MetaPendulum lifetimes, plays a warm-up (the kernel's one-off
build or torch.compile's compilation, whose memory is not counted: the peak is reset after it), then
times ``--steps`` steps of the episode loop. ``--kernels``: the rule's kernels to time (policy.kernel;
the first is the headline, ``populations`` in the JSON, the others go to ``by_kernel``).
``--original DIR`` times ASFaust/MetaRL's own code (a checkout of it, never
committed here) on the same machine in the same run. Prints a table; ``--json`` writes
``{"populations": {"10000": {"ms_per_step", "peak_rss_mb", "baseline_rss_mb"}, …}, "original": …,
"machine": …}``. CUDA rows are skipped cleanly without a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def _peak_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:  # Linux: VmHWM restarts from the current RSS
        f.write("5")


def child_genpolicy(n: int, steps: int, threads: int, device: str, kernel: str) -> dict:
    import torch
    import torch_geometric  # noqa: F401 - part of the baseline

    torch.set_num_threads(threads)
    baseline = _rss_mb()
    from genpolicy.envs.meta import meta_spec
    from genpolicy.policies.metarl import MetaRLPolicy
    from genpolicy.rollout import PopulationEvaluator

    spec = meta_spec("MetaPendulum-v0", max_episode_steps=10 * steps)
    policy = MetaRLPolicy(3, "box", 1, (-1.0,), (1.0,), kernel=kernel).to(device)
    rules = torch.randn(n, policy.num_params, generator=torch.Generator().manual_seed(0)) * 0.1
    evaluator = PopulationEvaluator(spec, chunk_size=n, torch_threads=threads)
    seeds = torch.zeros(n, dtype=torch.int64)  # as in training: every rule plays the same lifetime
    evaluator.evaluate(policy.bind, rules, 1, seeds, device, max_steps=3)  # compiles
    _reset_peak()
    start = time.perf_counter()
    result = evaluator.evaluate(policy.bind, rules, 1, seeds, device, max_steps=steps)
    if device == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    row = {
        "ms_per_step": 1e3 * wall / steps,
        "peak_rss_mb": _peak_mb(),
        "baseline_rss_mb": baseline,
        "env_steps": result.env_steps,
        "kernel": policy.resolved_kernel(device),
    }
    if device == "cuda":
        row["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return row


def child_original(n: int, steps: int, threads: int, root: str) -> dict:
    """ASFaust/MetaRL's own loop (ga/GA.py evaluate), timed over ``steps`` steps on the CPU."""
    import torch
    import torch_geometric  # noqa: F401 - the same baseline as genpolicy's rows

    torch.set_num_threads(threads)
    baseline = _rss_mb()
    sys.path.insert(0, root)
    import types

    sys.modules.setdefault("cv2", types.ModuleType("cv2"))  # its envs import OpenCV only to render
    from environments import get_env
    from networks import LearningRule, get_actor
    from utils.config import Config

    config = Config.load(str(Path(root) / "configs" / "base.yaml"))
    config.population_size, config.device = n, "cpu"
    params = LearningRule.get_random_params(
        n, config.signal_dim, config.state_dim, config.node_info_dim, config.init_std, "cpu"
    )
    env, actors = get_env(config), get_actor(params, config)

    def step():
        actions = actors.forward(env.get_state()) * config.actor_force
        env.torque = actions.squeeze()
        env.step_rk4(config.env_step_size)
        actors.train(env.get_reward())

    with torch.no_grad():
        step()
        _reset_peak()
        start = time.perf_counter()
        for _ in range(steps):
            step()
    return {
        "ms_per_step": 1e3 * (time.perf_counter() - start) / steps,
        "peak_rss_mb": _peak_mb(),
        "baseline_rss_mb": baseline,
    }


def _run_child(args: list[str]) -> dict | None:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "child failed", file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--populations", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--kernels", nargs="+", default=["auto"], choices=["auto", "native", "compiled", "eager"])
    ap.add_argument("--original", help="a checkout of ASFaust/MetaRL to time beside (same machine, same run)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--child", nargs=3, metavar=("KIND", "N", "KERNEL"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, n = args.child[0], int(args.child[1])
        row = (
            child_original(n, args.steps, args.threads, args.original)
            if kind == "original"
            else child_genpolicy(n, args.steps, args.threads, args.device, args.child[2])
        )
        print(json.dumps(row))
        return
    sys.path.insert(0, str(HERE))
    from bench_es import machine, save_json

    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print("no CUDA device: nothing to measure (skipped)")
            return
    common = ["--steps", str(args.steps), "--threads", str(args.threads), "--device", args.device]
    results, original, by_kernel = {}, {}, {k: {} for k in args.kernels[1:]}
    print(
        f"{'individuals':>11} {'kernel':>9} {'genpolicy ms/step':>18} {'peak−base MB':>13} {'original ms/step':>17} "
        f"{'peak−base MB':>13} {'ratio':>6}"
    )
    for n in args.populations:
        for kernel in args.kernels[1:]:  # the comparisons first, the headline beside the original
            row = _run_child(["--child", "genpolicy", str(n), kernel, *common])
            if row is not None:
                by_kernel[kernel][str(n)] = row
                grown = row["peak_rss_mb"] - row["baseline_rss_mb"]
                print(f"{n:11d} {row['kernel']:>9} {row['ms_per_step']:18.1f} {grown:13.0f}")
        row = _run_child(["--child", "genpolicy", str(n), args.kernels[0], *common])
        if row is None:
            continue
        results[str(n)] = row
        orig = (
            _run_child(["--child", "original", str(n), "-", *common, "--original", args.original])
            if args.original and args.device == "cpu"
            else None
        )
        if orig is not None:
            original[str(n)] = orig
        o_ms = f"{orig['ms_per_step']:17.1f}" if orig else f"{'—':>17}"
        o_mb = f"{orig['peak_rss_mb'] - orig['baseline_rss_mb']:13.0f}" if orig else f"{'—':>13}"
        ratio = f"{orig['ms_per_step'] / row['ms_per_step']:6.2f}" if orig else f"{'—':>6}"
        grown = row["peak_rss_mb"] - row["baseline_rss_mb"]
        print(f"{n:11d} {row['kernel']:>9} {row['ms_per_step']:18.1f} {grown:13.0f} {o_ms} {o_mb} {ratio}")
    info = machine()
    info["threads"] = args.threads
    print(f"machine: {info}")
    if args.json:
        save_json(
            Path(args.json),
            {
                "populations": results,
                "by_kernel": by_kernel or None,
                "original": original or None,
                "steps": args.steps,
                "device": args.device,
                "machine": info,
            },
        )


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    main()
