"""One DDPG/TD3 update, every way genpolicy computes it, beside Stable-Baselines3's — same machine,
same process, same network sizes and batch: the figures that pick ``method.update``'s default.

    python scripts/bench_td3_update.py --json assets/bench_td3_update.json [--threads N] [--updates 1000]

Pendulum-v1 shapes with the rl-zoo settings of ``experiment=ddpg_pendulum``: 400-300 ReLU actor and
critics, batch 256, Adam. genpolicy's paths: ``autograd`` (the textbook update, methods/td3_autograd.py),
``fused`` (hand-written passes) and ``compiled`` (the fused update as one torch.compile graph; its
first-call compilation is timed apart as ``compile_s``). SB3: ``model.train(gradient_steps=…)`` on a
replay buffer of random transitions (sampling included, as genpolicy's items are sampled outside the
update — so SB3's figure includes the minibatch sampling, about 0.1 ms of it). Each figure is the median
of ``--repeats`` timings of ``--updates`` updates, after a warm-up; float32, ``--threads`` torch threads
(default: all cores, as ``fit`` gives one process).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

from bench_es import machine, save_json
from genpolicy._process import process_settings
from genpolicy.envs.registry import EnvSpec
from genpolicy.methods.td3 import TD3Module
from genpolicy.policies import PopulationPolicy

BATCH, HIDDEN = 256, (400, 300)
SWITCHES = {
    "ddpg": {"twin_critics": False, "target_noise": 0.0, "policy_delay": 1},
    "td3": {"twin_critics": True, "target_noise": 0.2, "policy_delay": 2},
}


def batch(spec: EnvSpec, gen: torch.Generator) -> dict:
    return {
        "obs": torch.randn(BATCH, spec.obs_dim, generator=gen),
        "action": torch.rand(BATCH, spec.action_dim, generator=gen) * 4 - 2,
        "reward": torch.randn(BATCH, generator=gen),
        "next_obs": torch.randn(BATCH, spec.obs_dim, generator=gen),
        "terminated": torch.zeros(BATCH),
    }


def time_updates(step, updates: int, repeats: int) -> list[float]:
    """ms per update of ``repeats`` runs of ``updates`` calls of ``step``."""
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(updates):
            step()
        out.append((time.perf_counter() - start) / updates * 1e3)
    return out


def genpolicy_update(algo: str, update: str, updates: int, repeats: int) -> dict:
    spec = EnvSpec.make("Pendulum-v1")
    torch.manual_seed(0)
    policy = PopulationPolicy(
        spec.obs_dim, "box", spec.action_dim, spec.action_low, spec.action_high, hidden=HIDDEN, obs_norm=False
    )
    module = TD3Module(policy, critic_hidden=HIDDEN, update=update, **SWITCHES[algo])
    opts = [torch.optim.Adam(net.parameters(), lr=1e-3, fused=True) for net in (module.actor, module.critic)]
    gen = torch.Generator().manual_seed(1)
    batches = [batch(spec, gen) for _ in range(64)]
    i = iter(range(10**9))

    def step():
        module._update(batches[next(i) % len(batches)], *opts)

    start = time.perf_counter()
    step()  # compiles for update=compiled (one graph per actor/no-actor step: TD3 compiles on the 2nd too)
    step()
    first_s = time.perf_counter() - start
    for _ in range(50):
        step()
    ms = time_updates(step, updates, repeats)
    row = {"impl": f"genpolicy {update}", "algo": algo, "ms_per_update": statistics.median(ms), "runs_ms": ms}
    if update == "compiled":
        row["compile_s"] = round(first_s, 2)
    return row


def sb3_update(algo: str, updates: int, repeats: int) -> dict:
    from stable_baselines3 import DDPG, TD3
    from stable_baselines3.common.logger import configure

    cls = {"ddpg": DDPG, "td3": TD3}[algo]
    model = cls(
        "MlpPolicy",
        "Pendulum-v1",
        learning_rate=1e-3,
        batch_size=BATCH,
        buffer_size=20_000,
        learning_starts=0,
        policy_kwargs={"net_arch": list(HIDDEN)},
        device="cpu",
        seed=0,
    )
    log = tempfile.mkdtemp(prefix="sb3-bench-")
    model.set_logger(configure(log, []))  # no output formats: the folder stays empty and is removed below
    gen = torch.Generator().manual_seed(1)
    for _ in range(10_000 // BATCH + 1):
        b = batch(EnvSpec.make("Pendulum-v1"), gen)
        for j in range(BATCH):
            model.replay_buffer.add(
                b["obs"][j].numpy()[None],
                b["next_obs"][j].numpy()[None],
                b["action"][j].numpy()[None],
                b["reward"][j].numpy()[None],
                b["terminated"][j].numpy()[None],
                [{}],
            )
    model.train(gradient_steps=50, batch_size=BATCH)

    ms = [
        t / updates * 1e3
        for t in (_timed(lambda: model.train(gradient_steps=updates, batch_size=BATCH)) for _ in range(repeats))
    ]
    shutil.rmtree(log, ignore_errors=True)
    return {"impl": "sb3", "algo": algo, "ms_per_update": statistics.median(ms), "runs_ms": ms}


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--updates", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--algos", nargs="+", default=["ddpg", "td3"])
    ap.add_argument("--no-sb3", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads or torch.get_num_threads())
    rows = []
    with process_settings(TD3Module.process_settings):  # as fit sets them for a DDPG/TD3 run
        for algo in args.algos:
            for update in ("autograd", "fused", "compiled"):
                rows.append(genpolicy_update(algo, update, args.updates, args.repeats))
                print(rows[-1], flush=True)
            if not args.no_sb3:
                rows.append(sb3_update(algo, args.updates, args.repeats))
                print(rows[-1], flush=True)
    print(f"\n{'algo':<6}{'implementation':<22}{'ms/update':>10}{'vs SB3':>9}{'compile s':>11}")
    for r in rows:
        ref = next((x["ms_per_update"] for x in rows if x["algo"] == r["algo"] and x["impl"] == "sb3"), None)
        ratio = f"{ref / r['ms_per_update']:.2f}×" if ref else "—"
        comp = f"{r['compile_s']:.1f}" if "compile_s" in r else "—"
        print(f"{r['algo']:<6}{r['impl']:<22}{r['ms_per_update']:>10.2f}{ratio:>9}{comp:>11}")
    info = machine() | {"torch_threads": torch.get_num_threads()}
    print(f"machine: {info['cpu']}, {info['cores']} cores, torch {info['torch']}, {info['torch_threads']} threads")
    save_json(args.json, {"machine": info, "batch": BATCH, "hidden": list(HIDDEN), "rows": rows})


if __name__ == "__main__":
    main()
