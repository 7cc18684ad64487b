"""Process workers: same results as in-process stepping; a dying or raising worker fails cleanly."""

import time

import pytest
import torch

from genpolicy.envs import EnvSpec
from genpolicy.policies import PopulationPolicy
from genpolicy.rollout import PopulationEvaluator
from genpolicy.rollout.workers import WorkerError


def _setup(env_id, **spec_kwargs):
    spec = EnvSpec.make(env_id, **spec_kwargs)
    torch.manual_seed(0)
    policy = PopulationPolicy(
        spec.obs_dim, spec.action_kind, spec.action_dim, spec.action_low, spec.action_high, hidden=(8,), obs_norm=False
    )
    params = policy.initial_parameters() + 0.3 * torch.randn(6, policy.num_params)
    return spec, policy, params


def test_workers_match_in_process_stepping():
    spec, policy, params = _setup("LunarLander-v3")
    seeds = torch.arange(12) + 100
    sync = PopulationEvaluator(spec)
    ref = sync.evaluate(policy.bind, params, 2, seeds, obs_stats=True)
    sync.close()
    ev = PopulationEvaluator(EnvSpec.make("LunarLander-v3", vectorization="workers", workers=2), compact_min=4)
    try:
        for _ in range(2):  # the pool is reused across generations
            res = ev.evaluate(policy.bind, params, 2, seeds, obs_stats=True)
            torch.testing.assert_close(res.returns, ref.returns)
            torch.testing.assert_close(res.lengths, ref.lengths)
            torch.testing.assert_close(res.obs_sum, ref.obs_sum)
    finally:
        ev.close()


@pytest.mark.parametrize(
    "env_id, message",
    [
        ("crashing_envs:CrashingCartPole-v0", "died with exit code 3 during step"),
        ("crashing_envs:RaisingCartPole-v0", "simulator exploded"),
    ],
)
def test_a_failing_worker_fails_the_generation_cleanly(env_id, message):
    spec, policy, params = _setup(env_id, vectorization="workers", workers=2)
    ev = PopulationEvaluator(spec)
    start = time.perf_counter()
    with pytest.raises(WorkerError, match=message):
        ev.evaluate(policy.bind, params, 1, torch.arange(6))
    assert time.perf_counter() - start < 60  # reported, not hung
    with pytest.raises(WorkerError, match="broken"):  # and the pool refuses further work
        ev.evaluate(policy.bind, params, 1, torch.arange(6))
    ev.close()


def test_bullet_envs_work_by_name_in_process_and_in_workers():
    returns = {}
    for vectorization in ("sync", "workers"):
        spec, policy, params = _setup("InvertedPendulumBulletEnv-v0", vectorization=vectorization, workers=2)
        assert spec.action_kind == "box" and spec.obs_dim == 5 and spec.goal == 950.0
        ev = PopulationEvaluator(spec)
        returns[vectorization] = ev.evaluate(policy.bind, params, 1, torch.arange(6)).returns
        ev.close()
    torch.testing.assert_close(returns["sync"], returns["workers"])
    assert (returns["sync"] > 0).all()


def test_a_bullet_id_without_the_extra_names_the_extra(monkeypatch):
    import genpolicy.envs.registry as registry

    real = registry.importlib.import_module

    def no_pybullet(name, *args):
        if name == "pybullet_envs_gymnasium":
            raise ImportError("No module named 'pybullet_envs_gymnasium'")
        return real(name, *args)

    monkeypatch.setattr(registry.importlib, "import_module", no_pybullet)
    with pytest.raises(ImportError, match=r"pip install 'genpolicy\[bullet\]'"):
        EnvSpec.make("NotYetRegisteredBulletEnv-v0")  # not in the registry: the import is attempted
