"""The MetaRL learning rule on torch_geometric (genpolicy.nets.learning_rule): layout, a per-copy,
per-edge loop reference, dense path = PyG path, bounds, independence of copies, DAGs, dtypes."""

import pytest
import torch

from genpolicy.nets.actor_graph import ActorGraph
from genpolicy.nets.learning_rule import LearningActor, RuleLayout

F64 = torch.float64
LR, WL, SL = 0.01, 4.0, 1.0


def _genome(b, std=0.5, seed=0, dtype=F64):
    return torch.randn(b, RuleLayout().num_params, generator=torch.Generator().manual_seed(seed), dtype=dtype) * std


def _run(actor, obs, rewards, noise=None):
    """Steps t = 0.. of act + learn; → the actions (T, B, n_out)."""
    acts = []
    for t in range(len(obs)):
        acts.append(actor.act(obs[t], None if noise is None else noise[t]))
        actor.learn(rewards[t])
    return torch.stack(acts)


def _episode(steps, b, obs_dim, n_neurons=None, seed=1, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(steps, b, obs_dim, generator=g, dtype=dtype)
    rewards = torch.randn(steps, b, generator=g, dtype=dtype)
    noise = None if n_neurons is None else torch.randn(steps, b, n_neurons, generator=g, dtype=dtype)
    return obs, rewards, noise


STATE = ("weights", "biases", "sigmas", "reward_state", "node_state", "edge_state")


def _assert_same(a, b, atol=1e-10, cols=None):
    for k in STATE:
        x, y = getattr(a, k), getattr(b, k)
        if cols is not None and k in ("weights", "edge_state"):
            y = y[:, cols]
        torch.testing.assert_close(x, y, atol=atol, rtol=0, msg=k)


# --- a plain reference: one copy, loops over neurons and edges (layered graphs) -----------------------


def _unpack(row, h=8, s=1):
    """The genome row as each cell's (W_s, b_s, W_o, b_o), read independently of RuleLayout."""
    cells, at = {}, 0
    for name, i, o in (("reward", 6, s), ("node", 5 + s, s + 2), ("connection", 12 + s, s + 1)):
        mats = []
        for r, c in ((h + i, h), (1, h), (h + i, o), (1, o)):
            mats.append(row[at : at + r * c].reshape(r, c))
            at += r * c
        cells[name] = mats
    assert at == row.numel()
    return cells


def _cell(m, x, h):
    ws, bs, wo, bo = m
    h = torch.tanh(torch.cat([h, x]) @ ws + bs[0])
    return torch.tanh(torch.cat([h, x]) @ wo + bo[0]), h


def _reference_step(sizes, rule, w, bias, sigma, st, obs, noise, reward):
    """act + learn for one copy, updating w (E,), bias / sigma (N',) and the states st in place."""
    layers, info, edge, x, n_at, e_at = [], {}, {}, list(obs), 0, 0
    for l in range(1, len(sizes)):
        layers.append(list(range(n_at, n_at + sizes[l])))
        nxt = []
        for j, q in enumerate(layers[-1]):
            s = bias[q].clone()
            for i in range(sizes[l - 1]):
                edge[l, i, j] = e_at + i * sizes[l] + j  # pre-major within a layer
                s = s + w[edge[l, i, j]] * x[i]
            sample = s + sigma[q] * noise[q]
            info[q] = torch.stack([s, sample, torch.tanh(sample), bias[q], sigma[q]])
            nxt.append(torch.tanh(sample))
        x, n_at, e_at = nxt, n_at + sizes[l], e_at + sizes[l - 1] * sizes[l]
    action = torch.stack(x)

    signal = {}
    for k, q in enumerate(layers[-1]):
        y, st["reward"][k] = _cell(rule["reward"], torch.cat([reward.view(1), info[q]]), st["reward"][k])
        signal[q] = y[0]
    for l in range(len(sizes) - 1, 0, -1):
        emit, post = {}, {}
        for q in layers[l - 1]:
            y, st["node"][q] = _cell(rule["node"], torch.cat([info[q], signal[q].view(1)]), st["node"][q])
            emit[q] = y[0]
            bias[q] = (bias[q] + LR * y[1]).clamp(-WL, WL)
            sigma[q] = (sigma[q] + LR * y[2]).clamp(0, SL)
            post[q] = torch.cat([info[q][:3], bias[q].view(1), sigma[q].view(1)])
        new_signal = {}
        for i in range(sizes[l - 1]):
            if l == 1:
                pre, flag = torch.stack([obs[i] * 0, obs[i] * 0, obs[i], obs[i] * 0, obs[i] * 0]), 1.0
            else:
                pre, flag = info[layers[l - 2][i]], 0.0
            total = 0.0
            for j, q in enumerate(layers[l - 1]):
                e = edge[l, i, j]
                xin = torch.cat([post[q], pre, emit[q].view(1), w[e].view(1), torch.tensor([flag], dtype=F64)])
                y, st["edge"][e] = _cell(rule["connection"], xin, st["edge"][e])
                total = total + y[0]
                w[e] = (w[e] + LR * y[1]).clamp(-WL, WL)
            if l > 1:
                new_signal[layers[l - 2][i]] = total / sizes[l]
        signal = new_signal
    return action


def test_layout_has_520_parameters_and_views():
    layout = RuleLayout()
    assert [layout.cell_params(c) for c in ("reward", "node", "connection")] == [135, 165, 220]
    assert layout.num_params == 520
    genome = _genome(3)
    cells = layout.split(genome)
    assert cells["connection"].w_state.shape == (3, 21, 8) and cells["node"].w_out.shape == (3, 14, 3)
    assert cells["reward"].w_state.data_ptr() == genome.data_ptr()  # views, no copies
    assert cells["connection"].b_out[:, 0, -1].equal(genome[:, -1])
    with pytest.raises(ValueError):
        layout.split(genome[:, :-1])


def test_layered_graph():
    g = ActorGraph.layered([3, 8, 8, 1])
    assert (g.num_nodes, g.num_edges, g.num_neurons, g.num_layers) == (20, 96, 17, 3)
    assert g.edge_index[:, :3].tolist() == [[0, 0, 0], [3, 4, 5]] and g.edge_index[:, 8].tolist() == [1, 3]
    assert int(g.from_input.sum()) == 24 and g.from_input[:24].all()
    assert g.depth.tolist() == [0] * 3 + [1] * 8 + [2] * 8 + [3] and g.layer_sizes == [3, 8, 8, 1]
    assert g.outputs.tolist() == [19]


@pytest.mark.parametrize("dense", [True, False])
def test_matches_loop_reference(dense):
    sizes, b, steps = [2, 2, 1], 2, 3
    g = ActorGraph.layered(sizes)
    genome = _genome(b, std=0.6)
    gen = torch.Generator().manual_seed(5)
    sigmas = torch.rand(b, g.num_neurons, generator=gen, dtype=F64) * 0.5
    actor = LearningActor(g, RuleLayout(), genome, torch.Generator().manual_seed(3), sigmas=sigmas, dense=dense)
    w0, b0, s0 = actor.weights.clone(), actor.biases.clone(), actor.sigmas.clone()
    obs, rewards, noise = _episode(steps, b, sizes[0], g.num_neurons)
    actions = _run(actor, obs, rewards, noise)
    for c in range(b):
        rule = _unpack(genome[c])
        w, bias, sigma = w0[c].clone(), b0[c].clone(), s0[c].clone()
        st = {
            "reward": torch.zeros(1, 8, dtype=F64),
            "node": torch.zeros(g.num_neurons, 8, dtype=F64),
            "edge": torch.zeros(g.num_edges, 8, dtype=F64),
        }
        for t in range(steps):
            a = _reference_step(sizes, rule, w, bias, sigma, st, obs[t, c], noise[t, c], rewards[t, c])
            torch.testing.assert_close(actions[t, c], a, atol=1e-12, rtol=0)
        for got, want in (
            (actor.weights[c], w),
            (actor.biases[c], bias),
            (actor.sigmas[c], sigma),
            (actor.reward_state[c], st["reward"]),
            (actor.node_state[c], st["node"]),
            (actor.edge_state[c], st["edge"]),
        ):
            torch.testing.assert_close(got, want, atol=1e-12, rtol=0)
    assert not torch.equal(actor.weights, w0)


def test_dense_path_equals_pyg_path():
    g, b = ActorGraph.layered([3, 8, 8, 1]), 4
    genome = _genome(b)
    obs, rewards, _ = _episode(5, b, 3)
    runs = []
    for dense in (None, False):  # None picks dense for a layered graph
        actor = LearningActor(g, RuleLayout(), genome, torch.Generator().manual_seed(7), sigma_init=0.2, dense=dense)
        runs.append((actor, _run(actor, obs, rewards)))
    (d, act_d), (p, act_p) = runs
    assert d.dense and not p.dense
    torch.testing.assert_close(act_d, act_p, atol=1e-10, rtol=0)
    _assert_same(d, p)
    assert (
        d.weights - LearningActor(g, RuleLayout(), genome, torch.Generator().manual_seed(7)).weights
    ).abs().max() > 0


def test_pyg_path_on_permuted_edges_equals_dense():
    """The layered graph given as a general DAG with its edges shuffled: PyG path, same result."""
    lay, b = ActorGraph.layered([3, 8, 8, 1]), 3
    perm = torch.randperm(lay.num_edges, generator=torch.Generator().manual_seed(0))
    g = ActorGraph(lay.num_nodes, lay.inputs, lay.outputs, lay.edge_index[:, perm])
    assert g.layer_sizes is None
    genome = _genome(b)
    dense = LearningActor(lay, RuleLayout(), genome, torch.Generator().manual_seed(2), sigma_init=0.1)
    shuffled = LearningActor(
        g,
        RuleLayout(),
        genome,
        torch.Generator().manual_seed(2),
        weights=dense.weights[:, perm],
        biases=dense.biases,
        sigmas=dense.sigmas,
    )
    assert not shuffled.dense
    obs, rewards, noise = _episode(5, b, 3, lay.num_neurons)
    torch.testing.assert_close(
        _run(dense, obs, rewards, noise), _run(shuffled, obs, rewards, noise), atol=1e-10, rtol=0
    )
    _assert_same(shuffled, dense, cols=perm)


@pytest.mark.parametrize("dense", [True, False])
def test_steps_move_at_most_lr_and_clamp(dense):
    g, b = ActorGraph.layered([3, 8, 8, 1]), 6
    actor = LearningActor(
        g, RuleLayout(), _genome(b, std=1.5), torch.Generator().manual_seed(1), sigma_init=0.05, dense=dense
    )
    obs, rewards, _ = _episode(15, b, 3)
    for t in range(15):
        before = [actor.weights.clone(), actor.biases.clone(), actor.sigmas.clone()]
        actor.act(obs[t])
        actor.learn(rewards[t])
        for x, y in zip(before, (actor.weights, actor.biases, actor.sigmas), strict=True):
            assert (x - y).abs().max() <= LR + 1e-12
    # tight limits: values saturate at them
    wl, sl = 0.03, 0.02
    u = lambda n, lim: (torch.rand(b, n, generator=torch.Generator().manual_seed(n), dtype=F64) * 2 - 1) * lim  # noqa: E731
    actor = LearningActor(
        g,
        RuleLayout(),
        _genome(b, std=3.0),
        torch.Generator().manual_seed(1),
        weight_limit=wl,
        sigma_limit=sl,
        weights=u(g.num_edges, wl),
        biases=u(g.num_neurons, wl),
        sigmas=u(g.num_neurons, sl).abs(),
        dense=dense,
    )
    _run(actor, obs, rewards)
    assert actor.weights.abs().max() <= wl and actor.biases.abs().max() <= wl
    assert actor.sigmas.min() >= 0 and actor.sigmas.max() <= sl
    assert (actor.weights.abs() == wl).any() and ((actor.sigmas == 0) | (actor.sigmas == sl)).any()


@pytest.mark.parametrize("dense", [True, False])
def test_copies_are_independent_and_select(dense):
    g, b = ActorGraph.layered([3, 8, 8, 1]), 3
    genome = _genome(b)
    obs, rewards, noise = _episode(4, b, 3, g.num_neurons)
    together = LearningActor(g, RuleLayout(), genome, torch.Generator().manual_seed(4), sigma_init=0.3, dense=dense)
    w0, b0, s0 = together.weights.clone(), together.biases.clone(), together.sigmas.clone()
    acts = _run(together, obs, rewards, noise)
    for c in range(b):
        one = LearningActor(
            g,
            RuleLayout(),
            genome[c : c + 1],
            torch.Generator(),
            weights=w0[c : c + 1],
            biases=b0[c : c + 1],
            sigmas=s0[c : c + 1],
            dense=dense,
        )
        torch.testing.assert_close(
            _run(one, obs[:, c : c + 1], rewards[:, c : c + 1], noise[:, c : c + 1]),
            acts[:, c : c + 1],
            atol=1e-12,
            rtol=0,
        )
        for k in STATE:
            torch.testing.assert_close(getattr(one, k), getattr(together, k)[c : c + 1], atol=1e-12, rtol=0)
    # select: 2 steps, keep copies [2, 0], 2 more steps == rows [2, 0] of the full run
    part = LearningActor(g, RuleLayout(), genome, torch.Generator(), weights=w0, biases=b0, sigmas=s0, dense=dense)
    _run(part, obs[:2], rewards[:2], noise[:2])
    keep = torch.tensor([2, 0])
    part.select(keep)
    assert part.num_copies == 2
    torch.testing.assert_close(
        _run(part, obs[2:, keep], rewards[2:, keep], noise[2:, keep]), acts[2:, keep], atol=1e-12, rtol=0
    )
    for k in STATE:
        torch.testing.assert_close(getattr(part, k), getattr(together, k)[keep], atol=1e-12, rtol=0)
    part.select(torch.tensor([False, True]))
    assert part.num_copies == 1 and torch.equal(part.weights, together.weights[:1])


def test_dag_with_skip_edges_runs_on_pyg():
    lay = ActorGraph.layered([3, 4, 1])  # nodes 0-2 inputs, 3-6 hidden, 7 output
    g = ActorGraph(8, [0, 1, 2], [7], torch.cat([lay.edge_index, torch.tensor([[0], [7]])], 1))
    assert g.layer_sizes is None and g.num_layers == 2 and bool(g.from_input[-1])
    with pytest.raises(ValueError):
        LearningActor(g, RuleLayout(), _genome(2), torch.Generator(), dense=True)
    actor = LearningActor(g, RuleLayout(), _genome(2), torch.Generator().manual_seed(0), sigma_init=0.1)
    assert not actor.dense
    w0 = actor.weights.clone()
    obs, rewards, _ = _episode(5, 2, 3)
    acts = _run(actor, obs, rewards)
    assert acts.shape == (5, 2, 1) and acts.isfinite().all()
    assert ((actor.weights - w0).abs() > 0).all()  # every edge learned, the skip edge too

    # a hidden neuron feeding two layers: its signal averages over all its outgoing edges
    lay = ActorGraph.layered([3, 4, 4, 1])  # hidden 3-6, 7-10, output 11
    g = ActorGraph(12, [0, 1, 2], [11], torch.cat([lay.edge_index, torch.tensor([[3], [11]])], 1))
    assert g.depth.tolist() == [0] * 3 + [1] * 4 + [2] * 4 + [3]
    assert g.signal_share[1][3].item() == pytest.approx(0.8) and g.signal_share[2][3].item() == pytest.approx(0.2)
    assert g.signal_share[1][4].item() == 1.0 and g.signal_share[2][4].item() == 0.0
    actor = LearningActor(g, RuleLayout(), _genome(2), torch.Generator().manual_seed(0))
    w0 = actor.weights.clone()
    _run(actor, *_episode(3, 2, 3)[:2])
    assert ((actor.weights - w0).abs() > 0).all()


def test_graph_validation():
    with pytest.raises(ValueError, match="cycle"):
        ActorGraph(4, [0], [3], [[0, 1, 2, 2], [1, 2, 1, 3]])
    with pytest.raises(ValueError, match="into an input"):
        ActorGraph(3, [0], [2], [[1, 0], [0, 2]])
    with pytest.raises(ValueError, match="outgoing"):
        ActorGraph(3, [0], [1], [[0, 1], [1, 2]])


@pytest.mark.parametrize("dense", [True, False])
def test_float32_close_to_float64(dense):
    g, b = ActorGraph.layered([3, 8, 8, 1]), 3
    genome = _genome(b)
    obs, rewards, noise = _episode(4, b, 3, g.num_neurons)
    a64 = LearningActor(g, RuleLayout(), genome, torch.Generator().manual_seed(0), sigma_init=0.2, dense=dense)
    a32 = LearningActor(
        g,
        RuleLayout(),
        genome.float(),
        torch.Generator(),
        weights=a64.weights,
        biases=a64.biases,
        sigmas=a64.sigmas,
        dense=dense,
    )
    act64, act32 = _run(a64, obs, rewards, noise), _run(a32, obs.float(), rewards.float(), noise.float())
    assert act32.dtype == torch.float32 and a32.weights.dtype == torch.float32
    torch.testing.assert_close(act32.double(), act64, atol=1e-4, rtol=0)
    for k in STATE:
        torch.testing.assert_close(getattr(a32, k).double(), getattr(a64, k), atol=1e-4, rtol=0)


@pytest.mark.parametrize("dense", [True, False])
def test_zero_genome_changes_nothing(dense):
    g, b = ActorGraph.layered([3, 8, 8, 1]), 2
    actor = LearningActor(
        g, RuleLayout(), torch.zeros(b, 520, dtype=F64), torch.Generator().manual_seed(0), sigma_init=0.1, dense=dense
    )
    before = [actor.weights.clone(), actor.biases.clone(), actor.sigmas.clone()]
    _run(actor, *_episode(5, b, 3)[:2])
    for x, y in zip(before, (actor.weights, actor.biases, actor.sigmas), strict=True):
        assert torch.equal(x, y)
    assert not actor.edge_state.any() and not actor.node_state.any()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    g, b = ActorGraph.layered([3, 8, 8, 1]), 5
    genome = _genome(b)
    obs, rewards, noise = _episode(4, b, 3, g.num_neurons)
    cpu = LearningActor(g, RuleLayout(), genome, torch.Generator().manual_seed(0), sigma_init=0.2)
    init = dict(weights=cpu.weights, biases=cpu.biases, sigmas=cpu.sigmas)
    acts = _run(cpu, obs, rewards, noise)
    for dense in (True, False):
        gpu = LearningActor(g, RuleLayout(), genome.cuda(), torch.Generator("cuda"), dense=dense, **init)
        got = _run(gpu, obs.cuda(), rewards.cuda(), noise.cuda())
        assert got.device.type == "cuda"
        torch.testing.assert_close(got.cpu(), acts, atol=1e-10, rtol=0)
        gpu.act(obs[0].cuda())  # generator noise on the device
