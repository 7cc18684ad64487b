import pytest
import torch

from genpolicy.policies import MLP, BoxHead, DiscreteHead, PopulationPolicy, RunningNorm


@pytest.mark.parametrize("bias", [True, False])
def test_batched_forward_matches_each_member(bias):
    mlp = MLP(5, 3, hidden=(16, 8), activation="selu", bias=bias)
    params = torch.randn(4, mlp.num_params)
    obs = torch.randn(4, 6, 5)
    out = mlp.batched(params, obs)
    for p in range(4):
        single = MLP(5, 3, hidden=(16, 8), activation="selu", bias=bias).load_flat(params[p])
        torch.testing.assert_close(out[p], single(obs[p]), rtol=1e-5, atol=1e-5)


def test_flat_layout_round_trip():
    mlp = MLP(3, 2, hidden=(4,))
    flat = mlp.flat_parameters()
    assert flat.numel() == mlp.num_params == 3 * 4 + 4 + 4 * 2 + 2
    torch.testing.assert_close(MLP(3, 2, hidden=(4,)).load_flat(flat).flat_parameters(), flat)


def test_heads_respect_action_spaces():
    out = torch.randn(3, 2, 4) * 10
    assert DiscreteHead(4)(out).shape == (3, 2)
    gen = torch.Generator().manual_seed(0)
    sampled = DiscreteHead(4, "sample")(out, gen)
    assert sampled.shape == (3, 2) and int(sampled.max()) < 4
    for mode in ("tanh", "clip"):
        a = BoxHead([-2.0, 0.0, -1, 5], [2.0, 1.0, 1, 6], mode)(out)
        assert (a >= torch.tensor([-2.0, 0.0, -1, 5])).all() and (a <= torch.tensor([2.0, 1.0, 1, 6])).all()
    with pytest.raises(ValueError, match="argmax"):
        DiscreteHead(2, "tanh")


def test_running_norm_matches_data_statistics():
    norm = RunningNorm(3)
    data = torch.randn(1000, 3, dtype=torch.float64) * torch.tensor([1.0, 5.0, 0.5]) + 2
    for chunk in data.split(100):
        norm.update(chunk.sum(0), chunk.square().sum(0), len(chunk))
    mean, std = norm.mean_std()
    torch.testing.assert_close(mean, data.mean(0))
    torch.testing.assert_close(std, data.std(0, unbiased=False))
    z = norm(data.float())
    assert abs(float(z.mean())) < 0.05 and abs(float(z.std()) - 1) < 0.05


def test_population_policy_bind_equals_act():
    pol = PopulationPolicy(4, "box", 2, (-1, -1), (1, 1), hidden=(8,))
    params = torch.randn(3, pol.num_params)
    obs = torch.randn(3, 2, 4)
    torch.testing.assert_close(pol.bind(params)(obs), pol.act(params, obs))
    assert not any(p.requires_grad for p in pol.parameters())


def test_running_norm_cache_follows_loaded_state():
    trained, fresh = RunningNorm(2), RunningNorm(2)
    x = torch.tensor([[3.0, -1.0]])
    trained.update(torch.tensor([10.0, 0.0]), torch.tensor([60.0, 8.0]), 4)
    torch.testing.assert_close(fresh(x), x)  # identity statistics before any update (cached now)
    fresh.load_state_dict(trained.state_dict())
    torch.testing.assert_close(fresh(x), trained(x))
    assert not torch.allclose(fresh(x), x)
