"""How fast can one population be evaluated? env-steps/s on CartPole-v1 for three designs.

    python scripts/bench_population.py --json assets/bench_population.json

- ``naive``: the PyTorch-ES design reproduced faithfully as the reference — per member a deep copy of
  the nn.Module with the member's weights assigned, a fresh gymnasium env, one forward per step —
  run on one thread, its fastest setting here; ``naive4`` is the same with PyTorch-ES's default
  thread pool (``threadcount=4``), which the GIL and torch's own threads make 4-5× slower.
- ``gymnasium``: genpolicy's gymnasium backend (SyncVectorEnv, one batched policy call per step).
- ``torch``: genpolicy's torch-native backend (env and policy both batched tensor programs).
- ``torch_compiled``: the same with ``env.compile=true`` (each step one ``torch.compile`` graph;
  its compilation is timed apart, as ``compile_s``, and not counted in steps/s).
- ``workers``: genpolicy's process workers (one per core; for Box2D / pybullet envs).

``--busy`` measures every backend a second time while a helper process spins on one core (an
unrelated job on a shared machine): the engine's thread choice must not sink under it.

On CartPole-v1 every member is the same hand-set controller (push right when
0.1·x + 0.5·ẋ + θ + 0.5·θ̇ > 0) embedded in an MLP obs-64-64-2 (tanh), plus N(0, 0.001²) noise,
so members differ but episodes run to the 500-step limit. On other envs members are the MLP's
initial weights plus N(0, 0.1²) noise (episode lengths are reported). Only counted env steps (those
of unfinished episodes) enter steps/s.
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing as mp
import os
import platform
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gymnasium as gym
import torch
from torch import nn

from genpolicy.envs import EnvSpec
from genpolicy.policies import PopulationPolicy
from genpolicy.rollout import PopulationEvaluator

CONTROLLER = (0.1, 0.5, 1.0, 0.5)


def surviving_population(policy: PopulationPolicy, population: int, noise: float = 1e-3) -> torch.Tensor:
    """(P, D) members: the hand-set controller in the MLP's first unit of each layer, plus noise."""
    net = copy.deepcopy(policy.net)
    with torch.no_grad():
        for layer in net.layers:
            layer.weight.zero_(), layer.bias.zero_()
        net.layers[0].weight[0, :4] = torch.tensor(CONTROLLER)
        for layer in net.layers[1:-1]:
            layer.weight[0, 0] = 1.0
        net.layers[-1].weight[:, 0] = torch.tensor([-1.0, 1.0])
    centre = net.flat_parameters()
    gen = torch.Generator().manual_seed(0)
    return centre + noise * torch.randn(population, centre.numel(), generator=gen)


def run_naive(env_id: str, policy: PopulationPolicy, params: torch.Tensor, threads: int) -> dict:
    """PyTorch-ES: deepcopy(model) per member, a new env per member, one forward per env step."""
    model = policy.net

    def reward(args):
        index, flat = args
        cloned = copy.deepcopy(model)
        nn.utils.vector_to_parameters(flat, cloned.parameters())
        env = gym.make(env_id)
        obs, _ = env.reset(seed=index)
        total, steps, done = 0.0, 0, False
        while not done:
            with torch.no_grad():
                logits = cloned(torch.as_tensor(obs, dtype=torch.float32).unsqueeze(0))
            a = int(logits.argmax()) if policy.head.kind == "discrete" else policy.head(logits)[0].numpy()
            obs, r, terminated, truncated, _ = env.step(a)
            total, steps, done = total + r, steps + 1, terminated or truncated
        env.close()
        return total, steps

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(reward, enumerate(params)))
    wall = time.perf_counter() - start
    steps = sum(s for _, s in results)
    return {
        "steps_per_s": steps / wall,
        "env_steps": steps,
        "wall_s": wall,
        "mean_episode_length": steps / len(results),
        "threads": threads,
    }


def run_engine(
    spec: EnvSpec, policy: PopulationPolicy, params: torch.Tensor, episodes: int, repeats: int, device: str
) -> dict:
    evaluator = PopulationEvaluator(spec)
    seeds = torch.arange(params.shape[0] * episodes)
    # warm-up; a compiled step is compiled for the population's own shape, so warm up on all of it
    warm = params.shape[0] if spec.compile else 2
    start = time.perf_counter()
    evaluator.evaluate(policy.bind, params[:warm].to(device), episodes, seeds[: warm * episodes], device)
    first_s = time.perf_counter() - start
    runs = []
    for _ in range(repeats):
        res = evaluator.evaluate(policy.bind, params.to(device), episodes, seeds, device)
        runs.append(res)
    evaluator.close()
    sps = [r.steps_per_s for r in runs]
    best = max(runs, key=lambda r: r.steps_per_s)
    return {
        "steps_per_s": statistics.median(sps),
        "steps_per_s_best": max(sps),
        "env_steps": best.env_steps,
        "wall_s": best.wall_s,
        "mean_episode_length": float(best.lengths.double().mean()),
        "repeats": repeats,
        **({"compile_s": first_s - best.wall_s} if spec.compile else {}),
    }


def _spin() -> None:
    try:
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})  # one core, the last
    except (AttributeError, OSError):
        pass
    while True:
        pass


class Busy:
    """A process spinning on one core for the duration of the block."""

    def __enter__(self):
        self.proc = mp.get_context("spawn").Process(target=_spin, daemon=True)
        self.proc.start()
        time.sleep(0.5)  # let it start spinning
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.join()


def machine() -> dict:
    cpu = platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "gymnasium": gym.__version__,
        "python": platform.python_version(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def measure(args, spec: EnvSpec, policy: PopulationPolicy, params: torch.Tensor) -> dict:
    results = {}
    for backend in args.backends:
        if backend in ("naive", "naive4"):
            results[backend] = run_naive(args.env, policy, params, 1 if backend == "naive" else 4)
        elif backend in ("gymnasium", "torch", "torch_compiled", "workers"):
            kind = {
                "gymnasium": {"backend": "gymnasium"},
                "torch": {"backend": "torch"},
                "torch_compiled": {"backend": "torch", "compile": True},
                "workers": {"backend": "gymnasium", "vectorization": "workers"},
            }[backend]
            results[backend] = run_engine(
                EnvSpec.make(args.env, **kind),
                policy,
                params,
                args.episodes,
                args.repeats,
                args.device if backend.startswith("torch") else "cpu",
            )
        else:
            raise SystemExit(f"unknown backend {backend!r} (naive, naive4, gymnasium, workers, torch, torch_compiled)")
    return results


def report(args, spec: EnvSpec, results: dict, label: str) -> None:
    base = results.get("naive", {}).get("steps_per_s")
    print(
        f"{args.env}, population {args.population}, MLP {spec.obs_dim}-{'-'.join(map(str, args.hidden))}-"
        f"{spec.action_dim}, {args.episodes} episode(s) per member, {os.cpu_count()} cores, {label}"
    )
    print(f"{'backend':<16}{'env steps/s':>14}{'vs naive':>10}{'mean ep len':>13}{'wall s':>9}{'compile s':>11}")
    for name, r in results.items():
        ratio = f"{r['steps_per_s'] / base:.1f}×" if base else "-"
        comp = f"{r['compile_s']:.1f}" if "compile_s" in r else "-"
        print(
            f"{name:<16}{r['steps_per_s']:>14,.0f}{ratio:>10}{r['mean_episode_length']:>13.1f}{r['wall_s']:>9.2f}"
            f"{comp:>11}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default="CartPole-v1")
    ap.add_argument("--population", type=int, default=1024)
    ap.add_argument("--hidden", type=int, nargs="+", default=[64, 64])
    ap.add_argument("--episodes", type=int, default=1, help="episodes per member")
    ap.add_argument("--backends", nargs="+", default=["naive", "naive4", "gymnasium", "torch", "torch_compiled"])
    ap.add_argument("--repeats", type=int, default=3, help="timed evaluations per engine backend (median)")
    ap.add_argument("--device", default="cpu", help="device of the torch backend (cpu or cuda)")
    ap.add_argument("--busy", action="store_true", help="also measure each backend with one core kept busy")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    spec = EnvSpec.make(args.env)
    policy = PopulationPolicy(
        spec.obs_dim,
        spec.action_kind,
        spec.action_dim,
        spec.action_low,
        spec.action_high,
        hidden=tuple(args.hidden),
        obs_norm=False,
    )
    if args.env == "CartPole-v1":
        params = surviving_population(policy, args.population)
    else:
        gen = torch.Generator().manual_seed(0)
        params = policy.initial_parameters() + 0.1 * torch.randn(args.population, policy.num_params, generator=gen)
    results = measure(args, spec, policy, params)
    busy = None
    if args.busy:
        with Busy():
            busy = measure(args, spec, policy, params)
    report(args, spec, results, "quiet")
    if busy is not None:
        report(args, spec, busy, "one core busy")
        print(f"{'backend':<16}{'busy / quiet':>14}{'vs naive (busy)':>17}")
        naive = busy.get("naive", {}).get("steps_per_s")
        for name, r in busy.items():
            vs_naive = f"{r['steps_per_s'] / naive:.1f}×" if naive else "-"
            print(f"{name:<16}{r['steps_per_s'] / results[name]['steps_per_s']:>14.2f}{vs_naive:>17}")
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    out = {
        **results,
        **({"busy": busy} if busy is not None else {}),
        "config": config,
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
