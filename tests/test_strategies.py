"""One suite for every registered strategy (population.STRATEGIES), each built from its own config as
``fit`` builds it and driven by the one generation update ``fit`` runs (population.protocol.update):
a new strategy is one registry line away from every test here."""

import copy
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from conftest import compose_fit
from genpolicy._configs import config_dir
from genpolicy.population import CEM, STRATEGIES, GeneticAlgorithm, update

D = 12
TARGET = 0.3 * torch.linspace(-1, 1, D)
SMALL = {
    "ga": ("strategy.truncation=6", "strategy.elite_candidates=4", "strategy.elite_episodes=2"),
    "cem": ("strategy.elite=6",),
    "pgpe": ("strategy.lr=0.02", "strategy.max_speed=0.04", "strategy.radius_init=0.5"),
}  # ClipUp: steps ~ lr


def objective(x: torch.Tensor) -> torch.Tensor:  # (k, D) → (k,), maximised at TARGET
    return -((x - TARGET) ** 2).sum(-1)


class Search:
    """What PopulationModule does with a strategy, minus the rollouts: centre, optimiser, update."""

    def __init__(self, name: str) -> None:
        cfg = compose_fit(f"strategy={name}", "strategy.popsize=32", *SMALL.get(name, ()))
        self.strategy = instantiate(cfg.strategy)
        self.centre = nn.Parameter(torch.zeros(D, dtype=torch.float64))
        self.strategy.initialize(self.centre)
        self.optimizer, self.scheduler = self.strategy.make_optimizer([self.centre])

    def generation(self, seed: int, fitness=None) -> dict:
        members = self.strategy.ask(seed)
        f = objective(members.rows(torch.arange(len(members)))) if fitness is None else fitness(members)
        return update(
            self.strategy,
            self.centre,
            self.optimizer,
            self.scheduler,
            f,
            seed,
            lambda candidates, episodes: objective(candidates.rows(torch.arange(len(candidates)))),
        )

    def error(self) -> float:
        return -float(objective(self.centre.detach()[None]))


@pytest.fixture(params=sorted(STRATEGIES))
def name(request):
    return request.param


def test_every_strategy_has_a_config_and_every_config_a_strategy():
    configs = {p.stem for p in (Path(config_dir()) / "strategy").glob("*.yaml")}
    assert configs == set(STRATEGIES)
    for key, cls in STRATEGIES.items():
        target = compose_fit(f"strategy={key}").strategy._target_
        assert target.rsplit(".", 1)[-1] == cls.__name__


def test_a_quadratic_improves(name):
    search = Search(name)
    start = search.error()
    for gen in range(150):
        search.generation(gen)
    assert search.error() < start / 10


def test_members_are_rebuilt_from_the_seed_alone(name):
    search = Search(name)
    search.generation(0)  # a generation in: a GA has parents, CEM/CMA a moved distribution
    members = search.strategy.ask(7)
    all_rows = members.rows(torch.arange(len(members)))
    assert all_rows.shape == (32, D)
    for i in (0, 1, len(members) - 1):
        torch.testing.assert_close(members.rows(torch.tensor([i]))[0], all_rows[i])
    assert torch.equal(search.strategy.ask(7).rows(torch.arange(len(members))), all_rows)
    assert not torch.equal(search.strategy.ask(8).rows(torch.arange(len(members))), all_rows)


def test_state_round_trip_continues_identically(name):
    search, other = Search(name), Search(name)
    for gen in range(3):
        search.generation(gen)
    other.centre.data.copy_(search.centre.detach())  # Lightning restores the centre and the optimiser
    other.optimizer.load_state_dict(copy.deepcopy(search.optimizer.state_dict()))  # a checkpoint copies
    if search.scheduler is not None:
        other.scheduler.load_state_dict(search.scheduler.state_dict())
    state = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in search.strategy.state_dict().items()}
    other.strategy.load_state_dict(state)
    for gen in range(3, 6):
        a, b = search.generation(gen), other.generation(gen)
        assert a == b
    assert torch.equal(search.centre.detach(), other.centre.detach())


def test_nonfinite_fitness_does_not_break_the_search(name):
    search = Search(name)

    def broken(members):
        f = objective(members.rows(torch.arange(len(members))))
        f[::3] = float("nan")
        f[1] = -float("inf")
        return f

    metrics = search.generation(0, broken)
    search.generation(1)
    assert torch.isfinite(search.centre.detach()).all()
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values())


def test_metrics_carry_the_strategy_prefix(name):
    search = Search(name)
    metrics = search.generation(0)
    prefix = search.strategy.metric_prefix
    assert metrics and all(k.startswith(prefix + "/") for k in metrics)


def test_ga_elite_survives_unmutated_and_only_better_candidates_replace_it():
    ga = GeneticAlgorithm(popsize=16, truncation=4, mutation_std=0.5, elite_candidates=3)
    ga.initialize(torch.zeros(D))
    members = ga.ask(0)
    torch.testing.assert_close(members.rows(torch.tensor([0]))[0], ga.elite)  # member 0 is the elite
    ga.tell(torch.arange(16.0), 0)  # the lucky single-episode winner is member 15
    candidates, episodes = ga.reevaluate()
    assert episodes == ga.elite_episodes
    torch.testing.assert_close(candidates.rows(torch.tensor([0]))[0], torch.zeros(D))  # the standing elite
    metrics = ga.tell_reevaluated(torch.tensor([5.0, 1.0, 2.0]))  # re-evaluation: the elite holds
    assert metrics["ga/elite_changed"] == 0 and torch.equal(ga.elite, torch.zeros(D))
    assert ga.reevaluate() is None
    assert ga.parents.shape == (4, D)
    torch.testing.assert_close(ga.parents[0], members.rows(torch.tensor([15]))[0])


def test_sparse_mutation_changes_about_that_fraction_of_elements():
    ga = GeneticAlgorithm(popsize=64, truncation=1, mutation_std=1.0, mutation_prob=0.1)
    ga.initialize(torch.zeros(1000))
    rows = ga.ask(3).rows(torch.arange(1, 64))
    frac = float((rows != 0).double().mean())
    assert 0.08 < frac < 0.12


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: GeneticAlgorithm(popsize=8, truncation=9), "truncation"),
        (lambda: GeneticAlgorithm(mutation_std=0), "mutation_std"),
        (lambda: GeneticAlgorithm(mutation_prob=1.5), "mutation_prob"),
        (lambda: CEM(popsize=8, elite=9), "elite"),
        (lambda: CEM(std_schedule="bogus"), "std_schedule"),
        (lambda: CEM(smoothing=0), "smoothing"),
    ],
)
def test_bad_hyperparameters_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()
