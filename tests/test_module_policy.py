"""ModulePolicy (any nn.Module through functional_call + vmap) and the loop's stateful-actor protocol."""

from collections import defaultdict
from functools import partial

import numpy as np
import pytest
import torch

from genpolicy.envs import EnvSpec
from genpolicy.policies import MLP, ModulePolicy, PopulationPolicy
from genpolicy.policies.module import RecurrentModuleActor
from genpolicy.rollout import PopulationEvaluator
from toy_modules import LSTMNet, RewardBias, TinyNet, WrongSize

NEVER = 10**9  # compact_min that never compacts


def _pair(spec, hidden=(16, 16), obs_norm=True):
    """The hand-fused MLP policy and the generic ModulePolicy around the same MLP, with the same
    normaliser statistics."""
    args = (spec.obs_dim, spec.action_kind, spec.action_dim, spec.action_low, spec.action_high)
    torch.manual_seed(0)
    fused = PopulationPolicy(*args, hidden=hidden, obs_norm=obs_norm)
    torch.manual_seed(0)  # the same initial weights
    generic = ModulePolicy(*args, module=partial(MLP, hidden=hidden), obs_norm=obs_norm)
    for pol in (fused, generic):
        pol.norm.update(torch.tensor([0.1, 1.0, -0.2, 2.0][: spec.obs_dim]), torch.full((spec.obs_dim,), 9.0), 3)
    return fused, generic


def _module_policy(spec, module, **kwargs):
    torch.manual_seed(0)
    return ModulePolicy(
        spec.obs_dim,
        spec.action_kind,
        spec.action_dim,
        spec.action_low,
        spec.action_high,
        module=module,
        obs_norm=False,
        **kwargs,
    )


def _evaluate(spec, bind, params, episodes, seeds, max_steps=None, **kwargs):
    ev = PopulationEvaluator(spec, **kwargs)
    try:
        return ev.evaluate(bind, params, episodes, seeds, max_steps=max_steps)
    finally:
        ev.close()


def _columns(policy, name):
    """The columns of parameter ``name`` in the flat (parameters_to_vector) layout."""
    offset = 0
    for n, p in policy.net.named_parameters():
        if n == name:
            return slice(offset, offset + p.numel())
        offset += p.numel()
    raise KeyError(name)


def _assert_same(res, ref, what=""):
    torch.testing.assert_close(res.returns, ref.returns, msg=what)
    torch.testing.assert_close(res.lengths, ref.lengths, rtol=0, atol=0, msg=what)


# (a) the generic path equals the hand-fused MLP


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_generic_path_acts_like_the_fused_mlp(env_id):
    spec = EnvSpec.make(env_id, backend="torch")
    fused, generic = _pair(spec)
    assert generic.num_params == fused.num_params
    torch.testing.assert_close(generic.initial_parameters(), fused.initial_parameters())
    params = (fused.initial_parameters() + 0.5 * torch.randn(6, fused.num_params)).double()  # (M, D)
    obs = 2 * torch.randn(6, 5, spec.obs_dim)  # (M, B, obs_dim)
    torch.testing.assert_close(generic.act(params, obs), fused.act(params, obs), rtol=1e-12, atol=1e-12)
    chunked = ModulePolicy(
        spec.obs_dim,
        spec.action_kind,
        spec.action_dim,
        spec.action_low,
        spec.action_high,
        module=generic.net,
        vmap_chunk_size=4,
    )
    chunked.norm.load_state_dict(generic.norm.state_dict())
    torch.testing.assert_close(chunked.act(params, obs), fused.act(params, obs), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs", [{"compact_min": NEVER}, {"compact_min": 2}, {"compact_min": 2, "chunk_size": 3}])
def test_generic_path_returns_equal_the_fused_mlp(kwargs):
    spec = EnvSpec.make("CartPole-v1", backend="torch")
    fused, generic = _pair(spec, hidden=(8,))
    params = (fused.initial_parameters() + 0.4 * torch.randn(8, fused.num_params)).double()
    seeds = torch.arange(24) * 5
    ref = _evaluate(spec, fused.bind, params, 3, seeds, compact_min=NEVER)
    assert len(set(ref.lengths.flatten().tolist())) > 3  # episodes end apart: compact_min=2 compacts
    _assert_same(_evaluate(spec, generic.bind, params, 3, seeds, **kwargs), ref, str(kwargs))


# (b) recurrent modules: one state per copy, kept through compaction


def test_recurrent_state_is_per_copy():
    spec = EnvSpec.make("CartPole-v1", backend="torch")
    policy = _module_policy(spec, partial(LSTMNet, hidden=6))
    params = (policy.initial_parameters() + 0.5 * torch.randn(3, policy.num_params)).double()
    obs = torch.randn(2, 3, 4, spec.obs_dim)  # (T, M, B, obs_dim)
    obs[:, :, 1] = obs[:, :, 0]  # copies 0 and 1 of a member see the same observations
    act = policy.bind(params)
    for t in range(2):
        act(obs[t])
    h, c = act.state
    assert h.shape == c.shape == (3, 4, 6) and h.dtype == torch.float64
    torch.testing.assert_close(h[:, 0], h[:, 1])  # same member, same inputs: same state
    assert not torch.allclose(h[0, 0], h[1, 0]) and not torch.allclose(h[0, 0], h[0, 2])
    for m in range(3):  # each member alone: the same states (no cross-talk between members)
        alone = policy.bind(params[m : m + 1])
        for t in range(2):
            alone(obs[t, m : m + 1])
        torch.testing.assert_close(alone.state[0][0], h[m])


class _Forgetful(RecurrentModuleActor):
    """A broken actor whose compaction zeroes the state: shows the comparison below can see it."""

    def select(self, keep):
        super().select(keep)
        self.state = tuple(torch.zeros_like(s) for s in self.state)
        return self


def test_recurrent_returns_survive_compaction_and_match_each_member_alone():
    spec = EnvSpec.make("CartPole-v1", backend="torch")
    policy = _module_policy(spec, partial(LSTMNet, hidden=8))
    torch.manual_seed(3)
    params = (policy.initial_parameters() + 0.6 * torch.randn(6, policy.num_params)).double()
    seeds = torch.arange(18) * 11
    ref = _evaluate(spec, policy.bind, params, 3, seeds, compact_min=NEVER)
    assert len(set(ref.lengths.flatten().tolist())) > 3
    for kwargs in ({"compact_min": 2}, {"compact_min": 2, "chunk_size": 4}):
        _assert_same(_evaluate(spec, policy.bind, params, 3, seeds, **kwargs), ref, str(kwargs))
    for m in range(6):
        alone = _evaluate(spec, policy.bind, params[m : m + 1], 3, seeds[3 * m : 3 * m + 3], compact_min=NEVER)
        torch.testing.assert_close(alone.returns[0], ref.returns[m])
    forgetful = _evaluate(spec, lambda p: _Forgetful(policy, p, None), params, 3, seeds, compact_min=2)
    assert not torch.equal(forgetful.returns, ref.returns)


# (c) online learners: every step's reward and done flag, learned weights compacted with the copies


class _Recorder:
    """Wraps a learning actor: follows which copy each slot holds and logs what each copy observes."""

    def __init__(self, inner, n):
        self.inner, self.copy = inner, torch.arange(n)  # slot → copy of the chunk
        self.rewards, self.dones, self.learned = defaultdict(list), defaultdict(list), {}

    def __call__(self, obs):
        return self.inner(obs)

    def select(self, keep):
        self.copy, self.inner = self.copy[keep], self.inner.select(keep)
        return self

    def observe(self, reward, done, alive):
        self.inner.observe(reward, done, alive)
        bias = self.inner.state[0].flatten(0, 1)  # (n, out_dim) after this step's learning
        for slot in alive.nonzero().flatten().tolist():
            c = int(self.copy[slot])
            self.rewards[c].append(float(reward[slot]))
            self.dones[c].append(bool(done[slot]))
            self.learned[c] = bias[slot].clone()


@pytest.mark.parametrize("env_id, max_steps", [("CartPole-v1", None), ("Pendulum-v1", 40)])
def test_online_learner_sees_every_step_and_keeps_its_weights_through_compaction(env_id, max_steps):
    spec = EnvSpec.make(env_id, backend="torch")
    policy = _module_policy(spec, RewardBias)
    P, E, out = 5, 3, policy.head.out_dim
    params = (policy.initial_parameters() + 0.5 * torch.randn(P, policy.num_params)).double()
    rate = _columns(policy, "rate")  # (the module's own parameters come first in the flat layout)
    params[:, rate] = 0.03 * torch.randn(P, out)  # each member learns at its own rate (sign decides the drift)
    seeds = torch.arange(P * E) + 7
    recorders = []

    def bind(p):
        recorders.append(_Recorder(policy.bind(p), p.shape[0] * E))
        return recorders[-1]

    ev = PopulationEvaluator(spec, compact_min=2)
    res = ev.evaluate(bind, params, E, seeds, max_steps=max_steps)
    ev.close()
    ref = _evaluate(spec, policy.bind, params, E, seeds, compact_min=NEVER, max_steps=max_steps)
    _assert_same(res, ref)
    (rec,) = recorders
    for c in range(P * E):
        member, ret, length = c // E, float(res.returns.flatten()[c]), int(res.lengths.flatten()[c])
        assert len(rec.rewards[c]) == length and sum(rec.rewards[c]) == pytest.approx(ret)
        if max_steps is None:  # the last step, and only it, ends the episode
            assert rec.dones[c] == [False] * (length - 1) + [True]
        # the learned bias is this copy's own: its member's rate × its own return
        torch.testing.assert_close(rec.learned[c], params[member, rate] * ret)
    if max_steps is None:
        assert len(set(res.lengths.flatten().tolist())) > 3  # compaction ran
        learned_nothing = params.clone()
        learned_nothing[:, rate] = 0
        frozen = _evaluate(spec, policy.bind, learned_nothing, E, seeds, compact_min=NEVER)
        assert not torch.equal(frozen.returns, res.returns)  # what it learned changed how it played


def test_observe_without_select_is_refused():
    spec = EnvSpec.make("CartPole-v1", backend="torch")

    class Half:
        def __call__(self, obs):
            return torch.zeros(obs.shape[:2], dtype=torch.int64)

        def observe(self, reward, done, alive):
            pass

    with pytest.raises(TypeError, match="observe.*no select"):
        _evaluate(spec, lambda p: Half(), torch.zeros(2, 3), 1, [0, 1])


# (d) modules that cannot act


def test_wrong_output_size_is_a_clear_error():
    spec = EnvSpec.make("CartPole-v1", backend="torch")
    with pytest.raises(ValueError, match=r"WrongSize outputs \(3,\) per observation; the discrete action head needs 2"):
        _module_policy(spec, WrongSize)
    with pytest.raises(ValueError, match=r"outputs \(2,\) per observation; the box action head needs 1"):
        _module_policy(EnvSpec.make("Pendulum-v1", backend="torch"), TinyNet(3, 2))


def test_bad_recurrent_and_learning_modules_are_clear_errors():
    spec = EnvSpec.make("CartPole-v1", backend="torch")

    class NoState(LSTMNet):
        def forward(self, obs, state):
            return super().forward(obs, state)[0]

    class BareState(LSTMNet):
        def initial_state(self, batch_size):
            return torch.zeros(batch_size, self.hidden)  # not a tuple

    class Learns(TinyNet):
        def learn(self, state, reward, done):
            return state

    class TorchCell(LSTMNet):  # nn.LSTMCell: aten::lstm_cell has no vmap batching rule
        def __init__(self, in_dim, out_dim):
            super().__init__(in_dim, out_dim)
            self.cell = torch.nn.LSTMCell(in_dim, self.hidden)

        def forward(self, obs, state):
            h, c = self.cell(obs, state)
            return self.out(h), (h, c)

    with pytest.raises(ValueError, match=r"forward\(obs, state\) must return \(out, new_state\)"):
        _module_policy(spec, NoState)
    with pytest.raises(ValueError, match=r"BareState.initial_state\(2\) must return a tuple of tensors \(2, …\)"):
        _module_policy(spec, BareState)
    with pytest.raises(ValueError, match="learn.*but not initial_state"):
        _module_policy(spec, Learns)
    with pytest.raises(ValueError, match="TorchCell.forward failed .* under torch.vmap"):
        _module_policy(spec, TorchCell)


def test_module_factories_get_the_sizes_their_signature_takes():
    spec = EnvSpec.make("Acrobot-v1", backend="torch")  # obs 6, 3 actions
    seen = {}

    def factory(in_dim, action_dim, width=4):
        seen.update(in_dim=in_dim, action_dim=action_dim, width=width)
        return TinyNet(in_dim, action_dim, width)

    policy = _module_policy(spec, partial(factory, width=5))
    assert seen == {"in_dim": 6, "action_dim": 3, "width": 5}
    assert policy.num_params == 6 * 5 + 5 + 5 * 3 + 3
    assert not any(p.requires_grad for p in policy.parameters())


def test_the_module_acts_in_eval_mode():
    """Dropout off and batch-norm buffers fixed while acting, even with the module in train mode
    (Lightning fits in train mode); the modes are left as they were."""
    spec = EnvSpec.make("CartPole-v1", backend="torch")

    class Noisy(TinyNet):
        def __init__(self, obs_dim, action_dim):
            super().__init__(obs_dim, action_dim)
            self.drop, self.bn = torch.nn.Dropout(0.5), torch.nn.BatchNorm1d(obs_dim)

        def forward(self, obs):
            return super().forward(self.drop(self.bn(obs)))

    policy = _module_policy(spec, Noisy).train()
    plain = _module_policy(spec, TinyNet)
    params = policy.initial_parameters()[None].repeat(3, 1) + torch.randn(3, policy.num_params)
    obs = torch.randn(3, 5, 4)
    params[:, -8:-4], params[:, -4:] = 1.0, 0.0  # Noisy's genome: TinyNet's, then batch norm's weight and bias
    tiny = params[:, :-8]
    out = policy.vmapped()(policy.weights(params), obs)
    torch.testing.assert_close(out, plain.vmapped()(plain.weights(tiny), obs / (1 + 1e-5) ** 0.5))
    assert policy.net.training and policy.net.drop.training
    assert float(policy.net.bn.num_batches_tracked) == 0


# (e) through genpolicy.fit


@pytest.mark.parametrize("module", ["toy_modules.TinyNet", "toy_modules.LSTMNet"])
def test_fit_trains_a_user_module(fit_run, module):
    summary, _ = fit_run("policy=module", f"policy.module._target_={module}", "+policy.module.hidden=8")
    assert summary["generations"] == 2 and np.isfinite(summary["eval_return_mean"])
