"""Throughput of one ES generation on Atari: 64 ConvLSTM members × one Pong episode each.

    python scripts/bench_atari.py --json assets/bench_atari.json

The schedules of the loop run in one process on the same members, interleaved generation by generation: one
lane (every copy steps together) and two lanes (``env.pipeline``: halves step in turn, one half's policy call
overlapping the other half's emulators). Members are pytorch-es's ConvLSTM at its initial weights plus N(0,
0.05²) noise, fresh each generation (as an ES generation). Reported per generation (the first one also builds
the emulators, timed apart as ``build_s``); ``--emulator-nice none 19`` adds each nice value of the emulator
threads (``env.emulator_nice``) as a mode of its own:

- agent steps/s: steps of unfinished episodes (what a learning curve counts) over wall time;
- episodes per core-hour: episodes / (wall time × cores), beside pytorch-es's ~56 (16k episodes,
  24 h, 12 cores);
- emulated: every emulator step taken, live or not (``wasted`` = the share spent on finished copies);
- the pipeline limit: the components measured alone with all 64 copies alive — the emulators'
  core-time per step plus the policy's on one thread, spread over the cores — the most a perfect
  2-core schedule could do.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from bench_es import machine, save_json
from genpolicy.envs.atari import atari_spec
from genpolicy.policies.convlstm import ConvLSTMPolicy
from genpolicy.rollout import PopulationEvaluator
from genpolicy.rollout.threads import available_cores


def components(spec, policy: ConvLSTMPolicy, params: torch.Tensor, steps: int = 200, repeats: int = 3) -> dict:
    """Emulator steps/s (all copies alive, ale-py's threads; the best of ``repeats`` runs of ``steps``) and
    the policy's ms per step on 1 and 2 threads (the best of ``repeats``)."""
    from genpolicy.rollout.atari import AtariBatch

    n = len(params)
    batch = AtariBatch(spec, n, torch.device("cpu"))
    obs = batch.reset(torch.arange(n))
    out, rates = {}, []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            obs, *_ = batch.step(torch.zeros(n, dtype=torch.int64), torch.ones(n, dtype=torch.bool))
        rates.append(n * steps / (time.perf_counter() - start))
    out["emulator_steps_per_s"] = max(rates)
    batch.close()
    for threads in (1, 2):
        torch.set_num_threads(threads)
        act = policy.bind(params)
        act(obs.view(n, 1, -1))
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(steps // 4):
                act(obs.view(n, 1, -1))
            times.append(1e3 * (time.perf_counter() - start) / (steps // 4))
        out[f"policy_ms_{threads}_thread"] = min(times)
    cores = available_cores()
    torch.set_num_threads(cores)
    emulator_core_s = n / out["emulator_steps_per_s"] * min(cores, 2)  # ale-py's time × threads it kept busy
    out["pipeline_limit_steps_per_s"] = n / ((emulator_core_s + out["policy_ms_1_thread"] / 1e3) / cores)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="ALE/Pong-v5")
    ap.add_argument("--members", type=int, default=64)
    ap.add_argument("--generations", type=int, default=3)
    ap.add_argument("--group", type=int, default=8, help="emulators per ale-py vector env")
    ap.add_argument("--grey", default="luminance", choices=("luminance", "mean"))
    ap.add_argument(
        "--emulator-nice",
        nargs="+",
        default=["none"],
        help="nice values of the emulator threads to compare (none: as the process), each a mode of its own",
    )
    ap.add_argument("--sigma", type=float, default=0.05)
    ap.add_argument(
        "--max-steps",
        type=int,
        default=2000,
        help="agent steps per episode at most (es_pong's adaptive cap: 2 × the mean length, ~1,600–2,000); "
        "a perturbed ConvLSTM can rally forever, to the 27,000-step frame limit",
    )
    ap.add_argument(
        "--mode",
        default="both",
        choices=("both", "one lane", "two lanes"),
        help="one lane: the copies step together; two lanes: halves step in turn (env.pipeline)",
    )
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    spec = atari_spec(args.env, group=args.group, grey=args.grey)
    policy = ConvLSTMPolicy(spec.obs_dim, "discrete", spec.action_dim, obs_shape=spec.obs_shape)
    centre, cores = policy.initial_parameters(), available_cores()
    lanes = {"one lane": False, "two lanes": True} if args.mode == "both" else {args.mode: args.mode == "two lanes"}
    nices = [None if v == "none" else int(v) for v in args.emulator_nice]
    modes = {
        f"{lane}{'' if nice is None else f', nice {nice}'}": (pipeline, nice)
        for lane, pipeline in lanes.items()
        for nice in nices
    }
    evaluators = {
        mode: PopulationEvaluator(
            atari_spec(args.env, group=args.group, grey=args.grey, emulator_nice=nice),
            chunk_size=args.members,
            pipeline=pipeline,
        )
        for mode, (pipeline, nice) in modes.items()
    }
    results = {mode: [] for mode in modes}
    gen = torch.Generator().manual_seed(0)
    for g in range(args.generations):  # the same members in every mode, the modes interleaved
        params = centre + args.sigma * torch.randn(args.members, policy.num_params, generator=gen)
        for mode, (pipeline, _) in modes.items():
            evaluator = evaluators[mode]
            start = time.perf_counter()
            batches = [
                evaluator._batch(n, torch.device("cpu"), lane)  # built here: timed as build_s
                for lane, n in enumerate(
                    [args.members // 2, args.members - args.members // 2] if pipeline else [args.members]
                )
            ]
            build_s = time.perf_counter() - start
            before = sum(b.emulated for b in batches)
            result = evaluator.evaluate(
                policy.bind, params, 1, torch.arange(args.members) + g * args.members, max_steps=args.max_steps
            )
            emulated = sum(b.emulated for b in batches) - before
            results[mode].append(
                {
                    "generation": g,
                    "build_s": round(build_s, 2),
                    "wall_s": round(result.wall_s, 2),
                    "agent_steps": result.env_steps,
                    "emulated": emulated,
                    "wasted": round(1 - result.env_steps / max(emulated, 1), 3),
                    "agent_steps_per_s": round(result.steps_per_s, 1),
                    "episodes_per_core_hour": round(args.members / (result.wall_s * cores / 3600), 1),
                    "return_mean": float(result.returns.mean()),
                    "length_mean": float(result.lengths.double().mean()),
                    "length_max": int(result.lengths.max()),
                }
            )
            print(mode, results[mode][-1], flush=True)
    for evaluator in evaluators.values():
        evaluator.close()
    parts = components(spec, policy, centre + args.sigma * torch.randn(args.members, policy.num_params, generator=gen))
    summary = {}
    for mode, rows in results.items():
        steady = rows[1:] or rows  # generation 0 builds the emulators
        summary[f"{mode}: agent_steps_per_s"] = round(float(np.median([r["agent_steps_per_s"] for r in steady])), 1)
        summary[f"{mode}: episodes_per_core_hour"] = round(
            float(np.median([r["episodes_per_core_hour"] for r in steady])), 1
        )
    best = max(results, key=lambda m: summary[f"{m}: agent_steps_per_s"])
    summary.update(
        {
            "agent_steps_per_s": summary[f"{best}: agent_steps_per_s"],
            "episodes_per_core_hour": summary[f"{best}: episodes_per_core_hour"],
            "pytorch_es_episodes_per_core_hour": 56,
            **{k: round(v, 2) for k, v in parts.items()},
        }
    )
    summary["share_of_pipeline_limit"] = round(summary["agent_steps_per_s"] / parts["pipeline_limit_steps_per_s"], 2)
    summary["ratio_to_pytorch_es"] = round(summary["episodes_per_core_hour"] / 56, 1)
    print(f"\n{'':40}{'value':>12}")
    for key, value in summary.items():
        print(f"{key:40}{value:>12}")
    save_json(
        args.json,
        {
            "machine": machine(),
            "env": args.env,
            "members": args.members,
            "group": args.group,
            "max_steps": args.max_steps,
            "grey": args.grey,
            "emulator_nice": args.emulator_nice,
            "generations": results,
            "summary": summary,
        },
    )


if __name__ == "__main__":
    main()
