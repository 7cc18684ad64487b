"""Threads follow the work: the tuner keeps the faster thread count, the evaluator restores the
caller's count, DDP ranks on one machine split its cores."""

import time

import torch

from genpolicy.envs import EnvSpec
from genpolicy.policies import PopulationPolicy
from genpolicy.rollout import PopulationEvaluator
from genpolicy.rollout.threads import ThreadTuner, available_cores, cores_per_process, torch_threads


def run_steps(tuner: ThreadTuner, steps: int, slow_with: int, slow: float = 4e-3, fast: float = 1e-3) -> list[int]:
    used = []
    for _ in range(steps):
        with tuner.step():
            n = torch.get_num_threads()
            used.append(n)
            time.sleep(slow if n == slow_with else fast)
    return used


def test_tuner_keeps_the_faster_count_and_measures_again():
    with torch_threads():
        tuner = ThreadTuner([1, 2], probe_steps=3, reprobe_every=10)
        used = run_steps(tuner, 8, slow_with=2)  # warm-up, 3 probes each, then the choice
        assert tuner.chosen == 1 and used[-1] == 1 and 2 in used
        tuner.reset()
        run_steps(tuner, 8, slow_with=1)  # the machine changed: now one thread is the slow one
        assert tuner.chosen == 2
        used = run_steps(tuner, 20, slow_with=1)
        assert used.count(1) == 3  # one re-probe after reprobe_every steps, nothing more


def test_a_larger_count_must_win_by_the_margin():
    with torch_threads():
        tuner = ThreadTuner([1, 2], probe_steps=3, margin=0.5)
        run_steps(tuner, 8, slow_with=1, slow=4e-3, fast=3e-3)  # 2 threads only 25 % faster: not enough
        assert tuner.chosen == 1


def test_evaluator_restores_the_callers_thread_count():
    spec = EnvSpec.make("CartPole-v1")
    policy = PopulationPolicy(spec.obs_dim, spec.action_kind, spec.action_dim, hidden=(64, 64), obs_norm=False)
    params = policy.initial_parameters() + 0.1 * torch.randn(
        256, policy.num_params, generator=torch.Generator().manual_seed(0)
    )
    evaluator = PopulationEvaluator(spec, single_thread_below=0)  # always tune
    with torch_threads(2):
        evaluator.evaluate(policy.bind, params, 1, torch.arange(256))
        assert torch.get_num_threads() == 2
    evaluator.close()


def test_cores_are_split_between_processes_of_one_machine():
    cores = available_cores()
    assert cores_per_process(1) == cores
    assert cores_per_process(2) == max(1, cores // 2)
    assert cores_per_process(10 * cores) == 1
