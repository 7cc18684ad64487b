"""EvolutionModule's batched modes: env= (the population in one batched episode loop) and
batch_reward_func= (one vectorised call per iteration), checked against the per-member reward function."""

import gymnasium as gym
import pytest
import torch
from torch import nn

from genpolicy import EvolutionModule
from genpolicy.envs.registry import EnvSpec
from genpolicy.seeding import generation_seed, seeds


def cartpole_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 2))


def test_env_mode_solves_cartpole():
    model = cartpole_model(0)
    es = EvolutionModule(
        model,
        env="CartPole-v1",
        population_size=64,
        sigma=0.2,
        learning_rate=0.2,
        reward_goal=475,
        consecutive_goal_stopping=1,
        seed=0,
    )
    assert es.batched.spec.backend == "torch"  # auto picks the torch-native CartPole
    weights = es.run(iterations=30, print_step=1)
    assert es.history[-1][1] >= 475 and es.iteration <= 30
    assert es.test() >= 475
    assert torch.equal(model[0].weight.detach(), weights[0])  # written back into the user's module
    assert all(p.requires_grad for p in model.parameters())  # the policy plays a copy: the module is untouched


def test_env_mode_matches_per_member_episodes():
    """One iteration: the batched loop and a per-member gymnasium loop over the same reset seeds give the
    same population rewards (mirrored pairs share their seed)."""
    P = 8
    model = cartpole_model(1)
    names = [name for name, _ in model.named_parameters()]
    env_seeds = seeds(generation_seed(0, 0), "env", torch.arange(P) // 2).tolist()
    env, calls = gym.make("CartPole-v1"), []

    def reward(weights):
        obs, _ = env.reset(seed=env_seeds[len(calls)])
        calls.append(1)
        total, done = 0.0, False
        while not done:
            with torch.no_grad():
                logits = torch.func.functional_call(model, dict(zip(names, weights, strict=True)), torch.as_tensor(obs))
            obs, r, terminated, truncated, _ = env.step(int(logits.argmax()))
            total, done = total + r, terminated or truncated
        return total

    kwargs = dict(population_size=P, sigma=0.5, learning_rate=0.1, seed=0)
    per_member = EvolutionModule(model, reward, **kwargs).step()
    spec = EnvSpec.make("CartPole-v1", backend="gymnasium")
    batched = EvolutionModule(model, env=spec, **kwargs).step()
    assert len(calls) == P
    assert torch.equal(batched, per_member), (batched, per_member)
    assert len(set(per_member.tolist())) > 1  # the members differ: a real comparison
    assert torch.equal(per_member[0::2] == per_member[1::2], batched[0::2] == batched[1::2])


def test_env_mode_options():
    es = EvolutionModule(
        cartpole_model(), env="CartPole-v1", population_size=4, episodes_per_member=3, obs_norm=True, test_episodes=2
    )
    rewards = es.step()
    assert rewards.shape == (4,) and es.batched.policy.norm.count > 0  # statistics from the episodes
    assert es.test() > 0


QUADRATIC = [torch.ones(2, 3), -torch.ones(2)]


def quadratic(weights):
    return -sum(float(((w - t) ** 2).sum()) for w, t in zip(weights, QUADRATIC, strict=True))


def batch_quadratic(weights):  # weights: (P, 2, 3), (P, 2)
    return -sum(((w - t) ** 2).flatten(1).sum(1) for w, t in zip(weights, QUADRATIC, strict=True))


def test_batch_reward_matches_per_member():
    kwargs = dict(population_size=20, sigma=0.1, learning_rate=0.05, decay=0.999, sigma_decay=0.999, seed=3)
    torch.manual_seed(0)
    start = nn.Linear(3, 2).weight.detach().clone()
    torch.manual_seed(0)
    a = EvolutionModule(nn.Linear(3, 2), quadratic, **kwargs)
    torch.manual_seed(0)
    b = EvolutionModule(nn.Linear(3, 2), batch_reward_func=batch_quadratic, **kwargs)
    for _ in range(20):
        ra, rb = a.step(), b.step()
    assert torch.allclose(ra, rb, atol=1e-5)
    assert all(torch.allclose(wa, wb, atol=1e-6) for wa, wb in zip(a.weights, b.weights, strict=True))
    assert b.test() == pytest.approx(quadratic(b.weights), abs=1e-5)  # the centre as a population of one
    assert not torch.equal(a.weights[0], start)  # it moved


def test_bad_arguments():
    params = [torch.zeros(3)]
    with pytest.raises(ValueError, match="exactly one of reward_func.*got none"):
        EvolutionModule(params)
    with pytest.raises(ValueError, match="got reward_func and batch_reward_func"):
        EvolutionModule(params, lambda w: 0.0, batch_reward_func=lambda w: torch.zeros(len(w[0])))
    with pytest.raises(ValueError, match="got batch_reward_func and env"):
        EvolutionModule(params, batch_reward_func=lambda w: torch.zeros(len(w[0])), env="CartPole-v1")
    with pytest.raises(ValueError, match="nn.Module itself"):
        EvolutionModule(list(cartpole_model().parameters()), env="CartPole-v1")
    es = EvolutionModule(params, batch_reward_func=lambda w: torch.zeros(len(w[0]), 1), population_size=4)
    with pytest.raises(ValueError, match=r"one reward per member, shape \(4,\), got \(4, 1\)"):
        es.step()
    es = EvolutionModule(params, batch_reward_func=lambda w: "nope", population_size=4)
    with pytest.raises(ValueError, match="batch_reward_func must return"):
        es.step()


def test_readme_env_example_runs():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    example = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if 'env="CartPole-v1"' in b)
    torch.manual_seed(0)
    scope = {}
    exec("import torch\nfrom torch import nn\nfrom genpolicy import EvolutionModule\n" + example, scope)
    assert scope["es"].history[-1][1] >= 475
