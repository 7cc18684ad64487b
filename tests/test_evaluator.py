import gymnasium as gym
import numpy as np
import pytest
import torch

from conftest import needs_cxx
from genpolicy.envs import EnvSpec
from genpolicy.policies import PopulationPolicy
from genpolicy.rollout import PopulationEvaluator


def _reference_returns(env_id, policy, params, seeds, episodes):
    """One plain gymnasium env per episode, played member by member: the ground truth."""
    out = np.zeros((params.shape[0], episodes))
    for p in range(params.shape[0]):
        act = policy.bind(params[p : p + 1])
        for e in range(episodes):
            env = gym.make(env_id)
            obs, _ = env.reset(seed=seeds[p * episodes + e])
            done = False
            while not done:
                a = act(torch.as_tensor(obs, dtype=torch.float32).view(1, 1, -1)).reshape(-1).numpy()
                obs, r, term, trunc, _ = env.step(a[0] if policy.head.kind == "discrete" else a)
                out[p, e] += r
                done = term or trunc
    return out


@pytest.mark.parametrize(
    "env_id, vectorization", [("CartPole-v1", "sync"), ("Pendulum-v1", "sync"), ("CartPole-v1", "async")]
)
def test_returns_match_single_env_rollouts(env_id, vectorization):
    spec = EnvSpec.make(env_id, vectorization=vectorization, backend="gymnasium")
    torch.manual_seed(0)
    policy = PopulationPolicy(
        spec.obs_dim, spec.action_kind, spec.action_dim, spec.action_low, spec.action_high, hidden=(8,), obs_norm=False
    )
    params = policy.initial_parameters() + 0.5 * torch.randn(3, policy.num_params)
    seeds = list(range(100, 106))
    ev = PopulationEvaluator(spec)
    try:
        res = ev.evaluate(policy.bind, params, 2, seeds, obs_stats=True)
        again = ev.evaluate(policy.bind, params, 2, seeds)  # envs are reused: same answer
    finally:
        ev.close()
    ref = _reference_returns(env_id, policy, params, seeds, 2)
    np.testing.assert_allclose(res.returns.numpy(), ref, rtol=1e-6)
    torch.testing.assert_close(again.returns, res.returns)
    assert res.lengths.min() >= 1 and res.env_steps == int(res.lengths.sum())
    assert res.obs_count == res.env_steps  # one observation counted per step actually played
    if env_id == "CartPole-v1":
        assert len(set(res.lengths.flatten().tolist())) > 1  # episodes ended at different times


def test_step_cap_truncates():
    spec = EnvSpec.make("Pendulum-v1")
    policy = PopulationPolicy(spec.obs_dim, "box", 1, spec.action_low, spec.action_high, hidden=(4,))
    ev = PopulationEvaluator(spec)
    res = ev.evaluate(policy.bind, policy.initial_parameters()[None], 3, [1, 2, 3], max_steps=17)
    ev.close()
    assert res.lengths.tolist() == [[17, 17, 17]]


def test_seed_count_is_checked():
    spec = EnvSpec.make("CartPole-v1")
    policy = PopulationPolicy(4, "discrete", 2, hidden=(4,))
    with pytest.raises(ValueError, match="env seeds"):
        PopulationEvaluator(spec).evaluate(policy.bind, torch.zeros(2, policy.num_params), 1, [0])


def test_unknown_env_id_names_close_matches():
    with pytest.raises(ValueError, match=r"unknown env id 'CartPole-v9'.*CartPole-v1"):
        EnvSpec.make("CartPole-v9")


def _policy(spec, hidden=(8,)):
    torch.manual_seed(1)
    return PopulationPolicy(
        spec.obs_dim,
        spec.action_kind,
        spec.action_dim,
        spec.action_low,
        spec.action_high,
        hidden=hidden,
        obs_norm=False,
    )


@pytest.mark.parametrize("backend", ["gymnasium", "torch"])
def test_compaction_and_chunking_change_nothing(backend):
    spec = EnvSpec.make("CartPole-v1", backend=backend)
    policy = _policy(spec)
    params = policy.initial_parameters() + 0.3 * torch.randn(10, policy.num_params)
    seeds = torch.arange(30) * 7
    plain = PopulationEvaluator(spec, compact_min=10**9)  # never compacts, one chunk
    ref = plain.evaluate(policy.bind, params, 3, seeds, obs_stats=True)
    assert len(set(ref.lengths.flatten().tolist())) > 3  # episodes end at many different times
    for kwargs in ({"compact_min": 2}, {"chunk_size": 3, "compact_min": 2}, {"chunk_size": 1}):
        ev = PopulationEvaluator(spec, **kwargs)
        res = ev.evaluate(policy.bind, params, 3, seeds, obs_stats=True)
        torch.testing.assert_close(res.returns, ref.returns, msg=str(kwargs))
        torch.testing.assert_close(res.lengths, ref.lengths, msg=str(kwargs))
        torch.testing.assert_close(res.obs_sum, ref.obs_sum, msg=str(kwargs))
        assert res.obs_count == ref.obs_count == ref.env_steps
        ev.close()
    plain.close()


def test_simulator_memory_budget_bounds_chunks_and_cached_copies():
    """Heavy simulators (a pybullet copy is ~30 MB) are chunked by a memory budget, and the cached
    batches never hold more copies than it allows — with the same returns as one big batch."""
    from genpolicy.rollout.evaluator import copy_bytes

    assert copy_bytes(EnvSpec.make("InvertedPendulumSwingupBulletEnv-v0")) >= 30 << 20
    spec = EnvSpec.make("CartPole-v1", backend="gymnasium")
    policy = _policy(spec)
    params = policy.initial_parameters() + 0.3 * torch.randn(10, policy.num_params)
    seeds = torch.arange(20) * 3
    ref = PopulationEvaluator(spec).evaluate(policy.bind, params, 2, seeds)
    ev = PopulationEvaluator(spec, sim_bytes=5 * copy_bytes(spec))  # 5 copies: chunks of 2 members × 2 episodes
    assert ev.max_copies == 5 and ev.members_per_chunk(policy.num_params, 2) == 2
    res = ev.evaluate(policy.bind, params, 2, seeds)
    torch.testing.assert_close(res.returns, ref.returns)
    ev.evaluate(policy.bind, params[:1], 3, seeds[:3])  # another size: the least recent batch goes
    assert sum(n for n, *_ in ev._batches) <= 5 and (3, "cpu", 0) in ev._batches
    ev.close()


def test_compaction_matches_single_env_rollouts_on_gymnasium():
    spec = EnvSpec.make("CartPole-v1", backend="gymnasium")
    policy = _policy(spec)
    params = policy.initial_parameters() + 0.5 * torch.randn(4, policy.num_params)
    seeds = list(range(40, 52))
    res = PopulationEvaluator(spec, compact_min=2).evaluate(policy.bind, params, 3, seeds)
    np.testing.assert_allclose(res.returns.numpy(), _reference_returns("CartPole-v1", policy, params, seeds, 3))


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1", "Acrobot-v1", "MountainCarContinuous-v0"])
def test_torch_and_gymnasium_backends_give_the_same_task(env_id):
    """Same policy, many episodes from each backend's own start states: the same return distribution."""
    returns = {}
    for backend in ("gymnasium", "torch"):
        spec = EnvSpec.make(env_id, backend=backend)
        policy = _policy(spec, hidden=(16,))
        params = policy.initial_parameters()[None] * 3
        ev = PopulationEvaluator(spec)
        returns[backend] = ev.evaluate(policy.bind, params, 200, torch.arange(200)).returns.flatten()
        ev.close()
    g, t = returns["gymnasium"], returns["torch"]
    stderr = float(((g.var() + t.var()) / 200).sqrt()) + 1e-6
    assert abs(float(g.mean() - t.mean())) < 4 * stderr + 1e-3 * abs(float(g.mean())), (
        float(g.mean()),
        float(t.mean()),
    )


def test_torch_backend_rejects_ids_it_does_not_have():
    with pytest.raises(ValueError, match="no torch-native version of 'LunarLander-v3'.*CartPole-v1"):
        EnvSpec.make("LunarLander-v3", backend="torch")


def test_auto_backend_picks_torch_where_it_exists():
    assert EnvSpec.make("CartPole-v1").backend == "torch"
    assert EnvSpec.make("LunarLander-v3").backend == "gymnasium"
    assert EnvSpec.make("CartPole-v1", vectorization="workers").backend == "gymnasium"


@needs_cxx
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_compiled_step_is_one_graph_and_matches_eager(env_id):
    """env.compile=true: each step (policy, env, bookkeeping) is one torch.compile graph with no
    break, and the returns equal eager ones — through chunking, a remainder chunk and compaction."""
    from torch._dynamo.utils import counters

    eager, compiled = EnvSpec.make(env_id, backend="torch"), EnvSpec.make(env_id, backend="torch", compile=True)
    torch.manual_seed(0)
    policy = PopulationPolicy(
        eager.obs_dim,
        eager.action_kind,
        eager.action_dim,
        eager.action_low,
        eager.action_high,
        hidden=(16, 16),
        obs_norm=False,
    )
    params = policy.initial_parameters() + 0.5 * torch.randn(10, policy.num_params)
    seeds = torch.arange(20)
    ref = PopulationEvaluator(eager, chunk_size=4).evaluate(policy.bind, params, 2, seeds)
    counters.clear()
    res = PopulationEvaluator(compiled, chunk_size=4).evaluate(policy.bind, params, 2, seeds)
    assert counters["stats"]["unique_graphs"] == 2  # chunks of 4 members and the remainder of 2
    assert not counters["graph_break"], dict(counters["graph_break"])
    torch.testing.assert_close(res.lengths, ref.lengths, rtol=0, atol=0)
    # fused float32 kernels may round the policy's last bits differently (Pendulum: ≤ 2e-7 relative)
    torch.testing.assert_close(res.returns, ref.returns, rtol=1e-5, atol=1e-6)
    if env_id == "CartPole-v1":
        assert len(set(ref.lengths.flatten().tolist())) > 1  # episodes ended apart: compaction ran


def test_compile_needs_the_torch_backend():
    with pytest.raises(ValueError, match="compiles the torch-native step.*gymnasium"):
        EnvSpec.make("CartPole-v1", backend="gymnasium", compile=True)
    with pytest.raises(ValueError, match="compiles the torch-native step"):
        EnvSpec.make("LunarLander-v3", compile=True)  # auto resolves to gymnasium
