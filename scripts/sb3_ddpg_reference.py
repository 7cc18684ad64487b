"""Reference point for scripts/bench_ddpg.py: Stable-Baselines3's DDPG on Pendulum-v1 with the same
rl-zoo settings (γ 0.98, buffer 200k, 10k random warm-up steps, Gaussian noise 0.1 in units of half
the action range, lr 1e-3, 400-300 networks, batch 256, one update per env step, 20,000 env steps).

Optional: it needs `pip install stable-baselines3 gymnasium` (best in a separate virtualenv with a
CPU torch); SB3 is not a genpolicy dependency.

    python scripts/sb3_ddpg_reference.py --seeds 0 1 2 [--threads N] --json assets/bench_sb3_ddpg.json

Each seed runs in its own process (this script re-launched), timed from start to exit as a user
running it would see it; then the test return over 10 deterministic episodes. Prints a table and
writes JSON with the machine it ran on.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_es import machine, save_json

SETTINGS = {
    "env": "Pendulum-v1",
    "gamma": 0.98,
    "buffer_size": 200_000,
    "learning_starts": 10_000,
    "noise_std": 0.1,
    "learning_rate": 1e-3,
    "net_arch": [400, 300],
    "batch_size": 256,
    "train_freq": 1,
    "gradient_steps": 1,
    "total_timesteps": 20_000,
    "eval_episodes": 10,
}


def train_and_eval(seed: int, threads: int | None) -> dict:
    """One run (in the child process): train, evaluate, return the numbers."""
    import numpy as np
    import torch
    from stable_baselines3 import DDPG
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.noise import NormalActionNoise

    if threads:
        torch.set_num_threads(threads)
    s = SETTINGS
    env = make_vec_env(s["env"], seed=seed)
    n_actions = env.action_space.shape[0]
    model = DDPG(
        "MlpPolicy",
        env,
        gamma=s["gamma"],
        buffer_size=s["buffer_size"],
        learning_starts=s["learning_starts"],
        learning_rate=s["learning_rate"],
        action_noise=NormalActionNoise(np.zeros(n_actions), s["noise_std"] * np.ones(n_actions)),
        policy_kwargs={"net_arch": s["net_arch"]},
        batch_size=s["batch_size"],
        train_freq=s["train_freq"],
        gradient_steps=s["gradient_steps"],
        seed=seed,
        device="cpu",
    )
    start = time.perf_counter()
    model.learn(total_timesteps=s["total_timesteps"])
    train_s = time.perf_counter() - start
    eval_env = make_vec_env(s["env"], seed=seed + 10_000)
    mean, std = evaluate_policy(model, eval_env, n_eval_episodes=s["eval_episodes"], deterministic=True)
    return {
        "seed": seed,
        "eval_return_mean": float(mean),
        "eval_return_std": float(std),
        "train_s": round(train_s, 2),
        "torch_threads": torch.get_num_threads(),
    }


def run_seed(seed: int, threads: int | None) -> dict:
    """Re-launch this script for one seed and time the whole process."""
    cmd = [sys.executable, __file__, "--child", str(seed)] + (["--threads", str(threads)] if threads else [])
    start = time.perf_counter()
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "process_wall_s": round(wall, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        print(json.dumps(train_and_eval(args.child, args.threads)))
        return
    import gymnasium
    import stable_baselines3

    print(f"{'seed':>5}{'test return (10 ep.)':>24}{'threads':>9}{'train s':>9}{'wall s':>9}", flush=True)
    rows = []
    for seed in args.seeds:  # one after another: runs in parallel would share the cores
        r = run_seed(seed, args.threads)
        rows.append(r)
        ret = f"{r['eval_return_mean']:.1f} ± {r['eval_return_std']:.1f}"
        print(f"{seed:>5}{ret:>24}{r['torch_threads']:>9}{r['train_s']:>9.1f}{r['process_wall_s']:>9.1f}", flush=True)
    summary = {
        "median_wall_s": statistics.median(r["process_wall_s"] for r in rows),
        "median_return": statistics.median(r["eval_return_mean"] for r in rows),
    }
    print(f"median: {summary['median_wall_s']:.1f} s, return {summary['median_return']:.1f}")
    result = {
        "machine": {
            **machine(),
            "stable_baselines3": stable_baselines3.__version__,
            "gymnasium": gymnasium.__version__,
        },
        "settings": SETTINGS,
        "threads": args.threads,
        "runs": rows,
        **summary,
        "date": time.strftime("%Y-%m-%d"),
    }
    save_json(args.json, result)


if __name__ == "__main__":
    main()
