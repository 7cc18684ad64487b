"""One suite for every search strategy (ask/tell over flat parameter vectors): a new strategy is added
to STRATEGIES and gets every test."""

import pytest
import torch

from genpolicy.population import CEM, ESSearch, GeneticAlgorithm, OpenAIES

D = 12
STRATEGIES = {
    "openai_es": lambda: ESSearch(OpenAIES(popsize=32, sigma=0.1), optimizer="adam", lr=0.05),
    "ga": lambda: GeneticAlgorithm(popsize=32, truncation=6, mutation_std=0.1, elite_candidates=4),
    "ga_sparse": lambda: GeneticAlgorithm(popsize=32, truncation=6, mutation_std=0.2, mutation_prob=0.5,
                                          elite_candidates=4),
    "cem": lambda: CEM(popsize=32, elite=6, smoothing=0.75, init_std=0.3, std_schedule="decay", std_decay=0.97),
}
TARGET = torch.linspace(-1, 1, D)


def objective(x: torch.Tensor) -> torch.Tensor:  # (k, D) → (k,), maximised at TARGET
    return -((x - TARGET) ** 2).sum(-1)


def generation(search, seed: int) -> None:
    members = search.ask(seed)
    fitness = objective(members.rows(torch.arange(len(members))))
    candidates = search.tell(fitness, seed)
    if candidates is not None:  # GA: re-evaluate the elite candidates (deterministic objective here)
        search.tell_elite(objective(candidates))


def make(name: str):
    s = STRATEGIES[name]()
    s.initialize(torch.zeros(D))
    return s


@pytest.fixture(params=sorted(STRATEGIES))
def name(request):
    return request.param


@pytest.fixture
def search(name):
    return make(name)


def test_a_quadratic_improves(search):
    start = float(objective(search.solution()[None]))
    for gen in range(120):
        generation(search, gen)
    assert float(objective(search.solution()[None])) > 0.05 * start  # error at least 20× smaller


def test_members_are_rebuilt_from_the_seed_alone(search):
    members = search.ask(7)
    all_rows = members.rows(torch.arange(len(members)))
    for i in (0, 1, len(members) - 1):
        torch.testing.assert_close(members.rows(torch.tensor([i]))[0], all_rows[i])
    again = search.ask(7).rows(torch.arange(len(members)))
    assert torch.equal(again, all_rows)
    assert not torch.equal(search.ask(8).rows(torch.arange(len(members))), all_rows)


def test_state_round_trip_continues_identically(name, search):
    for gen in range(3):
        generation(search, gen)
    state = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in search.state_dict().items()}
    other = make(name)
    other.load_state_dict(state)
    for gen in range(3, 6):
        generation(search, gen)
        generation(other, gen)
    assert torch.equal(search.solution(), other.solution())


def test_nonfinite_fitness_does_not_break_the_search(search):
    members = search.ask(0)
    fitness = objective(members.rows(torch.arange(len(members))))
    fitness[::3] = float("nan")
    fitness[1] = float("inf") * -1
    candidates = search.tell(fitness, 0)
    if candidates is not None:
        search.tell_elite(objective(candidates))
    assert torch.isfinite(search.solution()).all()


def test_ga_elite_survives_unmutated_and_only_better_candidates_replace_it():
    ga = GeneticAlgorithm(popsize=16, truncation=4, mutation_std=0.5, elite_candidates=3)
    ga.initialize(torch.zeros(D))
    members = ga.ask(0)
    torch.testing.assert_close(members.rows(torch.tensor([0]))[0], ga.elite)  # member 0 is the elite
    fitness = torch.arange(16.0)  # the lucky single-episode winner is member 15
    candidates = ga.tell(fitness, 0)
    torch.testing.assert_close(candidates[0], torch.zeros(D))  # the standing elite is a candidate
    best = ga.tell_elite(torch.tensor([5.0, 1.0, 2.0]))  # re-evaluation: the elite holds
    assert best == 0 and torch.equal(ga.elite, torch.zeros(D))
    parents = ga.parents
    assert parents.shape == (4, D)
    torch.testing.assert_close(parents[0], members.rows(torch.tensor([15]))[0])


def test_sparse_mutation_changes_about_that_fraction_of_elements():
    ga = GeneticAlgorithm(popsize=64, truncation=1, mutation_std=1.0, mutation_prob=0.1)
    ga.initialize(torch.zeros(1000))
    rows = ga.ask(3).rows(torch.arange(1, 64))
    frac = float((rows != 0).double().mean())
    assert 0.08 < frac < 0.12


@pytest.mark.parametrize("make, message", [
    (lambda: GeneticAlgorithm(popsize=8, truncation=9), "truncation"),
    (lambda: GeneticAlgorithm(mutation_std=0), "mutation_std"),
    (lambda: GeneticAlgorithm(mutation_prob=1.5), "mutation_prob"),
    (lambda: CEM(popsize=8, elite=9), "elite"),
    (lambda: CEM(std_schedule="bogus"), "std_schedule"),
    (lambda: CEM(smoothing=0), "smoothing"),
])
def test_bad_hyperparameters_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()
