import pytest
import torch

from genpolicy.population import OpenAIES, centered_ranks, shape_fitness, zscore
from genpolicy.population.shaping import utility


def _ask(es, centre, seed):
    es.initialize(centre)
    return es.ask(seed).rows(torch.arange(es.popsize))


def test_mirrored_pairs_cancel():
    es = OpenAIES(popsize=10, sigma=0.3)
    centre = torch.randn(7)
    members = _ask(es, centre, 123)
    assert members.shape == (10, 7)
    torch.testing.assert_close((members[0::2] + members[1::2]) / 2, centre.expand(5, 7))
    assert not torch.allclose(members[0], members[2])
    # equal fitness within every pair → the pairs cancel and the estimate is exactly zero
    fitness = torch.arange(5.0).repeat_interleave(2)
    assert torch.count_nonzero(es.tell(fitness, 123)) == 0


def test_members_rebuild_from_seed_and_index():
    for mirrored in (True, False):
        es = OpenAIES(popsize=6, sigma=0.1, mirrored=mirrored)
        centre = torch.randn(5)
        members = _ask(es, centre, 9)
        for i in range(6):
            other = OpenAIES(6, 0.1, mirrored)
            other.initialize(centre)
            torch.testing.assert_close(other.ask(9).rows(torch.tensor([i]))[0], members[i])
        assert not torch.allclose(_ask(es, centre, 10), members)


@pytest.mark.parametrize("n", [2, 5, 64])
def test_centered_ranks_sum_to_zero_and_order(n):
    f = torch.randn(n)
    r = centered_ranks(f)
    assert abs(float(r.sum())) < 1e-9
    assert float(r.min()) == -0.5 and float(r.max()) == 0.5
    assert torch.equal(torch.argsort(r), torch.argsort(f))


def test_zscore_and_utility_are_centred():
    f = torch.tensor([3.0, 1.0, 4.0, 1.5, 9.0])
    assert abs(float(zscore(f).mean())) < 1e-9 and abs(float(zscore(f).std(unbiased=False)) - 1) < 1e-9
    assert abs(float(utility(f).sum())) < 1e-9 and int(utility(f).argmax()) == 4


def test_nonfinite_fitness_ranks_last():
    f = torch.tensor([1.0, float("nan"), 5.0, float("inf"), -3.0, float("-inf")])
    for method in ("centered_ranks", "zscore", "utility"):
        u = shape_fitness(f, method)
        assert torch.isfinite(u).all(), method
        worst = u[[1, 3, 5]].max()
        assert worst <= u[[0, 2, 4]].min(), method


def test_quadratic_improves():
    torch.manual_seed(0)
    target = torch.randn(20)
    centre = torch.nn.Parameter(torch.zeros(20))
    es = OpenAIES(popsize=32, sigma=0.1)
    es.initialize(centre)
    opt = torch.optim.Adam([centre], lr=0.05)
    start = float((centre.detach() - target).norm())
    for gen in range(150):
        members = es.ask(gen).rows(torch.arange(32))
        fitness = -((members - target) ** 2).sum(1)
        centre.grad = -es.tell(fitness, gen)
        opt.step()
    assert float((centre.detach() - target).norm()) < 0.1 * start


def test_sigma_decay_and_state_round_trip():
    es = OpenAIES(popsize=4, sigma=1.0, sigma_decay=0.5, sigma_min=0.2)
    es.initialize(torch.zeros(3))
    for seed in range(3):
        es.tell(torch.arange(4.0), seed)
    assert es.sigma == pytest.approx(0.2)
    other = OpenAIES(popsize=4, sigma=1.0)
    other.load_state_dict(es.state_dict())
    assert other.sigma == es.sigma


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"popsize": 7}, "even"),
        ({"sigma": 0.0}, "sigma"),
        ({"sigma": -1.0}, "sigma"),
        ({"shaping": "bogus"}, "shaping"),
        ({"popsize": 1}, "popsize"),
        ({"sigma_decay": 1.5}, "sigma_decay"),
    ],
)
def test_bad_hyperparameters_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        OpenAIES(**kwargs)
