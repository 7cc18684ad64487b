"""Peer reference for the default job (`python -m genpolicy.fit`, CartPole-v1): EvoTorch's PGPE with
ClipUp, as in EvoTorch's neuroevolution tutorial (docs/user_guide/neuroevolution.md): GymNE on
CartPole-v1, a linear policy `Linear(obs_length, act_length)` (argmax over its 2 outputs), popsize 50,
radius_init 2.25, center_learning_rate 0.2, stdev_learning_rate 0.1, PGPE's defaults otherwise
(ClipUp with max_speed 2 x 0.2, momentum 0.9; symmetric sampling; centered ranking), one episode per
solution, num_actors=1 (EvoTorch drops that to 0: no Ray, everything in the one process).

After every generation the centre (the mean of the search distribution) is tested over 10 fresh
episodes on a separate CartPole-v1 env (seeded once with seed + 10,000, then reset unseeded, so every
test sees new start states and the tests leave the search's env untouched); the run stops when that
test's mean return is >= 475 (solved) or after --max-generations.

Optional: it needs EvoTorch, which is not a genpolicy dependency (and pulls Ray, pandas, matplotlib):
keep it out of genpolicy's venv and use a separate one with a CPU torch:

    python3 -m venv /path/to/peer-venv
    /path/to/peer-venv/bin/pip install torch==2.13.0 evotorch==0.6.1 'gymnasium[classic-control]'
    /path/to/peer-venv/bin/python scripts/evotorch_reference.py --seeds 0 1 2 \
        --json assets/bench_evotorch_cartpole.json

Each seed runs in its own process (this script re-launched), timed from the parent around the
subprocess: interpreter start, imports, the search and the tests, to exit, as a user would see it.
Reported per seed: solved, generations, env steps of the search (GymNE's status
"total_interaction_count", which counts only the population's episodes), env steps including the
centre's test episodes, the final centre test return over 10 episodes, whole-process seconds (and
the in-process search seconds, peak RSS). Prints a markdown table and writes JSON with the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_es import machine, save_json  # noqa: E402

SETTINGS = {
    "env": "CartPole-v1",
    "network": "Linear(obs_length, act_length)",
    "algorithm": "PGPE",
    "optimizer": "clipup (PGPE default; max_speed = 2 x center_learning_rate, momentum 0.9)",
    "popsize": 50,
    "radius_init": 2.25,
    "center_learning_rate": 0.2,
    "stdev_learning_rate": 0.1,
    "num_episodes_per_solution": 1,
    "num_actors": 1,
    "test_episodes": 10,
    "goal": 475.0,
    "test_seed_offset": 10_000,
    "observation_normalization": False,
}


def test_centre(policy, env, episodes: int) -> tuple[list[float], int]:
    """Run the centre's policy for `episodes` episodes; GymNE's action rule (argmax of the outputs)."""
    import numpy as np
    import torch

    returns, steps = [], 0
    for _ in range(episodes):
        obs, _ = env.reset()
        total, done = 0.0, False
        while not done:
            with torch.no_grad():
                out = policy(torch.as_tensor(np.asarray(obs, dtype="float32")))
            obs, reward, terminated, truncated, _ = env.step(int(out.argmax()))
            total += float(reward)
            steps += 1
            done = terminated or truncated
        returns.append(total)
    return returns, steps


def search(seed: int, max_generations: int, threads: int | None) -> dict:
    """One run (in the child process): PGPE until the centre's test reaches the goal."""
    start = time.perf_counter()
    import random

    import gymnasium as gym
    import numpy as np
    import torch
    from evotorch.algorithms import PGPE
    from evotorch.neuroevolution import GymNE

    if threads:
        torch.set_num_threads(threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # PGPE samples from the problem's generator: torch's global one here
    s = SETTINGS
    problem = GymNE(
        env=s["env"],
        network=s["network"],
        num_actors=s["num_actors"],
        num_episodes=s["num_episodes_per_solution"],
        observation_normalization=s["observation_normalization"],
    )
    # GymNE never passes a seed to env.reset(); seeding its env once here fixes the whole stream of
    # start states (later unseeded resets continue from this RNG).
    problem.get_env().reset(seed=seed)
    problem.get_env().action_space.seed(seed)
    searcher = PGPE(
        problem,
        popsize=s["popsize"],
        radius_init=s["radius_init"],
        center_learning_rate=s["center_learning_rate"],
        stdev_learning_rate=s["stdev_learning_rate"],
    )
    test_env = gym.make(s["env"])
    test_env.reset(seed=seed + s["test_seed_offset"])
    test_env.action_space.seed(seed + s["test_seed_offset"])
    imports_s = time.perf_counter() - start

    search_start = time.perf_counter()
    history, test_steps, returns, solved = [], 0, [], False
    for _ in range(max_generations):
        searcher.step()
        status = searcher.status
        policy = problem.to_policy(status["center"])
        returns, steps = test_centre(policy, test_env, s["test_episodes"])
        test_steps += steps
        test_mean = statistics.fmean(returns)
        history.append(
            {
                "generation": int(status["iter"]),
                "search_env_steps": int(status["total_interaction_count"]),
                "pop_mean_return": float(status["mean_eval"]),
                "centre_test_return": test_mean,
            }
        )
        if test_mean >= s["goal"]:
            solved = True
            break
    search_s = time.perf_counter() - search_start
    search_steps = int(searcher.status["total_interaction_count"])
    return {
        "seed": seed,
        "solved": solved,
        "generations": searcher.step_count,
        "env_steps_search": search_steps,
        "env_steps_test": test_steps,
        "env_steps_with_tests": search_steps + test_steps,
        "episodes_search": int(searcher.status["total_episode_count"]),
        "test_return_mean": statistics.fmean(returns),
        "test_return_std": statistics.pstdev(returns),
        "test_episodes": len(returns),
        "imports_setup_s": round(imports_s, 2),
        "search_s": round(search_s, 2),
        "torch_threads": torch.get_num_threads(),
        "history": history,
    }


def run_seed(seed: int, max_generations: int, threads: int | None, obs_norm: bool = False) -> dict:
    """Re-launch this script for one seed and time the whole process (and read its peak RSS)."""
    cmd = [sys.executable, __file__, "--child", str(seed), "--max-generations", str(max_generations)]
    cmd += ["--observation-normalization"] if obs_norm else []
    cmd += ["--threads", str(threads)] if threads else []
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{err.read()[-3000:]}")
        result = json.loads(out.read().strip().splitlines()[-1])
    return {**result, "process_wall_s": round(wall, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--max-generations", type=int, default=100, help="cap on PGPE generations per seed")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument(
        "--observation-normalization",
        action="store_true",
        help="GymNE(observation_normalization=True): fewer env steps, slower generations",
    )
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    SETTINGS["observation_normalization"] = bool(args.observation_normalization)
    if args.child is not None:
        print(json.dumps(search(args.child, args.max_generations, args.threads)))
        return
    import evotorch
    import gymnasium

    rows = []
    print(
        "| seed | solved | generations | env steps (search) | env steps (with tests) | test return (10 ep.) | wall s |",
        flush=True,
    )
    print("|---:|:---:|---:|---:|---:|---:|---:|", flush=True)
    for seed in args.seeds:  # one after another: runs in parallel would share the cores
        r = run_seed(seed, args.max_generations, args.threads, args.observation_normalization)
        rows.append(r)
        print(
            f"| {seed} | {'yes' if r['solved'] else 'no'} | {r['generations']} | {r['env_steps_search']:,} "
            f"| {r['env_steps_with_tests']:,} | {r['test_return_mean']:.1f} ± {r['test_return_std']:.1f} "
            f"| {r['process_wall_s']:.1f} |",
            flush=True,
        )
    summary = {
        "solved": sum(r["solved"] for r in rows),
        "median_wall_s": statistics.median(r["process_wall_s"] for r in rows),
        "median_generations": statistics.median(r["generations"] for r in rows),
        "median_env_steps_search": statistics.median(r["env_steps_search"] for r in rows),
        "median_env_steps_with_tests": statistics.median(r["env_steps_with_tests"] for r in rows),
    }
    print(
        f"\nsolved {summary['solved']}/{len(rows)}; median: {summary['median_wall_s']:.1f} s, "
        f"{summary['median_generations']} generations, {summary['median_env_steps_search']:,} env steps "
        f"({summary['median_env_steps_with_tests']:,} with tests)"
    )
    m = {**machine(), "evotorch": evotorch.__version__, "gymnasium": gymnasium.__version__}
    print(f"machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}, evotorch {m['evotorch']}")
    result = {
        "machine": m,
        "settings": SETTINGS,
        "max_generations": args.max_generations,
        "threads": args.threads,
        "runs": rows,
        **summary,
        "date": time.strftime("%Y-%m-%d"),
    }
    save_json(args.json, result)


if __name__ == "__main__":
    main()
