"""Whole tiny trainings through genpolicy.fit (in-process), resume exactness, goal stopping, errors."""

import csv
import json
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

from conftest import EXPERIMENTS, GRADIENT_EXPERIMENTS, POPULATION_EXPERIMENTS, compose_fit
from genpolicy.fit import InputError, load_checkpoint


def _metrics(run_dir: Path) -> list[dict]:
    return list(csv.DictReader(open(run_dir / "metrics.csv")))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes(experiment):
    cfg = compose_fit(f"experiment={experiment}")
    assert cfg.name == experiment
    gradient = experiment in GRADIENT_EXPERIMENTS  # these count rounds themselves and stop
    assert cfg.trainer.max_steps == (-1 if gradient else cfg.generations)
    assert cfg.method.get("rounds", cfg.generations) == cfg.generations
    for group in ("env", "policy", "method", "data", "trainer") + (() if gradient else ("strategy",)):
        assert "_target_" in cfg[group], group


@pytest.mark.parametrize("experiment", POPULATION_EXPERIMENTS)
def test_tiny_training_per_experiment(fit_run, experiment):
    summary, run_dir = fit_run(f"experiment={experiment}")
    for key in (
        "experiment",
        "method",
        "env",
        "generations",
        "env_steps",
        "wall_s",
        "eval_return_mean",
        "eval_return_std",
        "eval_episodes",
        "solved",
        "checkpoint",
    ):
        assert key in summary, key
    cfg = compose_fit(f"experiment={experiment}")
    test_policies = cfg.method.genome.test_latents if "genome" in cfg.method else 1
    assert summary["experiment"] == experiment and summary["generations"] == 2
    assert summary["eval_episodes"] == 2 * test_policies and np.isfinite(summary["eval_return_mean"])
    assert summary["env_steps"] > 0
    assert json.loads((run_dir / "summary.json").read_text()) == summary
    assert (run_dir / "config.yaml").is_file()
    assert sorted(p.name for p in run_dir.rglob("*.ckpt")) == ["best.ckpt", "last.ckpt"]  # no stray checkpoints
    ckpt = load_checkpoint(summary["checkpoint"])
    assert int(ckpt["state_dict"]["generation"]) == 2
    assert ckpt["genpolicy"]["config"]["name"] == experiment
    initial = compose_fit(f"experiment={experiment}")  # same seed → same initial centre
    import lightning as L

    from genpolicy.fit import build

    L.seed_everything(0, verbose=False)
    _, _, fresh = build(initial)
    assert not torch.equal(ckpt["state_dict"]["centre"], fresh.centre.detach())  # the centre moved
    rows = _metrics(run_dir)
    fit_rows = [r for r in rows if r.get("fitness/mean")]
    assert len(fit_rows) == 2
    strategy_keys = {
        "OpenAIES": ("es/sigma", "es/lr"),
        "GeneticAlgorithm": ("ga/elite_return",),
        "CEM": ("cem/std_mean",),
        "PGPE": ("pgpe/lr",),
        "SepCMAES": ("cma/sigma",),
    }
    for key in (
        "fitness/mean",
        "fitness/max",
        "fitness/min",
        "fitness/std",
        "es/centre_rank",
        "rollout/env_steps",
        "rollout/steps_per_s",
        *strategy_keys[cfg.strategy._target_.split(".")[-1]],
    ):
        assert all(np.isfinite(float(r[key])) for r in fit_rows), key
    assert any(r.get("eval/return_mean") for r in rows)


def _state(path):
    ckpt = load_checkpoint(path)
    return ckpt["state_dict"], ckpt["optimizer_states"], ckpt["strategy_state"], ckpt["lr_schedulers"]


@pytest.mark.parametrize(
    "variant",
    [
        ("method=es", "strategy.optimizer=adam", "strategy.lr_decay=0.9", "strategy.sigma_decay=0.95"),
        ("experiment=ga_cartpole",),
        ("experiment=cem_cartpole", "strategy.std_schedule=elite"),
        ("experiment=ga_cartpole", "method=pgen"),  # GA on hypernetwork weights
        ("strategy=pgpe",),
        ("strategy=sep_cma_es", "method=direct"),
    ],
    ids=["es", "ga", "cem", "pgen_ga", "pgpe", "sep_cma_es"],
)
def test_resume_is_bit_identical(fit_run, tmp_path, variant):
    fit_run(*variant, "generations=4", run_dir=tmp_path / "straight")
    fit_run(*variant, "generations=2", run_dir=tmp_path / "split")
    last = tmp_path / "split" / "checkpoints" / "last.ckpt"
    fit_run(*variant, "generations=4", f"resume={last}", run_dir=tmp_path / "split")
    a = _state(tmp_path / "straight" / "checkpoints" / "last.ckpt")
    b = _state(last)
    assert int(a[0]["generation"]) == int(b[0]["generation"]) == 4
    for key in a[0]:
        assert torch.equal(a[0][key], b[0][key]), key
    for state_a, state_b in zip(a[1][0]["state"].values(), b[1][0]["state"].values(), strict=True):
        for key in state_a:
            assert torch.equal(torch.as_tensor(state_a[key]), torch.as_tensor(state_b[key])), key
    for key, value in a[2].items():  # σ; a GA's parents and elite; a CEM's mean and std
        assert torch.equal(torch.as_tensor(value), torch.as_tensor(b[2][key])), key
    assert a[3] == b[3]
    steps = [int(r["step"]) for r in _metrics(tmp_path / "split") if r.get("fitness/mean")]
    assert steps == [0, 1, 2, 3]  # the resumed run kept the first run's rows
    if "strategy.optimizer=adam" in variant:
        assert a[2]["sigma"] == pytest.approx(0.1 * 0.95**4)  # σ decayed once per generation
        assert a[1][0]["param_groups"][0]["lr"] == pytest.approx(0.03 * 0.9**4)  # lr too


def test_goal_stopping_stops_early(fit_run):
    summary, run_dir = fit_run("generations=50", "goal_stopping.reward_goal=5", "goal_stopping.consecutive=2")
    assert summary["generations"] == 2  # CartPole returns are always ≥ 8: two tests, two hits


def test_nan_rewards_are_ranked_last_and_counted(fit_run):
    class NanCartPole(CartPoleEnv):
        def step(self, action):
            obs, r, term, trunc, info = super().step(action)
            return obs, (float("nan") if action == 1 and abs(obs[2]) > 0.05 else r), term, trunc, info

    gym.register("GenpolicyNanCartPole-v0", entry_point=lambda **kw: NanCartPole(**kw), max_episode_steps=200)
    summary, run_dir = fit_run("env=gym", "env.id=GenpolicyNanCartPole-v0", "env.goal=100", "generations=3")
    rows = [r for r in _metrics(run_dir) if r.get("fitness/nonfinite")]
    assert sum(float(r["fitness/nonfinite"]) for r in rows) > 0
    centre = load_checkpoint(summary["checkpoint"])["state_dict"]["centre"]
    assert torch.isfinite(centre).all()


@pytest.mark.parametrize(
    "overrides, message",
    [
        (("env.id=CartPole-v42",), "unknown env id 'CartPole-v42'"),
        (("method=es", "strategy.popsize=7"), "popsize must be even"),
        (("method=es", "strategy.sigma=0"), "sigma must be > 0"),
        (("method=es", "strategy.sigma=-0.1"), "sigma must be > 0"),
        (("strategy.sigma_init=0",), "sigma_init must be > 0"),
        (("policy.action_mode=tanh",), "discrete action mode"),
        (("env=lunarlander", "policy.action_mode=clip"), "discrete action mode"),
        (("env=gym", "env.id=Pendulum-v1", "policy.action_mode=argmax"), "box action mode"),
        (("resume=/nonexistent/last.ckpt",), "checkpoint not found"),
        (("method=es", "strategy.optimizer=rmsprop"), "optimizer must be"),
        (("generations=abc",), "generations must be an integer"),
        (("goal_stopping.reward_goal=high",), "reward_goal must be a number, solved or null"),
    ],
)
def test_bad_input_is_refused_before_work(fit_run, tmp_path, overrides, message):
    with pytest.raises(InputError, match=message):
        fit_run(*overrides)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_corrupt_checkpoint_is_refused(fit_run, tmp_path):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(InputError, match="checkpoint"):
        fit_run(f"resume={bad}")
    bad.write_text("hello")
    with pytest.raises(InputError, match="not a torch checkpoint"):
        load_checkpoint(str(bad))


def test_resume_from_another_env_is_refused(fit_run, tmp_path):
    summary, _ = fit_run(run_dir=tmp_path / "cartpole")
    with pytest.raises(InputError, match=r"does not match this config.*centre"):
        fit_run("env=lunarlander", f"resume={summary['checkpoint']}", run_dir=tmp_path / "lunar")
    assert not (tmp_path / "lunar" / "checkpoints").exists()


def test_wandb_offline_run_is_stored_locally(fit_run, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("NETRC", "/nonexistent")
    summary, run_dir = fit_run("logger=wandb")
    runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, list((run_dir / "wandb").iterdir())
    keys = (b"fitness/mean", b"es/centre_rank", b"eval/return_mean", b"test/return_mean")
    deadline = time.time() + 10  # the W&B service may finish writing just after finish() returns
    while True:
        data = b"".join(p.read_bytes() for p in runs[0].glob("*.wandb"))
        missing = [k for k in keys if k not in data]
        if not missing or time.time() > deadline:
            break
        time.sleep(0.2)
    assert not missing, (missing, [(p.name, p.stat().st_size) for p in runs[0].iterdir()])


def test_same_seed_same_run_other_seed_other_run(fit_run, tmp_path):
    runs = [
        fit_run(f"seed={s}", "policy.action_mode=sample", run_dir=tmp_path / f"r{i}")[0]
        for i, s in enumerate((5, 5, 6))
    ]
    centres = [load_checkpoint(r["checkpoint"])["state_dict"]["centre"] for r in runs]
    assert torch.equal(centres[0], centres[1]) and runs[0]["env_steps"] == runs[1]["env_steps"]
    assert not torch.equal(centres[0], centres[2])


def test_adaptive_episode_cap_bounds_the_next_generation(fit_run):
    _, run_dir = fit_run("method.adaptive_episode_cap=true", "generations=3")
    rows = [r for r in _metrics(run_dir) if r.get("fitness/mean")]
    assert float(rows[0]["rollout/episode_cap"]) == 0  # nothing to go by in the first generation
    for row in rows[1:]:
        cap = float(row["rollout/episode_cap"])
        assert cap >= 1 and float(row["rollout/episode_length_max"]) <= cap


def test_epochs_of_generations_with_max_epochs(fit_run):
    summary, _ = fit_run("generations=-1", "+trainer.max_epochs=3", "data.generations_per_epoch=2")
    assert summary["generations"] == 6


def test_generation_stream_epochs_and_resume_points():
    from itertools import islice

    from genpolicy.data import GenerationStream

    gens = lambda stream: [item["generation"] for item in islice(stream, 10)]  # noqa: E731
    assert gens(GenerationStream(0, start=0, per_epoch=3)) == [0, 1, 2]
    assert gens(GenerationStream(0, start=4, per_epoch=3)) == [4, 5]  # resumed: finish the epoch
    assert gens(GenerationStream(0, start=7)) == list(range(7, 17))  # endless by default
    seeds = [item["seed"] for item in GenerationStream(1, start=0, per_epoch=2)]
    assert seeds == [item["seed"] for item in GenerationStream(1, start=0, per_epoch=5)][:2]
    assert len(set(seeds)) == 2


@pytest.mark.parametrize("variant", [(), ("experiment=pgen_cartpole",)], ids=["es", "pgen_cem"])
def test_best_checkpoint_holds_the_best_tested_solution(fit_run, variant):
    summary, run_dir = fit_run(*variant, "generations=5")
    evals = [(int(r["step"]), float(r["eval/return_mean"])) for r in _metrics(run_dir) if r.get("eval/return_mean")]
    best_step, best_return = max(evals, key=lambda e: (e[1], -e[0]))  # the first time the best was reached
    best = load_checkpoint(summary["best_checkpoint"])
    assert int(best["state_dict"]["generation"]) == best_step + 1
    assert best["callbacks"]["GenerationCheckpoint"]["best_score"] == pytest.approx(best_return)
