"""MetaRL's pendulum and double pendulum as torch batches: the physics, the step, the batch interface."""

import math

import pytest
import torch

from genpolicy.envs.torch import META_ENVS, MetaDoublePendulum, MetaPendulum, MetaPendulumRest
from genpolicy.envs.torch.meta_pendulum import double_pendulum_accel, wrap_angle

F64 = torch.float64
G = 9.81


def _wrap(x):
    return math.pi - (math.pi - x) % (2 * math.pi)


# --- the single pendulum


def _hand_rk4_pendulum(th, om, tau, dt=0.05, d=0.1):
    def f(t, w):
        return w, -G * math.sin(t) + tau - d * w

    k1 = f(th, om)
    k2 = f(th + dt / 2 * k1[0], om + dt / 2 * k1[1])
    k3 = f(th + dt / 2 * k2[0], om + dt / 2 * k2[1])
    k4 = f(th + dt * k3[0], om + dt * k3[1])
    return (
        th + dt / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0]),
        om + dt / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1]),
    )


def test_pendulum_step_is_one_rk4_step_of_the_ode():
    g = torch.Generator().manual_seed(0)
    n = 16
    th = (torch.rand(n, generator=g, dtype=F64) * 2 - 1) * math.pi
    om = (torch.rand(n, generator=g, dtype=F64) * 2 - 1) * 5
    tau = torch.rand(n, generator=g, dtype=F64) * 2 - 1
    env = MetaPendulum(n)
    env.reset_to(torch.stack((th, om), 1))
    obs, reward, term, trunc = env.step(tau[:, None])
    for i in range(n):
        t1, w1 = _hand_rk4_pendulum(th[i].item(), om[i].item(), tau[i].item())
        assert abs(w1) < 10  # no clamp in play
        assert env.state[i, 0].item() == pytest.approx(_wrap(t1), abs=1e-12)
        assert env.state[i, 1].item() == pytest.approx(w1, abs=1e-12)
        assert reward[i].item() == pytest.approx(1 - math.cos(t1), abs=1e-12)
        want = torch.tensor([math.sin(t1), math.cos(t1), w1 / 10], dtype=torch.float32)
        torch.testing.assert_close(obs[i], want, rtol=0, atol=1e-6)
    assert obs.dtype == torch.float32 and obs.shape == (n, 3) and reward.dtype == F64
    assert not term.any() and not trunc.any()


def test_pendulum_clamps_torque_and_speed_and_wraps_the_angle():
    env = MetaPendulum(2)
    env.reset_to(torch.tensor([[0.3, 0.2], [0.3, 0.2]], dtype=F64))
    env.step(torch.tensor([[5.0], [1.0]]))  # a torque of 5 acts as 1
    assert torch.equal(env.state[0], env.state[1])
    env.reset_to(torch.tensor([[0.0, 50.0], [3.1, 9.0]], dtype=F64))
    env.step(torch.zeros(2, 1))
    assert env.state[0, 1].item() == 10.0  # |ω| ≤ 10
    th = env.state[1, 0].item()
    assert -math.pi < th < 0  # went over the top: wrapped from just above π to just above −π
    x = torch.tensor([math.pi, -math.pi, 3 * math.pi, -1e-20, 7.0, -7.0], dtype=F64)
    w = wrap_angle(x)
    assert (w > -math.pi).all() and (w <= math.pi).all()
    torch.testing.assert_close(torch.sin(w), torch.sin(x))
    torch.testing.assert_close(torch.cos(w), torch.cos(x))


def test_truncation_and_never_terminates():
    for cls in (MetaPendulum, MetaDoublePendulum):
        assert cls.max_episode_steps == 2000 and cls(3, "cpu", F64).max_episode_steps == 2000
        env = cls(3, max_episode_steps=5)
        env.reset(torch.arange(3))
        for t in range(1, 6):
            _, _, term, trunc = env.step(torch.ones(3, 1))
            assert not term.any()
            assert bool(trunc.all()) == (t == 5) and bool(trunc.any()) == (t == 5)


def test_start_modes():
    seeds = torch.arange(5)
    kick = MetaPendulum(5)
    kick.reset(seeds)
    want = torch.tensor([math.pi * 1.00001 - 2 * math.pi, 1.0], dtype=F64)  # wrapped into (−π, π]
    torch.testing.assert_close(kick.state, want.expand(5, 2), rtol=0, atol=1e-12)
    dkick = MetaDoublePendulum(5)
    dkick.reset(seeds)
    want = torch.tensor([math.pi * 1.00001 - 2 * math.pi, math.pi, 0.0, 0.0], dtype=F64)
    torch.testing.assert_close(dkick.state, want.expand(5, 4), rtol=0, atol=1e-12)
    for env in (MetaPendulum(5, start="rest"), MetaPendulumRest(5), MetaDoublePendulum(5, start="rest")):
        obs = env.reset(seeds + 7)
        assert torch.equal(env.state, torch.zeros_like(env.state))
        assert (obs[:, 1] == 1).all()  # cos θ1 = 1: hanging down
    assert MetaPendulumRest.id == "MetaPendulumRest-v0" and MetaPendulumRest(1).start == "rest"
    assert MetaPendulum(1).start == "kick"
    with pytest.raises(ValueError):
        MetaPendulum(1, start="upright")
    for name in ("MetaPendulum-v0", "MetaPendulumRest-v0", "MetaDoublePendulum-v0"):
        assert META_ENVS[name].id == name


@pytest.mark.parametrize("cls", [MetaPendulum, MetaDoublePendulum])
def test_select_keeps_the_chosen_copies(cls):
    g = torch.Generator().manual_seed(1)
    n = 6
    s0 = torch.rand(n, cls.state_dim, generator=g, dtype=F64) * 2 - 1
    env, ref = cls(n), cls(n)
    env.reset_to(s0)
    ref.reset_to(s0)
    a = torch.rand(n, 1, generator=g) * 2 - 1
    env.step(a)
    ref.step(a)
    keep = torch.tensor([4, 1, 2])
    env.select(keep)
    assert env.num_envs == 3 and torch.equal(env.state, ref.state[keep]) and torch.equal(env.elapsed, ref.elapsed[keep])
    obs, rew, _, _ = env.step(a[keep])
    robs, rrew, _, _ = ref.step(a)
    assert torch.equal(obs, robs[keep]) and torch.equal(rew, rrew[keep])


# --- the double pendulum's physics


def _lagrangian(x, m1=1.0, m2=1.0, l1=1.0, l2=1.0):
    t1, t2, w1, w2 = x
    T = 0.5 * (m1 + m2) * l1**2 * w1**2 + 0.5 * m2 * l2**2 * w2**2 + m2 * l1 * l2 * w1 * w2 * torch.cos(t1 - t2)
    V = -(m1 + m2) * G * l1 * torch.cos(t1) - m2 * G * l2 * torch.cos(t2)
    return T - V


def _energy(s):
    t1, t2, w1, w2 = s.unbind(1)
    return w1**2 + 0.5 * w2**2 + w1 * w2 * torch.cos(t1 - t2) - 2 * G * torch.cos(t1) - G * torch.cos(t2)


def _random_states(n, seed):
    g = torch.Generator().manual_seed(seed)
    q = (torch.rand(n, 2, generator=g, dtype=F64) * 2 - 1) * math.pi
    qd = (torch.rand(n, 2, generator=g, dtype=F64) * 2 - 1) * 6
    tau = torch.rand(n, generator=g, dtype=F64) * 2 - 1
    return q, qd, tau


@pytest.mark.parametrize("m1, m2, l1, l2, d", [(1.0, 1.0, 1.0, 1.0, 0.1), (0.7, 1.9, 1.3, 0.6, 0.37)])
def test_accelerations_satisfy_euler_lagrange(m1, m2, l1, l2, d):
    q, qd, tau = _random_states(12, 2)
    lag = lambda x: _lagrangian(x, m1, m2, l1, l2)  # noqa: E731
    for i in range(len(tau)):
        a1, a2 = double_pendulum_accel(q[i, 0], q[i, 1], qd[i, 0], qd[i, 1], tau[i], G, l1, l2, m1, m2, d)
        qdd = torch.stack((a1, a2))
        x = torch.cat((q[i], qd[i]))
        H = torch.autograd.functional.hessian(lag, x)
        dL = torch.autograd.functional.jacobian(lag, x)
        ddt_p = H[2:, :2] @ qd[i] + H[2:, 2:] @ qdd  # d/dt ∂L/∂q̇
        # dampers at the joints: Rayleigh R = ½ d ω1² + ½ d (ω2 − ω1)², force −∂R/∂q̇
        rayleigh = lambda w: 0.5 * d * w[0] ** 2 + 0.5 * d * (w[1] - w[0]) ** 2  # noqa: E731
        q_damp = -torch.autograd.functional.jacobian(rayleigh, qd[i])
        q_motor = torch.stack((tau[i], torch.zeros((), dtype=F64)))
        torch.testing.assert_close(ddt_p - dL[:2], q_motor + q_damp, rtol=0, atol=1e-9)


def test_torque_enters_through_the_inverse_mass_matrix():
    q, qd, tau = _random_states(10, 3)
    for i in range(len(tau)):
        args = (q[i, 0], q[i, 1], qd[i, 0], qd[i, 1])
        with_tau = torch.stack(double_pendulum_accel(*args, 3 * tau[i]))
        without = torch.stack(double_pendulum_accel(*args, torch.zeros((), dtype=F64)))
        M = torch.autograd.functional.hessian(_lagrangian, torch.cat((q[i], qd[i])))[2:, 2:]
        want = torch.linalg.solve(M, torch.stack((3 * tau[i], torch.zeros((), dtype=F64))))
        torch.testing.assert_close(with_tau - without, want, rtol=0, atol=1e-12)
        assert want[1].abs() > 1e-6 or abs(math.cos(q[i, 0] - q[i, 1])) < 1e-3  # the torque moves rod 2 too


def test_energy_is_conserved_without_torque_and_damping():
    s0 = torch.tensor(
        [[0.5, -0.3, 0.0, 0.0], [1.0, 0.5, 0.5, -0.5], [1.2, -1.0, 0.3, 0.0], [0.3, 1.5, 1.0, 1.0]], dtype=F64
    )
    env = MetaDoublePendulum(4, damping=0.0)
    env.dt = 0.01  # RK4 itself damps ~1 % of the energy per 2000 steps at dt 0.05; check the physics, not that
    env.reset_to(s0)
    e0 = _energy(env.state)
    scale = e0 + 3 * G  # energy above hanging at rest
    drift = torch.zeros(4, dtype=F64)
    moved = torch.zeros(4, dtype=F64)
    for _ in range(2000):
        env.step(torch.zeros(4, 1))
        assert env.state[:, 2:].abs().max() < 9.9  # the speed clamp never acts
        drift = torch.maximum(drift, (_energy(env.state) - e0).abs())
        moved = torch.maximum(moved, (env.state - s0).abs().amax(1))
    assert (drift < 1e-4 * scale).all(), drift / scale
    assert (moved > 0.5).all()  # it really swung


def test_damping_and_torque_kwargs():
    s0 = torch.tensor([[1.0, 0.5, 0.5, -0.5]], dtype=F64)
    damped, free = MetaDoublePendulum(1), MetaDoublePendulum(1, damping=0.0)
    damped.reset_to(s0)
    free.reset_to(s0)
    for _ in range(200):
        damped.step(torch.zeros(1, 1))
        free.step(torch.zeros(1, 1))
    assert _energy(damped.state) < _energy(free.state) - 1.0
    a, b = MetaDoublePendulum(1, max_torque=2.0), MetaDoublePendulum(1, max_torque=2.0)
    a.reset_to(s0)
    b.reset_to(s0)
    a.step(torch.tensor([[7.0]]))
    b.step(torch.tensor([[2.0]]))
    assert torch.equal(a.state, b.state)


# --- the batch interface


@pytest.mark.parametrize("cls", [MetaPendulum, MetaDoublePendulum])
def test_batch_steps_like_single_copies(cls):
    g = torch.Generator().manual_seed(4)
    n, steps = 8, 40
    s0 = torch.rand(n, cls.state_dim, generator=g, dtype=F64) * 4 - 2
    actions = torch.rand(steps, n, 1, generator=g) * 2 - 1
    batch = cls(n)
    batch.reset_to(s0)
    out = [batch.step(a) for a in actions]
    for i in range(n):
        one = cls(1)
        one.reset_to(s0[i : i + 1])
        for t in range(steps):
            obs, rew, _, _ = one.step(actions[t, i : i + 1])
            torch.testing.assert_close(obs[0], out[t][0][i], rtol=0, atol=1e-6)
            torch.testing.assert_close(rew[0], out[t][1][i], rtol=0, atol=1e-10)


@pytest.mark.parametrize("cls, top", [(MetaPendulum, 2.0), (MetaDoublePendulum, 4.0)])
def test_reward_range_and_bounded_observations(cls, top):
    g = torch.Generator().manual_seed(5)
    n = 256
    s0 = torch.rand(n, cls.state_dim, generator=g, dtype=F64) * 2 - 1
    s0[:, : cls.links] *= math.pi
    s0[:, cls.links :] *= 10  # the whole speed range
    env = cls(n)
    obs = env.reset_to(s0)
    for _ in range(100):
        assert obs.dtype == torch.float32 and obs.shape == (n, cls.obs_dim)
        assert obs.abs().max() <= 1.0
        obs, rew, _, _ = env.step(torch.rand(n, 1, generator=g) * 2 - 1)
        assert (rew >= 0).all() and (rew <= top).all()
        torch.testing.assert_close(rew, (1 - torch.cos(env.state[:, : cls.links])).sum(1))
    upright = torch.zeros(1, cls.state_dim, dtype=F64)
    upright[:, : cls.links] = math.pi
    env = cls(1)
    env.reset_to(upright)
    assert env.step(torch.zeros(1, 1))[1].item() == pytest.approx(top, abs=1e-9)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("cls", [MetaPendulum, MetaDoublePendulum])
def test_cuda_matches_cpu(cls):
    g = torch.Generator().manual_seed(6)
    n = 64
    s0 = torch.rand(n, cls.state_dim, generator=g, dtype=F64) * 4 - 2
    cpu, gpu = cls(n), cls(n, device="cuda")
    torch.testing.assert_close(gpu.reset_to(s0).cpu(), cpu.reset_to(s0))
    for _ in range(50):
        a = torch.rand(n, 1, generator=g) * 2 - 1
        (gobs, grew, gterm, gtrunc), (obs, rew, term, trunc) = gpu.step(a.cuda()), cpu.step(a)
        torch.testing.assert_close(gobs.cpu(), obs, rtol=0, atol=1e-6)  # float32: an ulp apart at most
        torch.testing.assert_close(grew.cpu(), rew, rtol=1e-9, atol=1e-9)
        assert torch.equal(gterm.cpu(), term) and torch.equal(gtrunc.cpu(), trunc)
    torch.testing.assert_close(gpu.state.cpu(), cpu.state, rtol=1e-9, atol=1e-9)
