"""DDPG/TD3: replay buffer, collector (episode ends), TD target, tiny trainings, resume, bad input."""

import sys
from pathlib import Path

import pytest
import torch

from conftest import needs_cxx
from genpolicy.envs.registry import EnvSpec
from genpolicy.fit import InputError, load_checkpoint
from genpolicy.methods.td3 import TD3Module
from genpolicy.rollout.collector import StepCollector
from genpolicy.rollout.exploration import GaussianNoise, OUNoise
from genpolicy.rollout.replay import ReplayBuffer

sys.path.insert(0, str(Path(__file__).parent))

TINY_TD3 = (
    "generations=3",
    "method.round_steps=200",
    "data.warmup_steps=200",
    "data.batch_size=32",
    "data.train_every=10",
    "policy.hidden=[32,32]",
    "method.critic_hidden=[32,32]",
    "data.capacity=1000",
)


def test_replay_ring_wraps_and_samples_stored_transitions():
    buf = ReplayBuffer(5, obs_dim=2, action_dim=1)
    for start in (0, 3, 6):  # 9 transitions into 5 slots
        n = 3
        v = torch.arange(start, start + n, dtype=torch.float32)
        buf.add(
            obs=v[:, None].expand(n, 2),
            action=v[:, None],
            reward=v,
            next_obs=v[:, None].expand(n, 2) + 1,
            terminated=torch.zeros(n),
        )
    assert len(buf) == 5 and buf.pos == 4
    assert sorted(buf.data["reward"].tolist()) == [4.0, 5.0, 6.0, 7.0, 8.0]  # the oldest 4 overwritten
    b = buf.sample(16, k=3, generator=torch.Generator().manual_seed(0))
    assert b["obs"].shape == (3, 16, 2) and b["reward"].shape == (3, 16)
    assert torch.equal(b["next_obs"][..., 0], b["obs"][..., 0] + 1)  # fields stay aligned
    other = ReplayBuffer(5, 2, 1)
    other.load_state_dict(buf.state_dict())
    assert all(torch.equal(other.data[k], buf.data[k]) for k in buf.data) and other.pos == buf.pos
    v = torch.arange(10, 17, dtype=torch.float32)  # more at once than the ring holds: the newest 5 stay
    buf.add(
        obs=v[:, None].expand(7, 2), action=v[:, None], reward=v, next_obs=v[:, None].expand(7, 2), terminated=v * 0
    )
    assert (
        sorted(buf.data["reward"].tolist()) == [12.0, 13.0, 14.0, 15.0, 16.0] and buf.data["reward"][buf.pos] == 12
    )  # next write: the oldest


def test_collector_stores_terminated_but_never_truncated_as_an_end():
    spec = EnvSpec.make("toy_envs:Countdown-v0")
    buf = ReplayBuffer(100, 1, 1)
    collector = StepCollector(spec, n_envs=2, seed=0, noise=GaussianNoise(2, 1, 0.0))
    sign = torch.tensor([[1.0], [-1.0]])  # env 0 terminates after 3 steps, env 1 is truncated at 5
    stats = collector.collect(lambda obs: sign.expand(len(obs), 1), 30, buf)
    assert stats["env_steps"] == 30
    obs, nxt, term = buf.data["obs"][:30, 0], buf.data["next_obs"][:30, 0], buf.data["terminated"][:30]
    assert torch.equal(nxt, obs + 1)  # the real final observation is stored, not the reset one
    assert torch.equal(term.bool(), (nxt == 3) & (buf.data["action"][:30, 0] > 0))  # only real terminations
    assert sorted(set(stats["episode_lengths"])) == [3, 5]


def test_ou_noise_is_correlated_and_resets_per_env():
    noise, gen = OUNoise(2, 1, sigma=0.2, theta=0.15), torch.Generator().manual_seed(0)
    xs = torch.stack([noise(gen) for _ in range(2000)])[:, 0, 0]
    assert torch.corrcoef(torch.stack([xs[:-1], xs[1:]]))[0, 1] > 0.8  # not white noise
    noise.reset(torch.tensor([True, False]))
    assert noise.x[0, 0] == 0.0 and noise.x[1, 0] != 0.0


@pytest.mark.parametrize("algo,update", [("ddpg", "fused"), ("td3", "fused"), ("td3", "autograd")])
def test_tiny_training(fit_run, algo, update):
    summary, run_dir = fit_run(f"experiment={algo}_pendulum", *TINY_TD3, f"method.update={update}")
    assert summary["generations"] == 3 and summary["env_steps"] == 600
    ckpt = load_checkpoint(summary["checkpoint"])
    sd = ckpt["state_dict"]
    assert int(sd["updates"]) == 600 - 200 + 10  # one update per env step from the end of warm-up
    assert len([k for k in sd if k.startswith("critic.nets.") and k.endswith("layers.0.weight")]) == (
        2 if algo == "td3" else 1
    )
    assert not torch.equal(sd["actor.layers.0.weight"], sd["actor_target.layers.0.weight"])  # Polyak lags
    rows = (run_dir / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    losses = [
        float(r.split(",")[header.index("ddpg/critic_loss")])
        for r in rows[1:]
        if r.split(",")[header.index("ddpg/critic_loss")]
    ]
    assert len(losses) == 3 and all(torch.isfinite(torch.tensor(losses)))
    assert "ReplayDataModule" in ckpt and ckpt["ReplayDataModule"]["collector"]["steps"] >= 600


@pytest.mark.parametrize("experiment", ["ddpg_bipedal", "td3_bipedal", "td3_swingup"])
def test_tiny_training_on_box2d_and_bullet(fit_run, experiment):
    summary, _ = fit_run(
        f"experiment={experiment}",
        *TINY_TD3,
        "generations=1",
        "method.eval_episodes=1",
        "final_eval_episodes=1",
        "env.kwargs={}",
    )
    assert summary["env_steps"] == 200 and summary["eval_episodes"] == 1
    assert summary["env"] in ("BipedalWalker-v3", "InvertedPendulumSwingupBulletEnv-v0")


def test_resume_continues_counters_and_optimisers(fit_run, tmp_path):
    first, _ = fit_run("experiment=td3_pendulum", *TINY_TD3, "generations=2", run_dir=tmp_path / "a")
    resumed, _ = fit_run("experiment=td3_pendulum", *TINY_TD3, f"resume={first['checkpoint']}", run_dir=tmp_path / "b")
    a, b = load_checkpoint(first["checkpoint"]), load_checkpoint(resumed["checkpoint"])
    assert resumed["env_steps"] == 600 and int(b["state_dict"]["generation"]) == 3
    # the buffer was not saved: the collector refills warm-up worth of transitions before updating
    assert int(b["state_dict"]["updates"]) == int(a["state_dict"]["updates"]) + 200 - 200 + 10
    assert b["optimizer_states"][1]["state"][0]["step"] > a["optimizer_states"][1]["state"][0]["step"]


@needs_cxx
def test_compiled_updates_keep_torchs_optimizer_state_for_an_eager_resume(fit_run, tmp_path):
    """method.update=compiled steps Adam inside the graph on the optimizer's own state: the checkpoint holds
    torch's step count, and a resumed eager run continues it."""
    first, _ = fit_run(
        "experiment=td3_pendulum", *TINY_TD3, "generations=2", "method.update=compiled", run_dir=tmp_path / "a"
    )
    resumed, _ = fit_run(
        "experiment=td3_pendulum",
        *TINY_TD3,
        "method.update=fused",
        f"resume={first['checkpoint']}",
        run_dir=tmp_path / "b",
    )
    a, b = load_checkpoint(first["checkpoint"]), load_checkpoint(resumed["checkpoint"])
    updates = int(a["state_dict"]["updates"])
    assert updates == 400 - 200 + 10 and a["optimizer_states"][1]["state"][0]["step"] == updates  # critic steps
    assert a["optimizer_states"][0]["state"][0]["step"] == updates // 2  # TD3's delayed actor steps
    assert b["optimizer_states"][1]["state"][0]["step"] == int(b["state_dict"]["updates"]) == updates + 10


def test_resume_with_the_saved_replay_buffer_needs_no_refill(fit_run, tmp_path):
    first, _ = fit_run(
        "experiment=td3_pendulum", *TINY_TD3, "generations=2", "data.save_replay=true", run_dir=tmp_path / "a"
    )
    a = load_checkpoint(first["checkpoint"])
    replay = a["ReplayDataModule"]["replay"]
    assert replay["size"] == 400 and replay["obs"].shape == (400, 3)  # every collected transition
    resumed, _ = fit_run(
        "experiment=td3_pendulum",
        *TINY_TD3,
        "data.save_replay=true",
        f"resume={first['checkpoint']}",
        run_dir=tmp_path / "b",
    )
    b = load_checkpoint(resumed["checkpoint"])
    assert int(b["state_dict"]["updates"]) == int(a["state_dict"]["updates"]) + 200  # updating from the first step
    assert b["ReplayDataModule"]["replay"]["size"] == 600


@pytest.mark.parametrize(
    "overrides, message",
    [
        (("env=cartpole",), "needs box actions"),
        (("method.gamma=1.5",), "gamma must be in"),
        (("data.batch_size=0",), "batch_size must be an integer"),
        (("policy.obs_norm=true",), "obs_norm=false"),
        (("data.noise=pink",), "exploration noise must be"),
        (("method.update=sgd",), "method.update must be one of 'auto', 'autograd', 'fused', 'compiled'"),
    ],
)
def test_bad_input(fit_run, overrides, message):
    with pytest.raises(InputError, match=message):
        fit_run("experiment=ddpg_pendulum", *TINY_TD3, *overrides)


def test_auto_update_is_the_compiled_one_where_it_can_build():
    spec = EnvSpec.make("Pendulum-v1")
    from genpolicy._compile import can_compile
    from genpolicy.policies import PopulationPolicy

    policy = PopulationPolicy(spec.obs_dim, "box", spec.action_dim, spec.action_low, spec.action_high, obs_norm=False)
    assert TD3Module(policy).update == ("compiled" if can_compile("cpu") else "fused")
    assert TD3Module(policy, update="autograd").update == "autograd"


def test_process_settings_hold_for_the_run_only():
    """DDPG/TD3 runs flush denormals and raise glibc's mmap and trim thresholds (their update's tensors
    are then reused from the heap) — set by the entry point around the run and restored after it;
    without glibc the allocator call is a no-op that says so."""
    import platform

    from genpolicy._process import flushes_denormals, keep_freed_memory, process_settings

    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert keep_freed_memory() is glibc
    assert TD3Module.process_settings == ("flush_denormal", "keep_freed_memory")
    assert not flushes_denormals()
    with process_settings(TD3Module.process_settings):
        assert flushes_denormals()
    assert not flushes_denormals()
    with pytest.raises(ValueError, match="unknown process settings"):
        with process_settings(["turbo"]):
            pass
