"""The topology of a learning actor (see :mod:`genpolicy.nets.learning_rule`): neurons are nodes and
synapses are directed edges pre → post of a DAG.

Input nodes carry the observation and have no incoming edges; every other node is a stochastic neuron.
A node's *depth* is 0 for an input node and 1 + the largest depth among its pre neurons otherwise (a
non-input node without incoming edges has depth 1). The forward pass visits depths 1, 2, … and the
learning sweep visits them in reverse; "layer d" below always means the nodes of depth d and the
edges whose post neuron has depth d. Everything here is computed once, on the CPU, when the graph is
built.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def _ids(name: str, ids: Sequence[int] | Tensor, num_nodes: int) -> Tensor:
    t = torch.as_tensor(ids, dtype=torch.long).flatten().cpu()
    if t.numel() == 0:
        raise ValueError(f"{name} must name at least one node")
    if t.min() < 0 or t.max() >= num_nodes:
        raise ValueError(f"{name} must be node ids in [0, {num_nodes}), got {t.tolist()}")
    if t.unique().numel() != t.numel():
        raise ValueError(f"{name} repeat a node: {t.tolist()}")
    return t


class ActorGraph:
    """A DAG of ``num_nodes`` neurons with observation nodes ``inputs`` (in observation order), action
    nodes ``outputs`` (in action order) and synapses ``edge_index`` (2, E): row 0 the pre neuron, row 1
    the post neuron. Edge e is weight e of the actor's ``weights`` (B, E); the non-input nodes in
    ascending id order are the columns of its ``biases`` / ``sigmas`` (B, N').

    Refused: cycles, self loops, edges into an input node, an output that is also an input, and an
    output node with outgoing edges (output neurons get their learning signal from the reward cell).
    """

    def __init__(
        self,
        num_nodes: int,
        inputs: Sequence[int] | Tensor,
        outputs: Sequence[int] | Tensor,
        edge_index: Sequence[Sequence[int]] | Tensor,
    ) -> None:
        n = int(num_nodes)
        if n < 2:
            raise ValueError(f"an actor graph needs at least two nodes, got {num_nodes}")
        self.num_nodes = n
        self.inputs = _ids("inputs", inputs, n)
        self.outputs = _ids("outputs", outputs, n)
        ei = torch.as_tensor(edge_index, dtype=torch.long).cpu().reshape(2, -1)
        if ei.numel() and (ei.min() < 0 or ei.max() >= n):
            raise ValueError(f"edge_index must hold node ids in [0, {n})")
        self.edge_index = ei
        pre, post = ei
        is_input = torch.zeros(n, dtype=torch.bool)
        is_input[self.inputs] = True
        if is_input[self.outputs].any():
            raise ValueError("a node cannot be both an input and an output")
        if (pre == post).any():
            raise ValueError("self loops are not allowed")
        if is_input[post].any():
            raise ValueError("edges into an input node are not allowed")
        is_output = torch.zeros(n, dtype=torch.bool)
        is_output[self.outputs] = True
        if is_output[pre].any():
            raise ValueError("output nodes must not have outgoing edges")
        self.from_input = is_input[pre]  # (E,) the edges that leave an observation node

        # longest-path depth by repeated relaxation (vectorised over edges); > n rounds means a cycle
        depth = (~is_input).long()
        for _ in range(n + 1):
            new = depth.clone()
            if ei.numel():
                new.scatter_reduce_(0, post, depth[pre] + 1, reduce="amax")
            if torch.equal(new, depth):
                break
            depth = new
        else:
            raise ValueError("edge_index has a cycle: an actor graph must be a DAG")
        self.depth = depth
        self.num_layers = int(depth.max())  # non-input layers
        self.noninput = (~is_input).nonzero().flatten()  # (N',) column order of biases / sigmas
        self.position = torch.full((n,), -1, dtype=torch.long)
        self.position[self.noninput] = torch.arange(self.noninput.numel())
        # per non-input layer d = 1..num_layers (list index d - 1)
        self.layer_nodes = [(depth == d).nonzero().flatten() for d in range(1, self.num_layers + 1)]
        self.layer_edges = [(depth[post] == d).nonzero().flatten() for d in range(1, self.num_layers + 1)]
        # a neuron's incoming learning signal is the mean over ALL its outgoing edges; when those lie in
        # several layers it is Σ_d share_d · (mean over its edges into layer d), share_d = its fraction
        # of outgoing edges that go into layer d (1 or 0 in a layered graph)
        out_deg = torch.zeros(n).index_add_(0, pre, torch.ones(pre.numel()))
        self.signal_share = [
            torch.zeros(n).index_add_(0, pre[e], torch.ones(e.numel())) / out_deg.clamp(min=1) for e in self.layer_edges
        ]

    @classmethod
    def layered(cls, sizes: Sequence[int]) -> ActorGraph:
        """Fully connected layers ``sizes`` = [obs_dim, hidden…, n_actions]: nodes numbered layer by
        layer, edges layer by layer and within a layer pre-major (edge k of layer l joins pre neuron
        k // sizes[l] to post neuron k % sizes[l]), so a layer's weights are a (B, in, out) view."""
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"layered sizes need an input and an output layer of positive sizes, got {sizes}")
        starts = [0]
        for s in sizes:
            starts.append(starts[-1] + s)
        edges = []
        for l in range(1, len(sizes)):
            pre = torch.arange(starts[l - 1], starts[l]).repeat_interleave(sizes[l])
            post = torch.arange(starts[l], starts[l + 1]).repeat(sizes[l - 1])
            edges.append(torch.stack([pre, post]))
        return cls(starts[-1], range(sizes[0]), range(starts[-2], starts[-1]), torch.cat(edges, 1))

    @property
    def num_edges(self) -> int:
        return self.edge_index.shape[1]

    @property
    def num_neurons(self) -> int:
        """N': the non-input nodes."""
        return self.noninput.numel()

    @property
    def layer_sizes(self) -> list[int] | None:
        """[obs_dim, hidden…, n_actions] when this graph is exactly ``ActorGraph.layered`` of them (the
        dense fast path's layout), else None."""
        sizes = [self.inputs.numel()] + [int(nodes.numel()) for nodes in self.layer_nodes]
        if int((self.depth == 0).sum()) != sizes[0]:
            return None
        ref = ActorGraph.layered(sizes)
        same = (
            self.num_nodes == ref.num_nodes
            and torch.equal(self.inputs, ref.inputs)
            and torch.equal(self.outputs, ref.outputs)
            and torch.equal(self.edge_index, ref.edge_index)
        )
        return sizes if same else None

    def __repr__(self) -> str:
        return (
            f"ActorGraph(nodes={self.num_nodes}, inputs={self.inputs.numel()}, outputs={self.outputs.numel()}, "
            f"edges={self.num_edges}, layers={self.num_layers})"
        )
