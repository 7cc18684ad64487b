"""Every group switch composes and runs without naming an experiment: each legal method × strategy ×
(discrete, box) env trains one generation; each illegal pair is refused with one line."""

import numpy as np
import pytest

from conftest import compose_fit
from genpolicy.fit import InputError
from genpolicy.population import STRATEGIES

POPULATION_METHODS = {"direct": None, "pgen": None, "es": ("gradient",), "ga": ("genetic",)}  # kinds accepted
GRADIENT_METHODS = ("td3", "ddpg", "stgpv")
ENVS = {"discrete": "cartpole", "box": "pendulum"}
TINY_ROUNDS = (
    "method.round_steps=50",
    "data.warmup_steps=50",
    "data.batch_size=16",
    "data.train_every=10",
    "policy.hidden=[16]",
    "method.critic_hidden=[16]",
    "data.capacity=200",
    "generations=1",
)


def legal(method: str, strategy: str) -> bool:
    kinds = POPULATION_METHODS[method]
    return kinds is None or STRATEGIES[strategy].kind in kinds


PAIRS = [(m, s, e) for m in POPULATION_METHODS for s in sorted(STRATEGIES) for e in ENVS if legal(m, s)]
REFUSED = [(m, s) for m in POPULATION_METHODS for s in sorted(STRATEGIES) if not legal(m, s)]


def strategy_overrides(method: str, strategy: str) -> tuple[str, ...]:
    # method=ga picks strategy=ga itself; name the strategy only where it is a choice
    return () if method == "ga" else (f"strategy={strategy}",)


@pytest.mark.parametrize("method, strategy, kind", PAIRS, ids=[f"{m}-{s}-{k}" for m, s, k in PAIRS])
def test_population_switch_trains_one_generation(fit_run, method, strategy, kind):
    overrides = (f"method={method}", *strategy_overrides(method, strategy), f"env={ENVS[kind]}", "generations=1")
    cfg = compose_fit(*overrides)
    assert cfg.strategy._target_.rsplit(".", 1)[-1] == STRATEGIES[strategy].__name__
    summary, _ = fit_run(*overrides)
    assert summary["generations"] == 1 and summary["env_steps"] > 0
    assert np.isfinite(summary["eval_return_mean"])


@pytest.mark.parametrize("method", GRADIENT_METHODS)
def test_gradient_method_switch_trains_on_a_box_env(fit_run, method):
    cfg = compose_fit(f"method={method}", "env=pendulum")
    assert cfg.trainer.max_steps == -1 and cfg.data._target_.endswith("ReplayDataModule")
    summary, _ = fit_run(f"method={method}", "env=pendulum", *TINY_ROUNDS)
    assert summary["env_steps"] >= 50 and np.isfinite(summary["eval_return_mean"])


@pytest.mark.parametrize("method", GRADIENT_METHODS)
def test_gradient_method_on_a_discrete_env_is_refused(fit_run, method):
    with pytest.raises(InputError) as err:
        fit_run(f"method={method}", "env=cartpole", *TINY_ROUNDS)
    assert "needs box actions" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("method, strategy", REFUSED, ids=[f"{m}-{s}" for m, s in REFUSED])
def test_illegal_method_strategy_pair_is_refused_in_one_line(fit_run, method, strategy):
    with pytest.raises(InputError) as err:
        fit_run(f"method={method}", f"strategy={strategy}")
    message = str(err.value)
    assert "\n" not in message and STRATEGIES[strategy].__name__ in message and "method=direct" in message


def test_gpv_without_a_teacher_is_refused(fit_run):
    with pytest.raises(InputError, match="actor_ckpt"):
        fit_run("method=gpv", "env=pendulum")
