"""Torch-native envs against gymnasium: same start state, same actions → same trajectory."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from genpolicy.envs.torch import TORCH_ENVS

N = 6  # copies stepped together, each compared with its own gymnasium env


def _actions(env_id, rng, n):
    if env_id == "CartPole-v1":
        return rng.integers(0, 2, n)
    if env_id == "Acrobot-v1":
        return rng.integers(0, 3, n)
    if env_id == "Pendulum-v1":
        return rng.uniform(-3, 3, (n, 1)).astype(np.float32)  # beyond the bounds: clipping is tested too
    return rng.uniform(-1.5, 1.5, (n, 1)).astype(np.float32)


def _gym_action(env_id, a):
    return int(a) if env_id in ("CartPole-v1", "Acrobot-v1") else a


@pytest.mark.parametrize("env_id", sorted(TORCH_ENVS))
def test_matches_gymnasium_step_by_step(env_id):
    rng = np.random.default_rng(0)
    benv = TORCH_ENVS[env_id](N, dtype=torch.float64)
    genvs = [gym.make(env_id) for _ in range(N)]
    starts = []
    for i, env in enumerate(genvs):
        env.reset(seed=i)
        starts.append(np.array(env.unwrapped.state, dtype=np.float64))
    obs = benv.reset_to(torch.tensor(np.stack(starts)))
    for i, env in enumerate(genvs):
        np.testing.assert_allclose(
            obs[i].numpy(),
            env.unwrapped._get_obs()
            if hasattr(env.unwrapped, "_get_obs")
            else np.asarray(
                env.unwrapped._get_ob() if hasattr(env.unwrapped, "_get_ob") else env.unwrapped.state, dtype=np.float32
            ),
            rtol=1e-6,
            atol=1e-6,
        )
    done = np.zeros(N, dtype=bool)
    compared = 0
    for t in range(benv.max_episode_steps + 2):
        a = _actions(env_id, rng, N)
        bobs, brew, bterm, btrunc = benv.step(torch.as_tensor(a))
        for i, env in enumerate(genvs):
            if done[i]:
                continue
            gobs, grew, gterm, gtrunc, _ = env.step(_gym_action(env_id, a[i]))
            np.testing.assert_allclose(bobs[i].numpy(), gobs, rtol=1e-7, atol=1e-7, err_msg=f"{env_id} t={t} env={i}")
            assert brew[i].item() == pytest.approx(grew, rel=1e-9, abs=1e-9), (t, i)
            assert bool(bterm[i]) == gterm and bool(btrunc[i]) == gtrunc, (t, i)
            done[i] = gterm or gtrunc
            compared += 1
        if done.all():
            break
    assert compared >= N * 10
    assert done.all()  # every copy reached its end (termination or the time limit) in lockstep


@pytest.mark.parametrize("env_id", sorted(TORCH_ENVS))
def test_start_states_follow_gymnasium_bounds_and_seeds(env_id):
    env = TORCH_ENVS[env_id](4096)
    seeds = torch.arange(4096)
    env.reset(seeds)
    first = env.state.clone()
    gym_env = gym.make(env_id)
    starts = np.stack(
        [np.asarray(gym_env.reset(seed=i) and gym_env.unwrapped.state, dtype=np.float64) for i in range(2000)]
    )
    lo, hi = starts.min(0), starts.max(0)
    s = first.numpy()
    span = np.maximum(hi - lo, 1e-9)
    assert (s.min(0) >= lo - 0.01 * span).all() and (s.max(0) <= hi + 0.01 * span).all()
    np.testing.assert_allclose(s.mean(0), starts.mean(0), atol=0.05 * span.max())
    env.reset(seeds)
    assert torch.equal(env.state, first)  # a pure function of the seeds
    env.reset(seeds + 1)
    assert not torch.equal(env.state, first)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("env_id", sorted(TORCH_ENVS))
def test_cuda_batch_matches_cpu_batch(env_id):
    cpu, gpu = TORCH_ENVS[env_id](64), TORCH_ENVS[env_id](64, device="cuda")
    seeds = torch.arange(64)
    torch.testing.assert_close(gpu.reset(seeds).cpu(), cpu.reset(seeds))
    rng = np.random.default_rng(0)
    for _ in range(50):
        a = torch.as_tensor(_actions(env_id, rng, 64))
        for x, y in zip(gpu.step(a.cuda()), cpu.step(a), strict=True):
            torch.testing.assert_close(x.cpu(), y, rtol=1e-9, atol=1e-9)
