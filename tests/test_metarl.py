"""MetaRL on the one episode loop: the copy-minor fast path equals LearningActor (and so the
torch_geometric path), lifetimes do not depend on batching, the GA never re-plays clones, a whole
tiny evolution, the evaluate report with its baselines, and bad input."""

import json
import subprocess
import sys

import pytest
import torch

from conftest import needs_cxx
from genpolicy.envs.meta import meta_spec
from genpolicy.nets.actor_graph import ActorGraph
from genpolicy.nets.learning_rule import LearningActor, RuleLayout
from genpolicy.nets.learning_rule_fast import act_layered, learn_layered, tanh
from genpolicy.nets.learning_rule_native import block, native_rule, unblock
from genpolicy.policies.metarl import MetaRLPolicy
from genpolicy.population.ga import GeneticAlgorithm
from genpolicy.rollout import PopulationEvaluator

SIZES = [3, 8, 8, 1]


def test_rational_tanh_is_tanh():
    x = torch.linspace(-20, 20, 200001)
    assert (tanh(x) - torch.tanh(x)).abs().max() < 5e-7  # a few float32 ulp
    assert torch.equal(tanh(torch.tensor([0.0])), torch.tensor([0.0]))


def test_fast_path_equals_learning_actor():
    b, lay = 16, RuleLayout()
    g = torch.Generator().manual_seed(0)
    genome = torch.randn(b, lay.num_params, generator=g, dtype=torch.float64) * 0.5
    ref = LearningActor(ActorGraph.layered(SIZES), lay, genome, torch.Generator().manual_seed(1), sigma_init=0.2)
    minor = lambda t: t.movedim(0, -1).contiguous()  # noqa: E731
    state = [minor(t) for t in (ref.weights, ref.biases, ref.sigmas, ref.reward_state, ref.node_state, ref.edge_state)]
    for _ in range(5):
        obs = torch.randn(b, 3, generator=g, dtype=torch.float64)
        eps = torch.randn(b, ref.graph.num_neurons, generator=g, dtype=torch.float64)
        r = torch.randn(b, generator=g, dtype=torch.float64)
        actions = ref.act(obs, eps)
        ref.learn(r)
        s, sample, out = act_layered(SIZES, *state[:3], minor(obs), minor(eps))
        torch.testing.assert_close(out[-1:].t(), actions, atol=1e-6, rtol=0)
        state = learn_layered(SIZES, lay, 0.01, 4.0, 1.0, minor(genome), *state, minor(obs), s, sample, out, r)
    for mine, theirs in zip(
        state, (ref.weights, ref.biases, ref.sigmas, ref.reward_state, ref.node_state, ref.edge_state), strict=True
    ):
        torch.testing.assert_close(mine, minor(theirs), atol=1e-6, rtol=0)


def _lifetimes(policy, rules, seeds, chunk, steps=30):
    spec = meta_spec("MetaPendulum-v0", max_episode_steps=steps)
    ev = PopulationEvaluator(spec, chunk_size=chunk)
    try:
        return ev.evaluate(policy.bind, rules, seeds.numel() // len(rules), seeds).returns
    finally:
        ev.close()


def test_lifetimes_do_not_depend_on_batching_or_path():
    rules = torch.randn(6, RuleLayout().num_params, generator=torch.Generator().manual_seed(3)) * 0.3
    rules[3] = rules[0]
    seeds = torch.arange(12) % 2  # every rule: lifetimes of seeds 0 and 1
    fast = MetaRLPolicy(3, "box", 1, (-1.0,), (1.0,), sigma_init=0.1)
    whole = _lifetimes(fast, rules, seeds, chunk=6)
    torch.testing.assert_close(_lifetimes(fast, rules, seeds, chunk=1), whole, atol=1e-4, rtol=0)
    pyg = MetaRLPolicy(3, "box", 1, (-1.0,), (1.0,), sigma_init=0.1, dense=False)
    torch.testing.assert_close(_lifetimes(pyg, rules, seeds, chunk=3), whole, atol=1e-4, rtol=0)
    # the same rule on the same seeds is the same lifetime (same initial actor, same noise)
    torch.testing.assert_close(whole[3], whole[0], atol=1e-9, rtol=0)
    assert not torch.equal(whole[1], whole[0])


@needs_cxx
@pytest.mark.parametrize("kernel", ["native", "compiled"])
def test_fast_kernels_play_the_eager_lifetimes(kernel):
    """policy.kernel=native (the C kernel, auto's choice on a CPU) and compiled play what eager does."""
    rules = torch.randn(4, RuleLayout().num_params, generator=torch.Generator().manual_seed(4)) * 0.3
    seeds = torch.arange(8) % 2
    eager = MetaRLPolicy(3, "box", 1, (-1.0,), (1.0,), sigma_init=0.1, kernel="eager")
    fast = MetaRLPolicy(3, "box", 1, (-1.0,), (1.0,), sigma_init=0.1, kernel=kernel)
    assert fast.resolved_kernel("cpu") == kernel
    torch.testing.assert_close(
        _lifetimes(fast, rules, seeds, chunk=4), _lifetimes(eager, rules, seeds, chunk=4), atol=1e-4, rtol=0
    )


@needs_cxx
def test_native_kernel_equals_the_fast_path_step_by_step():
    """Every state tensor after each step, on a batch that is not a whole number of the kernel's blocks,
    with some copies finished (their state must not move)."""
    b, lay = 37, RuleLayout()
    g = torch.Generator().manual_seed(6)
    genome = torch.randn(lay.num_params, b, generator=g) * 0.5
    state = [torch.randn(96, b, generator=g) * 0.4, torch.randn(17, b, generator=g) * 0.4]
    state += [torch.rand(17, b, generator=g) * 0.3, torch.zeros(1, 8, b), torch.zeros(17, 8, b), torch.zeros(96, 8, b)]
    kernel = native_rule(tuple(SIZES), 8, 1, 0.01, 4.0, 1.0)
    blocked, genome_b = [block(x, kernel.lanes) for x in state], block(genome, kernel.lanes)
    alive = torch.arange(b) >= 10  # from step 4 on, copies 0-9 have finished
    for t in range(8):
        obs, eps, r = torch.randn(3, b, generator=g), torch.randn(17, b, generator=g), torch.randn(b, generator=g)
        ref = act_layered(SIZES, *state[:3], obs, eps)
        mine = kernel.act(*blocked[:3], obs, eps)
        for x, y in zip(mine, ref, strict=True):
            torch.testing.assert_close(x, y, atol=2e-5, rtol=0)
        new = learn_layered(SIZES, lay, 0.01, 4.0, 1.0, genome, *state, obs, *ref, r)
        state = list(new) if t < 4 else [torch.where(alive, x, old) for x, old in zip(new, state, strict=True)]
        kernel.learn(genome_b, blocked, obs, *ref, r, None if t < 4 else alive)
        for x, y in zip(blocked, state, strict=True):
            torch.testing.assert_close(unblock(x, b, y.shape[:-1]), y, atol=2e-5, rtol=0)
        if t == 3:
            w_then = unblock(blocked[0], b, (96,)).clone()
    w_now = unblock(blocked[0], b, (96,))
    assert torch.equal(w_now[:, :10], w_then[:, :10]) and not torch.equal(w_now[:, 10:], w_then[:, 10:])


def test_frozen_actors_keep_their_weights_and_learning_changes_returns():
    policy = MetaRLPolicy(3, "box", 1, (-1.0,), (1.0,))
    rule = torch.randn(1, policy.num_params, generator=torch.Generator().manual_seed(5)) * 0.5
    frozen = policy.bind(rule, learn=False)
    frozen.start(torch.tensor([7]))
    w0 = frozen.state[0].clone()
    spec = meta_spec(max_episode_steps=50)
    ev = PopulationEvaluator(spec)
    a = ev.evaluate(lambda p: policy.bind(p, learn=False), rule, 2, torch.tensor([7, 8])).returns
    b = ev.evaluate(policy.bind, rule, 2, torch.tensor([7, 8])).returns
    ev.close()
    frozen(torch.zeros(1, 1, 3))
    frozen.observe(
        torch.ones(1, dtype=torch.float64), torch.zeros(1, dtype=torch.bool), torch.ones(1, dtype=torch.bool)
    )
    assert torch.equal(frozen.state[0], w0)
    assert not torch.equal(a, b)


def test_ga_children_all_differ_and_first_generation_is_random():
    ga = GeneticAlgorithm(popsize=200, truncation=5, mutation_std=0.1, mutation_prob=0.001, init_std=0.1)
    ga.initialize(torch.zeros(520))
    first = ga.ask(1).rows(torch.arange(200))
    assert torch.equal(first[0], torch.zeros(520)) and (first[1:] != 0).float().mean() > 0.99  # random rules
    ga.tell(torch.arange(200.0), 1)
    ga.tell_reevaluated(torch.zeros(len(ga.reevaluate()[0])))
    members = ga.ask(2)
    rows = members.rows(torch.arange(200))
    parents = ga.parents[members.parent_index(torch.arange(1, 200))]
    changed = (rows[1:] != parents).sum(1)
    assert changed.min() >= 1  # no clone: MetaRL's p = 0.001 would leave ~60 % unchanged
    assert changed.float().mean() < 3  # ... and still sparse


def _fit(tmp_path, *extra):
    cmd = [
        sys.executable,
        "-m",
        "genpolicy.fit",
        "experiment=metarl_pendulum",
        "generations=2",
        "strategy.popsize=24",
        "strategy.truncation=4",
        "strategy.elite_candidates=2",
        "strategy.elite_episodes=2",
        "env.max_episode_steps=60",
        "final_eval_episodes=3",
        "method.eval_episodes=2",
        "logger=none",
        "trainer.enable_progress_bar=false",
        f"hydra.run.dir={tmp_path}",
        *extra,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_tiny_evolution_and_evaluate_report(tmp_path):
    out = _fit(tmp_path / "run")
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["generations"] == 2 and 0 <= summary["eval_return_mean"] <= 2 * 60
    trace = tmp_path / "ev" / "trace.json"
    ev = subprocess.run(
        [
            sys.executable,
            "-m",
            "genpolicy.evaluate",
            f"ckpt_path={summary['checkpoint']}",
            "episodes=4",
            "trace=true",
            f"hydra.run.dir={trace.parent}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ev.returncode == 0, ev.stderr[-2000:]
    line = json.loads(ev.stdout.strip().splitlines()[-1])
    for key in (
        "eval_return_mean",
        "last_quarter_return_mean",
        "frozen_return_mean",
        "frozen_last_quarter_return_mean",
        "random_rule_return_mean",
    ):
        assert 0 <= line[key] <= 2 * 60, key
    assert line["last_quarter_return_mean"] <= line["eval_return_mean"]
    curves = json.loads(trace.read_text())["reward_per_step"]
    assert set(curves) == {"eval", "frozen", "random_rule"} and len(curves["eval"]) == 60
    assert abs(sum(curves["eval"]) - line["eval_return_mean"]) < 1e-6 * 60
    rest = subprocess.run(
        [sys.executable, "-m", "genpolicy.evaluate", f"ckpt_path={summary['checkpoint']}", "episodes=2", "start=rest"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rest.returncode == 0 and json.loads(rest.stdout.strip().splitlines()[-1])["start"] == "rest"
    bad = subprocess.run(
        [sys.executable, "-m", "genpolicy.evaluate", f"ckpt_path={summary['checkpoint']}", "start=fly"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "start must be one of kick, rest" in bad.stderr


@pytest.mark.parametrize(
    "override, message",
    [
        (["env.max_episode_steps=0"], "max_episode_steps (the lifetime) must be an integer ≥ 1"),
        (
            [
                "policy.hidden=[8]",
                "policy.edge_index=[[0,1,2,3,0],[3,3,3,4,4]]",
                "policy.num_nodes=5",
                "policy.dense=true",
            ],
            "needs a layered actor",
        ),
        (["policy.edge_index=[[0,1],[2,2]]", "policy.num_nodes=3"], "does not fit the env"),
        (["policy=mlp"], "needs policy=metarl"),
        (["env.id=MetaPendulm-v0"], "did you mean MetaPendulum-v0"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, override, message):
    out = _fit(tmp_path / "bad", *override)
    assert out.returncode == 2, out.stderr[-1500:]
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
