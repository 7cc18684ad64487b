import gymnasium as gym
import numpy as np
import pytest
import torch

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


@pytest.mark.parametrize("env_id, vectorization", [("CartPole-v1", "sync"), ("Pendulum-v1", "sync"),
                                                    ("CartPole-v1", "async")])
def test_returns_match_single_env_rollouts(env_id, vectorization):
    spec = EnvSpec.make(env_id, vectorization=vectorization)
    torch.manual_seed(0)
    policy = PopulationPolicy(spec.obs_dim, spec.action_kind, spec.action_dim, spec.action_low,
                              spec.action_high, hidden=(8,), obs_norm=False)
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
