"""An evolved learning rule that trains a small stochastic actor online, after every environment step,
from the reward alone: the method of MetaRL (ASFaust/MetaRL, ``networks/``), written as message passing
on torch_geometric. B copies run together, each with its own actor state and its own rule genome.

The actor (:class:`~genpolicy.nets.actor_graph.ActorGraph`, default fully connected [3, 8, 8, 1]):
every non-input neuron computes s = Σ_in w·x_pre + b, draws sample = s + σ·ε (ε ~ N(0, 1)) and outputs
tanh(sample); input neurons output the observation. A neuron's *node info* is (s, sample, out, b, σ).

The rule is three one-step recurrent tanh cells, each with its own hidden state h (size ``state_dim``)
per place it acts on: h' = tanh([h, x] @ W_s + b_s), y = tanh([h', x] @ W_o + b_o).

- reward cell, per output neuron: x = [reward, node info] → the neuron's learning signal;
- node cell, per neuron: x = [node info, incoming signal] → (signal for its incoming edges, Δb, Δσ);
- connection cell, per edge: x = [post node info, pre node info, post's signal, w, pre-is-input flag]
  → (signal for the pre neuron, Δw). An observation node's info is zero except "out" = the observation.

``learn(reward)`` uses the node info of the last ``act``: the reward cell runs on the output neurons,
then layer by layer from the top down the node cell updates σ ← clip(σ + lr·Δσ, 0, sigma_limit) and
b ← clip(b + lr·Δb, ±weight_limit), the connection cell runs on the edges into the layer (the post info
already holding the new b and σ, the pre info the old) and updates w ← clip(w + lr·Δw, ±weight_limit),
and each pre neuron's incoming signal is the mean of the signals on its outgoing edges. So no value
moves by more than lr per step. Defaults follow MetaRL's ``configs/base.yaml``: lr 0.01, weight_limit 4,
sigma_limit 1, initial weights and biases N(0, 0.4²) (weight_init·weight_limit), σ 0.

Genome layout (:class:`RuleLayout`, a flat (B, P) tensor, cells in the order reward, node, connection;
within a cell W_s (state+in, state), b_s, W_o (state+in, out), b_o, each row-major): 135 + 165 + 220 =
520 parameters with state_dim 8 and signal_dim 1.

Two equal implementations of the step: the general one runs on any DAG with torch_geometric (the
connection cell is a ``MessagePassing``: ``edge_updater`` computes the per-edge outputs, ``propagate``
with mean aggregation sends the edge signals back to the pre neurons; copies are a disjoint union of
graphs, node n of copy b at b·N + n and edge k of a layer at b·E_layer + k, and each copy's cell
parameters apply through batched matrix products); a dense one for ``ActorGraph.layered`` graphs works
on (B, in, out) weight views, like MetaRL itself. The dense one is chosen when it applies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import torch
from torch import Tensor
from torch_geometric.nn import MessagePassing

from genpolicy.nets.actor_graph import ActorGraph

if TYPE_CHECKING:
    from collections.abc import Callable

NODE_INFO = 5  # (s, sample, out, bias, sigma)
_OUT, _BIAS, _SIGMA = 2, 3, 4


class CellParams(NamedTuple):
    """One cell's parameters for B copies (views into the genome)."""

    w_state: Tensor  # (B, state + in, state)
    b_state: Tensor  # (B, 1, state)
    w_out: Tensor  # (B, state + in, out)
    b_out: Tensor  # (B, 1, out)


def cell_step(p: CellParams, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
    """One step of a recurrent cell for B copies × M places: x (B, M, in), h (B, M, state) →
    (y (B, M, out), h' (B, M, state))."""
    h = torch.tanh(torch.baddbmm(p.b_state, torch.cat([h, x], -1), p.w_state))
    return torch.tanh(torch.baddbmm(p.b_out, torch.cat([h, x], -1), p.w_out)), h


class RuleLayout:
    """Where each cell's matrices lie in a flat rule genome (B, P)."""

    def __init__(self, state_dim: int = 8, signal_dim: int = 1) -> None:
        self.state_dim, self.signal_dim = int(state_dim), int(signal_dim)
        s = self.signal_dim
        self.cells = {
            "reward": (1 + NODE_INFO, s),  # name: (inputs, outputs)
            "node": (NODE_INFO + s, s + 2),
            "connection": (2 * NODE_INFO + s + 2, s + 1),
        }

    def cell_params(self, name: str) -> int:
        i, o = self.cells[name]
        h = self.state_dim
        return (h + i) * h + h + (h + i) * o + o

    @property
    def num_params(self) -> int:
        return sum(self.cell_params(name) for name in self.cells)

    def split(self, genome: Tensor) -> dict[str, CellParams]:
        """Views of a contiguous genome (B, P) as each cell's CellParams."""
        if genome.dim() != 2 or genome.shape[1] != self.num_params:
            raise ValueError(f"a rule genome is (B, {self.num_params}), got {tuple(genome.shape)}")
        b, h, at, out = genome.shape[0], self.state_dim, 0, {}
        for name, (i, o) in self.cells.items():
            parts = []
            for shape in ((h + i, h), (1, h), (h + i, o), (1, o)):
                size = shape[0] * shape[1]
                parts.append(genome[:, at : at + size].view(b, *shape))
                at += size
            out[name] = CellParams(*parts)
        return out


class _Synapses(MessagePassing):
    """Forward pass of one layer: s_post = Σ_edges w · out_pre (sum aggregation at the post neuron)."""

    propagate_type = {"y": Tensor, "weight": Tensor}

    def __init__(self) -> None:
        super().__init__(aggr="sum")

    def forward(self, edge_index: Tensor, y: Tensor, weight: Tensor) -> Tensor:
        """edge_index (2, B·E_layer) pre → post, y (B·N, 1) node outputs, weight (B·E_layer, 1) → (B·N, 1)."""
        return self.propagate(edge_index, y=y, weight=weight, size=(y.shape[0], y.shape[0]))

    def message(self, y_j: Tensor, weight: Tensor) -> Tensor:
        return y_j * weight


class ConnectionCell(MessagePassing):
    """The connection cell on the edges into one layer, the B copies as one disjoint graph (edge_index
    pre → post, B·E_layer edges, copy-major). ``edge_updater`` runs the cell on every edge (x_i: the post
    neuron's info, x_j: the pre neuron's); ``propagate`` over the reversed edges (post → pre, the way the
    learning signal travels) averages the edge signals at each pre neuron."""

    edge_updater_type = {
        "x": Tensor,
        "sig": Tensor,
        "weight": Tensor,
        "flag": Tensor,
        "state": Tensor,
        "params": tuple[Tensor, Tensor, Tensor, Tensor],
        "copies": int,
    }
    propagate_type = {"msg": Tensor}

    def __init__(self) -> None:
        super().__init__(aggr="mean")

    def forward(
        self,
        edge_index: Tensor,
        x: Tensor,
        sig: Tensor,
        weight: Tensor,
        flag: Tensor,
        state: Tensor,
        params: CellParams,
        copies: int,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """edge_index (2, B·E_layer); node tensors x (B·N, 5) info, sig (B·N, S) the node cell's signal;
        edge tensors weight, flag (B·E_layer, 1), state (B·E_layer, state) → (y (B·E_layer, S + 1), the
        new state, signal per node (B·N, S): the mean over its outgoing edges, 0 without any)."""
        y, h = self.edge_updater(
            edge_index, x=x, sig=sig, weight=weight, flag=flag, state=state, params=tuple(params), copies=copies
        )
        back = self.propagate(edge_index.flip(0), msg=y[:, :-1], size=(x.shape[0], x.shape[0]))
        return y, h, back

    def edge_update(
        self,
        x_i: Tensor,
        x_j: Tensor,
        sig_i: Tensor,
        weight: Tensor,
        flag: Tensor,
        state: Tensor,
        params: tuple[Tensor, Tensor, Tensor, Tensor],
        copies: int,
    ) -> tuple[Tensor, Tensor]:
        feats = torch.cat([x_i, x_j, sig_i, weight, flag], -1)  # (B·E_layer, 2·5 + S + 2)
        y, h = cell_step(
            CellParams(*params), feats.view(copies, -1, feats.shape[-1]), state.view(copies, -1, state.shape[-1])
        )  # each copy its own parameters
        return y.reshape(-1, y.shape[-1]), h.reshape(-1, h.shape[-1])

    def message(self, msg: Tensor) -> Tensor:
        return msg


class LearningActor:
    """B copies of a stochastic actor on ``graph``, each trained online by its own rule genome.

    genome (B, layout.num_params): the rules; its device and dtype are the actor's. generator: the
    torch.Generator (on that device) for the initial weights and the neurons' noise. ``weights`` (B, E),
    ``biases`` / ``sigmas`` (B, N') override the random initial state. ``dense``: None picks the dense
    path for ``ActorGraph.layered`` graphs, False forces the torch_geometric path, True requires dense.
    Per-copy state lives in plain tensors: weights, biases, sigmas, reward_state (B, n_out, state),
    node_state (B, N', state), edge_state (B, E, state).
    """

    def __init__(
        self,
        graph: ActorGraph,
        layout: RuleLayout,
        genome: Tensor,
        generator: torch.Generator,
        *,
        lr: float = 0.01,
        weight_limit: float = 4.0,
        sigma_limit: float = 1.0,
        init_std: float = 0.4,
        sigma_init: float = 0.0,
        weights: Tensor | None = None,
        biases: Tensor | None = None,
        sigmas: Tensor | None = None,
        dense: bool | None = None,
    ) -> None:
        self.graph, self.layout, self.generator = graph, layout, generator
        self.lr, self.weight_limit, self.sigma_limit = float(lr), float(weight_limit), float(sigma_limit)
        self.genome = genome.contiguous()
        self.rule = layout.split(self.genome)
        b, dev, dt = self.num_copies, genome.device, genome.dtype
        self.sizes = graph.layer_sizes
        if dense and self.sizes is None:
            raise ValueError("dense=True needs a graph built by ActorGraph.layered")
        self.dense = self.sizes is not None if dense is None else bool(dense)

        def init(given: Tensor | None, shape: tuple[int, int], draw: Callable[[tuple[int, int]], Tensor]) -> Tensor:
            if given is None:
                return draw(shape)
            if tuple(given.shape) != shape:
                raise ValueError(f"expected shape {shape}, got {tuple(given.shape)}")
            return given.to(dev, dt).clone()

        normal = lambda shape: torch.randn(shape, generator=generator, device=dev, dtype=dt) * init_std  # noqa: E731
        e, n = graph.num_edges, graph.num_neurons
        self.weights = init(weights, (b, e), normal)
        self.biases = init(biases, (b, n), normal)
        self.sigmas = init(sigmas, (b, n), lambda shape: torch.full(shape, float(sigma_init), device=dev, dtype=dt))
        h = layout.state_dim
        self.reward_state = self.weights.new_zeros(b, graph.outputs.numel(), h)
        self.node_state = self.weights.new_zeros(b, n, h)
        self.edge_state = self.weights.new_zeros(b, e, h)
        self._last: tuple[Tensor, Tensor, Tensor, Tensor] | None = None  # obs, s, sample, out of the last act

        g = graph  # index tensors on the actor's device
        self._inputs, self._outputs = g.inputs.to(dev), g.outputs.to(dev)
        self._noninput, self._out_pos = g.noninput.to(dev), g.position[g.outputs].to(dev)
        self._nodes = [t.to(dev) for t in g.layer_nodes]
        self._pos = [g.position[t].to(dev) for t in g.layer_nodes]
        self._edges = [t.to(dev) for t in g.layer_edges]
        self._flags = [g.from_input[t].to(dev, dt) for t in g.layer_edges]
        self._share = [t.to(dev, dt) for t in g.signal_share]
        self._batched: tuple[int, list[Tensor]] | None = None  # (B, per layer (2, B·E_layer))
        self._synapses, self._conn = _Synapses(), ConnectionCell()

    @property
    def num_copies(self) -> int:
        return self.genome.shape[0]

    @torch.no_grad()
    def act(self, obs: Tensor, noise: Tensor | None = None) -> Tensor:
        """obs (B, obs_dim) → actions (B, n_out) in (−1, 1). noise (B, N') replaces the generator's ε."""
        b, n = self.num_copies, self.graph.num_neurons
        obs = obs.to(self.weights)
        eps = (
            torch.randn((b, n), generator=self.generator, device=obs.device, dtype=obs.dtype)
            if noise is None
            else noise.to(obs)
        )
        if self.dense:
            s, x, at, w_at = [], obs, 0, 0
            for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
                w = self.weights[:, w_at : w_at + n_in * n_out].view(b, n_in, n_out)
                s.append(torch.baddbmm(self.biases[:, at : at + n_out, None].transpose(1, 2), x[:, None], w)[:, 0])
                x = torch.tanh(s[-1] + self.sigmas[:, at : at + n_out] * eps[:, at : at + n_out])
                at, w_at = at + n_out, w_at + n_in * n_out
            s = torch.cat(s, 1)
        else:
            nn_ = self.graph.num_nodes
            y = obs.new_zeros(b, nn_)
            y[:, self._inputs] = obs
            s = obs.new_zeros(b, n)
            for nodes, pos, edges, index in zip(
                self._nodes, self._pos, self._edges, self._batched_edges(), strict=True
            ):
                summed = self._synapses(index, y.view(-1, 1), self.weights[:, edges].reshape(-1, 1))
                s_l = summed.view(b, nn_)[:, nodes] + self.biases[:, pos]
                s[:, pos] = s_l
                y[:, nodes] = torch.tanh(s_l + self.sigmas[:, pos] * eps[:, pos])
        sample = s + self.sigmas * eps
        out = torch.tanh(sample)
        self._last = (obs, s, sample, out)
        return out[:, self._out_pos]

    @torch.no_grad()
    def learn(self, reward: Tensor) -> None:
        """One step of the rule after the environment step: reward (B,)."""
        if self._last is None:
            raise RuntimeError("learn() needs an act() first")
        obs, s, sample, out = self._last
        info = torch.stack([s, sample, out, self.biases, self.sigmas], -1)  # (B, N', 5), before the update
        r = reward.to(s).reshape(-1, 1, 1).expand(-1, self._out_pos.numel(), 1)
        signal, self.reward_state = cell_step(
            self.rule["reward"], torch.cat([r, info[:, self._out_pos]], -1), self.reward_state
        )
        (self._learn_dense if self.dense else self._learn_graph)(obs, info, signal)

    def _update_nodes(self, info: Tensor, signal: Tensor, pos: Tensor | slice) -> tuple[Tensor, Tensor]:
        """The node cell on the neurons ``pos``: updates b, σ, node_state; → (post info with the new b and
        σ (B, n, 5), signal for the incoming edges (B, n, S))."""
        sd = self.layout.signal_dim
        y, self.node_state[:, pos] = cell_step(
            self.rule["node"], torch.cat([info, signal], -1), self.node_state[:, pos]
        )
        bias = (self.biases[:, pos] + self.lr * y[..., sd]).clamp(-self.weight_limit, self.weight_limit)
        sigma = (self.sigmas[:, pos] + self.lr * y[..., sd + 1]).clamp(0.0, self.sigma_limit)
        self.biases[:, pos], self.sigmas[:, pos] = bias, sigma
        return torch.cat([info[..., :_BIAS], bias[..., None], sigma[..., None]], -1), y[..., :sd]

    def _update_weights(self, y: Tensor, edges: Tensor | slice, w: Tensor) -> None:
        w = (w + self.lr * y[..., -1].reshape(w.shape)).clamp(-self.weight_limit, self.weight_limit)
        self.weights[:, edges] = w.reshape(w.shape[0], -1)

    def _learn_dense(self, obs: Tensor, info: Tensor, signal: Tensor) -> None:
        b, sizes, sd = self.num_copies, self.sizes, self.layout.signal_dim
        n_at = [0]  # neuron offsets per non-input layer, edge offsets per layer
        e_at = [0]
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
            n_at.append(n_at[-1] + n_out)
            e_at.append(e_at[-1] + n_in * n_out)
        for l in range(len(sizes) - 1, 0, -1):  # layer l: sizes[l - 1] → sizes[l]
            n_in, n_out = sizes[l - 1], sizes[l]
            post, emit = self._update_nodes(info[:, n_at[l - 1] : n_at[l]], signal, slice(n_at[l - 1], n_at[l]))
            if l == 1:
                pre = obs.new_zeros(b, n_in, NODE_INFO)
                pre[..., _OUT] = obs
            else:
                pre = info[:, n_at[l - 2] : n_at[l - 1]]
            flag = obs.new_full((b, n_in, n_out, 1), 1.0 if l == 1 else 0.0)
            feats = torch.cat(
                [
                    post[:, None].expand(-1, n_in, -1, -1),
                    pre[:, :, None].expand(-1, -1, n_out, -1),
                    emit[:, None].expand(-1, n_in, -1, -1),
                    self.weights[:, e_at[l - 1] : e_at[l], None].view(b, n_in, n_out, 1),
                    flag,
                ],
                -1,
            )
            edges = slice(e_at[l - 1], e_at[l])
            y, self.edge_state[:, edges] = cell_step(
                self.rule["connection"], feats.view(b, n_in * n_out, -1), self.edge_state[:, edges]
            )
            y = y.view(b, n_in, n_out, sd + 1)
            self._update_weights(y, edges, self.weights[:, edges].view(b, n_in, n_out))
            signal = y[..., :sd].mean(2)

    def _batched_edges(self) -> list[Tensor]:
        """Per layer the (2, B·E_layer) edge_index of the B copies' disjoint union, copy-major."""
        b = self.num_copies
        if self._batched is None or self._batched[0] != b:
            shift = (torch.arange(b, device=self.genome.device) * self.graph.num_nodes).view(1, b, 1)
            ei = self.graph.edge_index.to(self.genome.device)
            self._batched = (b, [(ei[:, e].view(2, 1, -1) + shift).reshape(2, -1) for e in self._edges])
        return self._batched[1]

    def _learn_graph(self, obs: Tensor, info: Tensor, signal: Tensor) -> None:
        b, nn_, sd, h = self.num_copies, self.graph.num_nodes, self.layout.signal_dim, self.layout.state_dim
        node_info = obs.new_zeros(b, nn_, NODE_INFO)  # every node's info; inputs: zeros but "out" = obs
        node_info[:, self._inputs, _OUT] = obs
        node_info[:, self._noninput] = info
        incoming = obs.new_zeros(b, nn_, sd)  # signal arriving at each neuron
        incoming[:, self._outputs] = signal
        emitted = obs.new_zeros(b, nn_, sd)  # node cell's signal for its incoming edges
        for nodes, pos, edges, flags, share, index in reversed(
            list(zip(self._nodes, self._pos, self._edges, self._flags, self._share, self._batched_edges(), strict=True))
        ):
            post, emit = self._update_nodes(node_info[:, nodes], incoming[:, nodes], pos)
            node_info[:, nodes] = post
            emitted[:, nodes] = emit
            w = self.weights[:, edges]
            y, state, back = self._conn(
                index,
                node_info.view(b * nn_, NODE_INFO),
                emitted.view(b * nn_, sd),
                w.reshape(-1, 1),
                flags.view(1, -1, 1).expand(b, -1, -1).reshape(-1, 1),
                self.edge_state[:, edges].reshape(-1, h),
                self.rule["connection"],
                b,
            )
            self.edge_state[:, edges] = state.view(b, -1, h)
            self._update_weights(y, edges, w)
            incoming += share.view(1, -1, 1) * back.view(b, nn_, sd)

    def select(self, keep: Tensor) -> LearningActor:
        """Keep the copies ``keep`` (indices or a bool mask over B), in that order; returns self."""
        keep = torch.as_tensor(keep, device=self.genome.device)
        keep = keep.nonzero().flatten() if keep.dtype == torch.bool else keep.long().flatten()
        pick = lambda t: t.index_select(0, keep)  # noqa: E731
        self.genome = pick(self.genome)
        self.rule = self.layout.split(self.genome)
        self.weights, self.biases, self.sigmas = pick(self.weights), pick(self.biases), pick(self.sigmas)
        self.reward_state, self.node_state, self.edge_state = (
            pick(self.reward_state),
            pick(self.node_state),
            pick(self.edge_state),
        )
        if self._last is not None:
            self._last = tuple(pick(t) for t in self._last)
        return self
