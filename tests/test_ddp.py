"""Sharded evaluation on Lightning's DDP: 2 CPU processes (gloo) end exactly where 1 process does."""

import itertools

import pytest
import torch

from genpolicy.fit import load_checkpoint
from genpolicy.methods.sharding import shard_bounds


@pytest.mark.parametrize("n, world", [(11, 2), (9, 4), (3, 5), (64, 1)])
def test_shard_bounds_cover_everything_once(n, world):
    bounds = [shard_bounds(n, world, r) for r in range(world)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    sizes = [hi - lo for lo, hi in bounds]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize(
    "variant",
    [
        ("method=es", "strategy.lr_decay=0.9", "strategy.sigma_decay=0.9"),
        ("experiment=ga_cartpole",),
        ("experiment=pgen_cartpole",),  # 11 generators × 3 latents = 33 policies: one generator straddles the ranks
        ("experiment=es_pong", "env.max_episode_frames=400", "policy.hidden=32"),  # each rank its own emulators
        (
            "experiment=metarl_pendulum",
            "env.max_episode_steps=50",
            "strategy.truncation=3",
            "strategy.elite_candidates=2",
            "strategy.elite_episodes=2",
            "method.lifetimes=2",
        ),  # learners per copy
    ],
    ids=["es", "ga", "pgen", "pong", "metarl"],
)
def test_two_gloo_processes_match_one_process_exactly(fit_run, tmp_path, variant):
    # population 10 + the centre = 11 evaluations: an uneven 6/5 split over 2 ranks
    common = (*variant, "strategy.popsize=10", "generations=3", "method.eval_episodes=3")
    one, _ = fit_run(*common, run_dir=tmp_path / "one")
    two, run_dir = fit_run(
        *common, "trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp_spawn", run_dir=tmp_path / "two"
    )
    a, b = load_checkpoint(one["checkpoint"]), load_checkpoint(two["checkpoint"])
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    for state_a, state_b in zip(
        a["optimizer_states"][0]["state"].values(), b["optimizer_states"][0]["state"].values(), strict=True
    ):
        for key, value in state_a.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(state_b[key])), key
    for key, value in a["strategy_state"].items():
        assert torch.equal(torch.as_tensor(value), torch.as_tensor(b["strategy_state"][key])), key
    assert a["lr_schedulers"] == b["lr_schedulers"]
    for key in ("eval_return_mean", "eval_return_std", "env_steps", "generations"):
        assert one[key] == two[key], key
    assert sorted(p.name for p in run_dir.rglob("*.ckpt")) == ["best.ckpt", "last.ckpt"]  # rank 0 writes


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_training_on_cuda_matches_the_task(fit_run):
    summary, _ = fit_run("trainer.accelerator=gpu", "trainer.devices=1", "generations=3")
    ckpt = load_checkpoint(summary["checkpoint"])
    assert summary["generations"] == 3 and torch.isfinite(ckpt["state_dict"]["centre"]).all()


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 CUDA devices")
def test_two_gpus_match_one_gpu(fit_run, tmp_path):
    common = ("strategy.popsize=10", "generations=3", "trainer.accelerator=gpu")
    one, _ = fit_run(*common, "trainer.devices=1", run_dir=tmp_path / "one")
    two, _ = fit_run(*common, "trainer.devices=2", "trainer.strategy=ddp_spawn", run_dir=tmp_path / "two")
    a, b = load_checkpoint(one["checkpoint"]), load_checkpoint(two["checkpoint"])
    assert torch.equal(a["state_dict"]["centre"], b["state_dict"]["centre"])


@pytest.mark.parametrize("experiment", ["td3_pendulum", "stgpv_pendulum"])
def test_gradient_methods_keep_ranks_identical_on_two_gloo_processes(fit_run, tmp_path, monkeypatch, experiment):
    """Each rank collects its own experience; the hand-written TD3 gradients (and the cVAE's autograd
    ones) are averaged over the ranks, so the networks never drift apart."""
    import json

    from ddp_checks import RanksAgree
    from genpolicy import fit

    make = fit._callbacks
    monkeypatch.setattr(fit, "_callbacks", lambda *a: [*make(*a), RanksAgree(str(tmp_path))])
    summary, run_dir = fit_run(
        f"experiment={experiment}",
        "generations=2",
        "method.round_steps=200",
        "data.warmup_steps=200",
        "data.batch_size=32",
        "data.train_every=10",
        "policy.hidden=[32,32]",
        "method.critic_hidden=[32,32]",
        "data.capacity=1000",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.strategy=ddp_spawn",
    )
    agree = json.loads((tmp_path / "ranks_agree.json").read_text())
    assert agree == {"world": 2, "max_diff": 0.0}
    assert (
        summary["env_steps"] == 400
        and load_checkpoint(summary["checkpoint"])["ReplayDataModule"]["collector"]["steps"] == 400
    )
