from pathlib import Path

import pytest
import torch
from torch import nn

from genpolicy import EvolutionModule, evolve

README = Path(__file__).resolve().parents[1] / "README.md"


def test_evolves_a_users_module_on_a_quadratic(tmp_path, capsys):
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    target = [torch.ones(2, 3), -torch.ones(2)]

    def reward(weights):
        return -sum(float(((w - t) ** 2).sum()) for w, t in zip(weights, target, strict=True))

    before = reward([p.detach() for p in model.parameters()])
    es = EvolutionModule(
        model.parameters(),
        reward,
        population_size=20,
        sigma=0.1,
        learning_rate=0.05,
        decay=0.999,
        sigma_decay=0.999,
        save_path=str(tmp_path / "w.pt"),
    )
    weights = es.run(iterations=200, print_step=50)
    after = reward(weights)
    assert -after < -before / 20  # squared error at least 20× smaller
    assert torch.equal(model.weight.detach(), weights[0])  # written back into the module
    saved = torch.load(tmp_path / "w.pt", weights_only=True)
    assert [w.shape for w in saved] == [(2, 3), (2,)]
    assert "iter 200: test reward" in capsys.readouterr().out
    assert es.strategy.sigma == pytest.approx(0.1 * 0.999**200)  # decayed once per iteration
    assert es.optimizer.param_groups[0]["lr"] == pytest.approx(0.05 * 0.999**200)


def test_goal_stopping_and_threads():
    calls = []

    def reward(weights):
        calls.append(1)
        return 10.0 + float(weights[0].sum()) * 0

    model = nn.Linear(2, 1)
    evolve(
        model,
        reward,
        iterations=100,
        print_step=2,
        population_size=4,
        threadcount=2,
        reward_goal=5,
        consecutive_goal_stopping=3,
    )
    assert len(calls) == 6 * 4 + 3  # stopped after iteration 6: 6 × 4 members + 3 tests


def test_bad_arguments():
    with pytest.raises(ValueError, match="even"):
        EvolutionModule([torch.zeros(3)], lambda w: 0.0, population_size=5)
    with pytest.raises(ValueError, match="sigma"):
        EvolutionModule([torch.zeros(3)], lambda w: 0.0, sigma=0)
    with pytest.raises(ValueError, match="reward_goal"):
        EvolutionModule([torch.zeros(3)], lambda w: 0.0, consecutive_goal_stopping=3)
