"""PGPE (with ClipUp) and separable CMA-ES on the strategy protocol: their updates, their paper defaults,
and a few generations driven by ``genpolicy.population.protocol.update`` on toy objectives."""

import copy
import math

import pytest
import torch
from torch import nn

from genpolicy.population.noise import pair_noise
from genpolicy.population.optim import ClipUp
from genpolicy.population.pgpe import PGPE
from genpolicy.population.protocol import update
from genpolicy.population.sep_cma_es import SepCMAES, SepCMAParams
from genpolicy.seeding import stream

D = 12
TARGET = torch.linspace(-1, 1, D)


def sphere(x: torch.Tensor) -> torch.Tensor:  # (k, D) → (k,), maximised at TARGET
    return -((x - TARGET) ** 2).sum(-1)


def everyone(members) -> torch.Tensor:
    return members.rows(torch.arange(len(members)))


def run(strategy, centre: nn.Parameter, optimizer, scheduler, objective, generations: range) -> None:
    for gen in generations:
        fitness = objective(everyone(strategy.ask(gen)))
        update(strategy, centre, optimizer, scheduler, fitness, gen)


def driven(strategy, start: torch.Tensor):
    """``strategy`` initialised as the methods do it: a parameter centre and the strategy's optimiser."""
    centre = nn.Parameter(start.clone())
    strategy.initialize(centre if strategy.gradient_based else centre.detach())
    optimizer, scheduler = strategy.make_optimizer([centre])
    return centre, optimizer, scheduler


# ---------------------------------------------------------------- ClipUp


def test_clipup_first_step_is_lr_long_and_speed_is_clipped():
    p = nn.Parameter(torch.zeros(5))
    opt = ClipUp([p], lr=0.1, momentum=0.9, max_speed=0.15)
    g = torch.tensor([3.0, -4.0, 0.0, 1.0, 2.0])
    p.grad = g.clone()
    opt.step()  # zero velocity: v = lr · g/‖g‖
    torch.testing.assert_close(p.detach(), -0.1 * g / g.norm())
    p.grad = g.clone()
    opt.step()  # 0.9·0.1 + 0.1 = 0.19 > 0.15: clipped
    v = opt.state[p]["velocity"]
    assert math.isclose(float(v.norm()), 0.15, rel_tol=1e-6)
    torch.testing.assert_close(p.detach(), -(0.1 + 0.15) * g / g.norm())
    assert opt.param_groups[0]["max_speed"] == 0.15
    assert ClipUp([nn.Parameter(torch.zeros(2))], lr=0.05).param_groups[0]["max_speed"] == 0.1  # default 2·lr


# ---------------------------------------------------------------- PGPE


def pgpe(**kw) -> PGPE:
    kw = {"popsize": 16, "lr": 0.05, "max_speed": 0.1, "radius_init": None, "stdev_init": 0.3} | kw
    return PGPE(**kw)


def test_pgpe_defaults_and_initial_stdev():
    s = PGPE()
    assert (s.popsize, s.optim.name, s.optim.lr, s.optim.max_speed, s.optim.momentum) == (
        100,
        "clipup",
        0.1125,
        0.15,
        0.9,
    )
    assert (s.stdev_lr, s.radius_init, s.stdev_max_change, s.shaping, s.env_pairs) == (
        0.1,
        2.25,
        0.2,
        "centered_ranks",
        2,
    )
    s.initialize(torch.zeros(9))
    torch.testing.assert_close(s.stdev, torch.full((9,), 2.25 / 3))  # radius/√D: ‖σ‖ = radius
    assert math.isclose(float(s.stdev.norm()), 2.25, rel_tol=1e-6)
    s = pgpe(stdev_init=0.2)
    s.initialize(torch.zeros(4))
    torch.testing.assert_close(s.stdev, torch.full((4,), 0.2))
    assert s.metrics() == {"pgpe/stdev_mean": pytest.approx(0.2)}


@pytest.mark.parametrize(
    "kw, key",
    [
        ({"popsize": 15}, "popsize"),
        ({"popsize": 0}, "popsize"),
        ({"radius_init": 1.0}, "radius_init"),
        ({"stdev_init": None}, "radius_init"),
        ({"stdev_init": -0.1}, "stdev_init"),
        ({"stdev_lr": 0}, "stdev_lr"),
        ({"stdev_max_change": 1.5}, "stdev_max_change"),
        ({"stdev_min": 0.5, "stdev_max": 0.1}, "stdev_min"),
        ({"shaping": "ranks"}, "shaping"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"lr": 0}, "lr"),
        ({"max_speed": -1.0}, "max_speed"),
        ({"momentum": 1.0}, "momentum"),
    ],
)
def test_pgpe_bad_hyper_parameters_name_the_key(kw, key):
    with pytest.raises(ValueError, match=key):
        pgpe(**kw)


def test_pgpe_members_are_mirrored_and_rebuilt_from_the_seed():
    s = pgpe()
    s.initialize(TARGET.clone())
    rows = everyone(s.ask(3))
    eps = pair_noise(stream(3, "noise"), range(8), D)
    torch.testing.assert_close(rows[0::2], TARGET + 0.3 * eps)
    torch.testing.assert_close(rows[1::2], TARGET - 0.3 * eps)
    torch.testing.assert_close(s.ask(3).rows(torch.tensor([5, 2])), rows[[5, 2]])
    other = pgpe()
    other.initialize(TARGET.clone())
    assert torch.equal(everyone(other.ask(3)), rows)
    assert not torch.equal(everyone(s.ask(4)), rows)


def test_pgpe_mirrored_pairs_with_equal_fitness_cancel():
    s = pgpe()
    s.initialize(torch.zeros(D))
    pair_fitness = torch.randn(8, generator=torch.Generator().manual_seed(0))
    ascent = s.tell(pair_fitness.repeat_interleave(2), seed=0)  # f(μ + δ_j) = f(μ − δ_j)
    assert torch.equal(ascent, torch.zeros(D))


def test_pgpe_ascent_follows_sehnke_estimate():
    s = pgpe(shaping="none", stdev_max_change=None)
    s.initialize(torch.zeros(D))
    a = torch.randn(D, generator=torch.Generator().manual_seed(1))
    members = everyone(s.ask(0))
    ascent = s.tell(members @ a, seed=0)  # linear fitness: u⁺ − u⁻ = 2 δ·a
    delta = members[0::2]
    torch.testing.assert_close(ascent, ((delta @ a) @ delta) / 8)
    assert float(ascent @ a) > 0


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_pgpe_stdev_moves_toward_the_fitter_spread(sign):
    s = pgpe(popsize=64, stdev_lr=0.05)
    s.initialize(torch.zeros(D))
    before = s.stdev.clone()
    members = everyone(s.ask(0))
    s.tell(sign * members[:, 0] ** 2, seed=0)  # sign +1: wide in dimension 0 wins; −1: narrow wins
    assert sign * float(s.stdev[0] - before[0]) > 0
    assert float((s.stdev[0] - before[0]).abs()) > 3 * float((s.stdev[1:] - before[1:]).abs().mean())


def test_pgpe_stdev_change_is_limited_and_clamped():
    s = pgpe(popsize=64, stdev_lr=1e3)  # a huge step: only stdev_max_change holds it
    s.initialize(torch.zeros(D))
    for gen, sign in ((0, 1.0), (1, -1.0)):
        before = s.stdev.clone()
        members = everyone(s.ask(gen))
        s.tell(sign * (members**2).sum(1), seed=gen)
        ratio = s.stdev / before
        at_bound = ((ratio - 0.8).abs() < 1e-5) | ((ratio - 1.2).abs() < 1e-5)
        assert bool(at_bound.all())  # every σ_i moved by exactly ±20 %, no further
        assert sign * float(ratio.mean() - 1) > 0.1  # most toward the fitter spread
    s = pgpe(popsize=64, stdev_lr=1e3, stdev_min=0.25, stdev_max=0.33)
    s.initialize(torch.zeros(D))
    for gen, sign in ((0, 1.0), (1, -1.0), (2, -1.0)):
        members = everyone(s.ask(gen))
        s.tell(sign * (members**2).sum(1), seed=gen)
        assert bool(((s.stdev >= 0.25 - 1e-6) & (s.stdev <= 0.33 + 1e-6)).all())
        if gen == 0:  # 0.3 · (1 ± 0.2) = 0.24 | 0.36: held at stdev_min | stdev_max
            at_clamp = ((s.stdev - 0.25).abs() < 1e-6) | ((s.stdev - 0.33).abs() < 1e-6)
            assert bool(at_clamp.all())


def test_pgpe_clipup_steps_never_exceed_max_speed():
    s = pgpe(lr=0.05, max_speed=0.08)
    centre, opt, sched = driven(s, torch.zeros(D))
    assert isinstance(opt, ClipUp)
    speeds = []
    for gen in range(15):
        before = centre.detach().clone()
        run(s, centre, opt, sched, sphere, range(gen, gen + 1))
        speeds.append(float((centre.detach() - before).norm()))
    assert math.isclose(speeds[0], 0.05, rel_tol=1e-5)  # zero momentum: the first step is lr long
    assert max(speeds) <= 0.08 + 1e-6
    assert max(speeds) > 0.079  # momentum reaches the speed limit


def test_pgpe_a_quadratic_improves_through_update():
    s = pgpe(popsize=32, lr=0.05, max_speed=0.1)
    centre, opt, sched = driven(s, torch.zeros(D))
    start = float(sphere(centre.detach()[None]))
    metrics = {}
    for gen in range(150):
        fitness = sphere(everyone(s.ask(gen)))
        metrics = update(s, centre, opt, sched, fitness, gen)
    assert float(sphere(centre.detach()[None])) > 0.05 * start  # error at least 20× smaller
    assert set(metrics) == {"pgpe/stdev_mean", "pgpe/lr", "pgpe/grad_norm"}
    assert s.solution() is not None and s.solution().data_ptr() == centre.data_ptr()


def test_pgpe_state_round_trip_continues_identically():
    s = pgpe()
    centre, opt, sched = driven(s, torch.zeros(D))
    run(s, centre, opt, sched, sphere, range(3))
    other = pgpe()
    centre2, opt2, sched2 = driven(other, centre.detach())
    other.load_state_dict({k: v.clone() for k, v in s.state_dict().items()})
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))  # as from a checkpoint: no shared velocity
    sched2.load_state_dict(sched.state_dict())
    run(s, centre, opt, sched, sphere, range(3, 6))
    run(other, centre2, opt2, sched2, sphere, range(3, 6))
    assert torch.equal(centre.detach(), centre2.detach())
    assert torch.equal(s.stdev, other.stdev)


def test_pgpe_nonfinite_fitness_is_ranked_last():
    s = pgpe()
    s.initialize(torch.zeros(D))
    fitness = sphere(everyone(s.ask(0)))
    fitness[::3] = float("nan")
    fitness[1] = float("inf")
    ascent = s.tell(fitness, seed=0)
    assert torch.isfinite(ascent).all() and torch.isfinite(s.stdev).all()
    with pytest.raises(ValueError, match="shape"):
        s.tell(torch.zeros(5), seed=1)


# ---------------------------------------------------------------- separable CMA-ES


def paper_defaults(n: int) -> dict[str, float]:
    """Ros & Hansen (2008) / Hansen's tutorial defaults, written out independently of the module."""
    lam = 4 + int(math.floor(3 * math.log(n)))
    mu = lam // 2
    w = [math.log(mu + 1) - math.log(i + 1) for i in range(mu)]
    w = [x / sum(w) for x in w]
    mu_eff = 1 / sum(x * x for x in w)
    c_cov = (1 / mu_eff) * 2 / (n + 2**0.5) ** 2 + (1 - 1 / mu_eff) * min(1, (2 * mu_eff - 1) / ((n + 2) ** 2 + mu_eff))
    c_cov_sep = (n + 2) / 3 * c_cov
    c_sigma = (mu_eff + 2) / (n + mu_eff + 3)
    return {
        "popsize": lam,
        "mu": mu,
        "mu_eff": mu_eff,
        "c_sigma": c_sigma,
        "d_sigma": 1 + 2 * max(0, ((mu_eff - 1) / (n + 1)) ** 0.5 - 1) + c_sigma,
        "c_c": 4 / (n + 4),
        "c_1": c_cov_sep / mu_eff,
        "c_mu": c_cov_sep * (1 - 1 / mu_eff),
        "chi": n**0.5 * (1 - 1 / (4 * n) + 1 / (21 * n * n)),
    }


@pytest.mark.parametrize("n, lam", [(2, 6), (10, 10), (100, 17), (1000, 24), (10_000, 31)])
def test_sep_cma_defaults_match_the_paper(n, lam):
    p = SepCMAParams.defaults(n)
    expected = paper_defaults(n)
    assert p.popsize == lam == expected["popsize"] and p.mu == lam // 2
    for key, value in expected.items():
        assert getattr(p, key) == pytest.approx(value, rel=1e-12), key
    assert sum(p.weights) == pytest.approx(1.0) and list(p.weights) == sorted(p.weights, reverse=True)
    assert 0 < p.c_1 + p.c_mu <= 1 and p.c_sigma < 1 and p.c_c <= 1
    s = SepCMAES(sigma_init=0.5)
    assert s.popsize is None
    s.initialize(torch.zeros(n))
    assert s.popsize == lam
    assert s.metrics() == {"cma/sigma": 0.5, "cma/c_mean": 1.0}


@pytest.mark.parametrize(
    "kw, key",
    [
        ({"popsize": 1}, "popsize"),
        ({"popsize": 2.5}, "popsize"),
        ({"popsize": True}, "popsize"),
        ({"sigma_init": 0.0}, "sigma_init"),
        ({"sigma_init": -1}, "sigma_init"),
        ({"sigma_init": "big"}, "sigma_init"),
    ],
)
def test_sep_cma_bad_hyper_parameters_name_the_key(kw, key):
    with pytest.raises(ValueError, match=key):
        SepCMAES(**kw)


def test_sep_cma_members_are_rebuilt_from_seed_and_index():
    s = SepCMAES(popsize=10, sigma_init=0.3)
    centre, opt, sched = driven(s, torch.zeros(D))
    run(s, centre, opt, sched, sphere, range(4))  # σ and C are no longer their initial values
    rows = everyone(s.ask(7))
    z = pair_noise(stream(7, "noise"), range(10), D)
    torch.testing.assert_close(rows, s.mean + s.sigma * s.C.sqrt() * z)
    torch.testing.assert_close(s.ask(7).rows(torch.tensor([9, 0, 4])), rows[[9, 0, 4]])
    other = SepCMAES(popsize=10, sigma_init=0.3)
    other.load_state_dict(s.state_dict())
    assert torch.equal(everyone(other.ask(7)), rows)
    assert not torch.equal(everyone(s.ask(8)), rows)


def test_sep_cma_maximises_and_ranks_nonfinite_last():
    s = SepCMAES(popsize=10)
    s.initialize(torch.zeros(D))
    members = everyone(s.ask(0))
    s.tell(members[:, 0], seed=0)  # fitness = x_0
    best_first = torch.argsort(members[:, 0], descending=True)[: s.params.mu]
    torch.testing.assert_close(s.mean, torch.tensor(s.params.weights) @ members[best_first])  # m = Σ w_i x_{i:λ}
    assert float(s.mean[0]) > 0.03  # toward the fitter (larger x_0) members
    a, b = SepCMAES(popsize=10), SepCMAES(popsize=10)
    a.initialize(torch.zeros(D))
    b.initialize(torch.zeros(D))
    fitness = sphere(members)
    best = torch.argsort(fitness, descending=True)[:3]
    bad, worst = fitness.clone(), fitness.clone()
    bad[best] = torch.tensor([float("nan"), float("inf"), -float("inf")])
    worst[best] = -1e9
    a.tell(bad, seed=0)
    b.tell(worst, seed=0)
    assert torch.equal(a.mean, b.mean) and torch.equal(a.C, b.C) and a.sigma == b.sigma


def test_sep_cma_a_quadratic_improves_through_update():
    s = SepCMAES(sigma_init=0.3)
    centre, opt, sched = driven(s, torch.zeros(D))
    start = float(sphere(centre.detach()[None]))
    metrics = {}
    for gen in range(150):
        fitness = sphere(everyone(s.ask(gen)))
        metrics = update(s, centre, opt, sched, fitness, gen)
    assert float(sphere(centre.detach()[None])) > 1e-6 * start  # error at least 10⁶× smaller
    assert set(metrics) == {"cma/sigma", "cma/c_mean"}
    assert torch.equal(centre.detach(), s.solution())


def test_sep_cma_beats_fixed_sigma_on_a_badly_scaled_ellipsoid():
    scale = 10.0 ** torch.linspace(0, 3, D)  # axis lengths 1 … 1000: condition number 10⁶

    def ellipsoid(x: torch.Tensor) -> torch.Tensor:
        return -(((x - TARGET) * scale) ** 2).sum(-1)

    generations, sigma = 200, 0.05
    s = SepCMAES(sigma_init=sigma)
    centre, opt, sched = driven(s, torch.zeros(D))
    start = float(ellipsoid(centre.detach()[None]))
    run(s, centre, opt, sched, ellipsoid, range(generations))
    cma = float(ellipsoid(centre.detach()[None]))
    # fixed-σ baseline: the same (μ/μ_w, λ) recombination and noise, isotropic σ never adapted
    p, m = s.params, torch.zeros(D)
    w = torch.tensor(p.weights)
    for gen in range(generations):
        z = pair_noise(stream(gen, "noise"), range(p.popsize), D)
        top = torch.argsort(ellipsoid(m + sigma * z), descending=True)[: p.mu]
        m = m + sigma * (w @ z[top])
    fixed = float(ellipsoid(m[None]))
    assert cma > 1e-4 * start  # error at least 10⁴× smaller
    assert cma > 100 * fixed  # and 100× smaller than fixed-σ search's
    assert float(s.C[0] / s.C[-1]) > 1e4  # C learnt the scaling (ideal: C_i ∝ 1/scale_i², ratio 10⁶)


def test_sep_cma_state_round_trip_continues_identically():
    s = SepCMAES(sigma_init=0.3)
    centre, opt, sched = driven(s, torch.zeros(D))
    run(s, centre, opt, sched, sphere, range(3))
    state = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in s.state_dict().items()}
    assert set(state) == {"mean", "sigma", "C", "p_sigma", "p_c", "generation"} and state["generation"] == 3
    other = SepCMAES(sigma_init=0.3)
    centre2, opt2, sched2 = driven(other, torch.zeros(D))
    other.load_state_dict(state)
    run(s, centre, opt, sched, sphere, range(3, 6))
    run(other, centre2, opt2, sched2, sphere, range(3, 6))
    for key, value in s.state_dict().items():
        assert (
            torch.equal(value, other.state_dict()[key]) if torch.is_tensor(value) else value == other.state_dict()[key]
        ), key
    assert torch.equal(centre.detach(), centre2.detach())


# ---------------------------------------------------------------- configs


@pytest.mark.parametrize("name, cls", [("pgpe", PGPE), ("sep_cma_es", SepCMAES)])
def test_configs_instantiate_with_the_class_defaults(name, cls):
    import inspect

    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from genpolicy._configs import config_dir

    cfg = OmegaConf.load(f"{config_dir()}/strategy/{name}.yaml")
    strategy = instantiate(cfg)
    assert type(strategy).__name__ == cls.__name__
    defaults = {k: p.default for k, p in inspect.signature(cls).parameters.items()}
    assert {k: v for k, v in OmegaConf.to_container(cfg).items() if k != "_target_"} == defaults
