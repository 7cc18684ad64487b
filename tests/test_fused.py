"""The hand-written MLP passes (nets/fused.py) and the TD3/DDPG update built on them match autograd."""

import copy

import pytest
import torch

from conftest import needs_cxx
from genpolicy.envs.registry import EnvSpec
from genpolicy.methods.td3 import TD3Module
from genpolicy.nets import fused
from genpolicy.policies import BoxHead, PopulationPolicy
from genpolicy.policies.mlp import MLP


@pytest.mark.parametrize("activation,bias", [("relu", True), ("tanh", True), ("elu", False)])
def test_stack_forward_and_backward_match_autograd(activation, bias):
    torch.manual_seed(0)
    mlps = [MLP(5, 3, (16, 8), activation, bias).double() for _ in range(2)]
    x = torch.randn(2, 7, 5, dtype=torch.float64, requires_grad=True)
    shadow = fused.Shadow(mlps, torch.float64)
    for m in mlps:  # the shadow re-reads changed parameters
        torch.nn.init.normal_(m.layers[0].weight)
    net, tape = shadow.refresh(), fused.Tape()
    out = fused.forward(net, x.detach(), tape).double()
    ref = torch.stack([m(x[j]) for j, m in enumerate(mlps)])
    assert torch.allclose(out, ref, atol=1e-12)
    grad_out = torch.randn_like(ref)
    grads, dx = fused.backward(net, tape, grad_out, input_grad=True)
    ref_grads = torch.autograd.grad(ref, [x, *[p for m in mlps for p in m.parameters()]], grad_out)
    assert torch.allclose(dx.double(), ref_grads[0], atol=1e-5)
    fused.write_grads(mlps, grads)
    for p, g in zip([p for m in mlps for p in m.parameters()], ref_grads[1:], strict=True):
        assert torch.allclose(p.grad.double(), g, atol=1e-5)


@pytest.mark.parametrize(
    "algo,optimizer,compile,graphs",
    [
        ("ddpg", "sgd", False, 0),
        ("td3", "sgd", False, 0),
        ("td3", "fused_adam", False, 0),
        # compile=true with Adam: the whole update is one graph (TD3: one with and one without the actor step)
        pytest.param("ddpg", "fused_adam", True, 1, marks=needs_cxx),
        pytest.param("td3", "fused_adam", True, 2, marks=needs_cxx),
        # another optimizer: only the passes are compiled, the optimizer takes its own step (TD3: the
        # critic's pass with and without the actor's forward pass, and the actor's backward pass)
        pytest.param("td3", "sgd", True, 3, marks=needs_cxx),
    ],
)
def test_td3_fused_and_compiled_updates_match_the_autograd_update(algo, optimizer, compile, graphs):
    from torch._dynamo.utils import counters

    counters.clear()
    torch.manual_seed(0)
    env = EnvSpec.make("Pendulum-v1")
    policy = PopulationPolicy(
        env.obs_dim,
        "box",
        env.action_dim,
        env.action_low,
        env.action_high,
        hidden=(32, 24),
        activation="relu",
        obs_norm=False,
    )
    switches = {} if algo == "td3" else {"twin_critics": False, "target_noise": 0.0, "policy_delay": 1}
    module = TD3Module(policy, critic_hidden=(32, 24), tau=0.1, **switches)
    ref, start = copy.deepcopy(module), copy.deepcopy(module)
    ref.update = "autograd"  # the reference: the textbook update in src (methods/td3_autograd.py)
    ref.rng("target_noise").set_state(module.rng("target_noise").get_state())
    B = 64
    # SGD with lr 1: a parameter's change is exactly its gradient. Fused Adam: torch's kernel writes
    # the parameters without bumping their version counters — the shadows must still see every step.
    make = (
        (lambda ps: torch.optim.SGD(ps, lr=1.0))
        if optimizer == "sgd"
        else (lambda ps: torch.optim.Adam(ps, lr=1e-2, fused=True))
    )
    opts = [make(module.actor.parameters()), make(module.critic.parameters())]
    ref_opts = [make(ref.actor.parameters()), make(ref.critic.parameters())]
    for step in range(8):
        b = {
            "obs": torch.randn(B, 3),
            "action": torch.rand(B, 1) * 4 - 2,
            "reward": torch.randn(B),
            "next_obs": torch.randn(B, 3),
            "terminated": (torch.rand(B) < 0.2).float(),
        }
        # then eager: the compiled Adam left torch's own optimizer state
        module.update = "compiled" if compile and step < 6 else "fused"
        module._update(b, *opts)
        ref._update(b, *ref_opts)
    assert int(module.updates) == int(ref.updates) == 8
    # Adam divides by √v: where a gradient is tiny, float rounding in another summation order moves a
    # step of lr = 1e-2 by ~1e-5 — a missed, doubled or wrongly ordered step moves it by ~1e-2
    atol = 1e-5 if optimizer == "sgd" else 1e-4
    for (name, p), q in zip(module.named_parameters(), ref.parameters(), strict=True):
        assert torch.allclose(p, q, atol=atol), name
    for opt, ref_opt in zip(opts, ref_opts, strict=True):
        for p, q in zip(opt.param_groups[0]["params"], ref_opt.param_groups[0]["params"], strict=True):
            for key, value in ref_opt.state[q].items():
                assert torch.allclose(opt.state[p][key], value, rtol=1e-3, atol=1e-6), key
    assert all(
        not torch.equal(p, q) for p, q in zip(module.parameters(), start.parameters(), strict=True)
    )  # all trained
    assert counters["stats"]["unique_graphs"] == graphs
    assert not counters["graph_break"], dict(counters["graph_break"])


def test_bf16_update_tracks_float32():
    """Under bf16-mixed precision the hidden layers run in bfloat16; the update stays close to float32's."""
    torch.manual_seed(1)
    env = EnvSpec.make("Pendulum-v1")
    policy = PopulationPolicy(
        env.obs_dim,
        "box",
        env.action_dim,
        env.action_low,
        env.action_high,
        hidden=(64, 64),
        activation="relu",
        obs_norm=False,
    )
    module = TD3Module(policy, critic_hidden=(64, 64))
    low = copy.deepcopy(module)
    low.rng("target_noise").set_state(module.rng("target_noise").get_state())
    b = {
        "obs": torch.randn(128, 3),
        "action": torch.rand(128, 1) * 4 - 2,
        "reward": torch.randn(128),
        "next_obs": torch.randn(128, 3),
        "terminated": torch.zeros(128),
    }
    grads = []
    for m, ctx in ((module, torch.autocast("cpu", enabled=False)), (low, torch.autocast("cpu", dtype=torch.bfloat16))):
        with ctx:
            m._update(b, torch.optim.SGD(m.actor.parameters(), lr=0.0), torch.optim.SGD(m.critic.parameters(), lr=0.0))
        grads.append(torch.cat([p.grad.reshape(-1) for p in m.critic.parameters()]))
    assert low._shadow_cache and next(iter(low._shadow_cache))[0] == torch.bfloat16
    cos = torch.nn.functional.cosine_similarity(grads[0], grads[1], dim=0)
    assert cos > 0.99 and not torch.equal(grads[0], grads[1])


@pytest.mark.parametrize("mode", ["tanh", "clip"])
def test_box_head_backward_matches_autograd(mode):
    head = BoxHead([-2.0, 0.0], [2.0, 1.0], mode)
    out = (torch.randn(50, 2, dtype=torch.float64) * 2).requires_grad_(True)
    grad = torch.randn(50, 2, dtype=torch.float64)
    (ref,) = torch.autograd.grad(head(out), out, grad)
    assert torch.allclose(head.backward(out.detach(), grad), ref)


def test_float16_gradient_scaler_is_refused():
    from types import SimpleNamespace

    from genpolicy.methods.offpolicy import check_precision

    check_precision(SimpleNamespace(scaler=None))  # 32-true, bf16-mixed
    with pytest.raises(ValueError, match="bf16-mixed, not 16-mixed"):
        check_precision(SimpleNamespace(scaler=torch.amp.GradScaler("cpu")))


@needs_cxx
def test_compiled_update_prepares_the_collectors_next_actions():
    """With update=compiled the update also computes the updated actor's actions for the observations the
    collector acts on next; explore() hands them out once, and only for exactly those observations."""
    torch.manual_seed(0)
    env = EnvSpec.make("Pendulum-v1")
    policy = PopulationPolicy(
        env.obs_dim,
        "box",
        env.action_dim,
        env.action_low,
        env.action_high,
        hidden=(32, 24),
        activation="relu",
        obs_norm=False,
    )
    module = TD3Module(
        policy, critic_hidden=(32, 24), twin_critics=False, target_noise=0.0, policy_delay=1, update="compiled"
    )
    opts = [torch.optim.Adam(module.actor.parameters(), lr=1e-2), torch.optim.Adam(module.critic.parameters(), lr=1e-2)]
    b = {
        "obs": torch.randn(64, 3),
        "action": torch.rand(64, 1) * 4 - 2,
        "reward": torch.randn(64),
        "next_obs": torch.randn(64, 3),
        "terminated": torch.zeros(64),
    }
    obs = torch.randn(2, 3)
    before = module.act(obs)
    module.__dict__["_acting_obs"] = obs
    module._update(b, *opts)
    prepared = module.__dict__["_prepared_action"][1]
    assert torch.allclose(prepared, module.act(obs), atol=1e-5) and not torch.allclose(prepared, before)
    assert module.explore(obs.clone()) is prepared  # equal observations take it, once
    assert module.explore(obs) is not prepared
    module._update(b, *opts)
    second = module.__dict__["_prepared_action"][1]
    other = module.explore(obs + 1)  # other observations: computed for them
    assert other is not second and torch.allclose(other, module.act(obs + 1))


def test_adam_step_matches_torch_and_refuses_uneven_step_counts():
    """nets/adam.py's step (bias corrections computed once per group) follows torch.optim.Adam; a group
    whose parameters were stepped unevenly (torch skips a parameter without a gradient) is left to torch."""
    from genpolicy.nets import adam

    torch.manual_seed(0)
    params = [torch.randn(5, 3), torch.randn(3)]
    mine = [p.clone() for p in params]
    opt = torch.optim.Adam(params, lr=0.1, betas=(0.8, 0.9))
    ref = torch.optim.Adam([torch.nn.Parameter(p.clone()) for p in params], lr=0.1, betas=(0.8, 0.9))
    state = adam.state(opt, mine)
    for _ in range(5):
        grads = [torch.randn_like(p) for p in params]
        adam.step_(mine, grads, state, adam.hyper(opt))
        for p, g in zip(ref.param_groups[0]["params"], grads, strict=True):
            p.grad = g
        ref.step()
    for p, q in zip(mine, ref.param_groups[0]["params"], strict=True):
        assert torch.allclose(p, q, atol=1e-6)
    assert float(state["step"][0]) == 5
    state["step"][1].add_(1)  # one parameter stepped once more
    assert adam.state(opt, mine) is None
