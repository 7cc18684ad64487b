"""The MetaRL population policy: a genome is a learning rule (genpolicy.nets.learning_rule), and
playing it means training a fresh stochastic actor with it, online, after every environment step.

Paper / source: ASFaust/MetaRL (an evolved message-passing learning rule; no paper), building on
evolved plasticity rules (Najarro & Risi, "Meta-Learning through Hebbian Plasticity in Random
Networks", NeurIPS 2020) and learned learning rules as graph networks.

``bind(rules (M, P))`` → a :class:`MetaRLActor` for M × group copies (copy m·group + g: rule m's
g-th lifetime). It follows the episode loop's learner protocol (genpolicy.rollout.actors): ``start``
takes the copies' reset seeds and draws each copy's initial actor from its own seed — weights and
biases N(0, init_std²), σ = sigma_init — and the neurons' noise of step t from (seed, t): a copy's
lifetime does not depend on how copies are batched, chunked or sharded, and copies with the same
seed (the same lifetime of different rules) start from the same actor and see the same noise.
``observe`` runs one step of the rule; ``learn=False`` leaves the actor frozen (the baseline).

Layered actors (``hidden``) run the copy-minor fast path, with ``kernel``: ``native`` — the hand-written
C kernel (nets/learning_rule_native.py, CPU), ``compiled`` — nets/learning_rule_fast.py through
torch.compile, ``eager`` — the same, uncompiled (the readable reference), ``auto`` — native on a CPU
with a C compiler, else compiled where torch.compile can build kernels, else eager. An ``edge_index``
actor runs LearningActor's torch_geometric path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from genpolicy._checks import choice, integer, positive
from genpolicy.nets.actor_graph import ActorGraph
from genpolicy.nets.learning_rule import LearningActor, RuleLayout
from genpolicy.nets.learning_rule_fast import act_layered, learn_layered
from genpolicy.nets.learning_rule_native import NativeRule, block, compiler, fits, native_rule, unblock
from genpolicy.policies.normalizer import RunningNorm
from genpolicy.seeding import seeded_normals

_NOISE_AT = 1 << 20  # a seed's counter stream: initial weights first, then the noise of step t from here
KERNELS = ("auto", "native", "compiled", "eager")


class MetaRLPolicy(nn.Module):
    """Rules for actors of shape [obs_dim, *hidden, action_dim] (or any DAG ``edge_index`` on nodes
    0 … obs_dim − 1 as inputs and the last action_dim nodes as outputs). Actions: the output neurons'
    tanh(sample) ∈ (−1, 1) mapped linearly onto the env's [low, high]."""

    def __init__(
        self,
        obs_dim: int,
        action_kind: str,
        action_dim: int,
        action_low: Sequence[float] = (),
        action_high: Sequence[float] = (),
        hidden: Sequence[int] = (8, 8),
        edge_index: Sequence[Sequence[int]] | torch.Tensor | None = None,
        num_nodes: int | None = None,
        state_dim: int = 8,
        signal_dim: int = 1,
        lr: float = 0.01,
        weight_limit: float = 4.0,
        sigma_limit: float = 1.0,
        init_std: float = 0.4,
        sigma_init: float = 0.0,
        genome_std: float = 0.1,
        dense: bool | None = None,
        kernel: str = "auto",
        learn: bool = True,
    ) -> None:
        super().__init__()
        if action_kind != "box":
            raise ValueError(f"policy=metarl drives continuous (Box) actions, the env has {action_kind} actions")
        if edge_index is None:
            self.graph = ActorGraph.layered([obs_dim, *[integer("policy.hidden", h) for h in hidden], action_dim])
        else:
            n = integer("policy.num_nodes", num_nodes) if num_nodes is not None else None
            if n is None:
                raise ValueError("policy.edge_index needs policy.num_nodes")
            if n < obs_dim + action_dim:
                raise ValueError(
                    f"the actor does not fit the env: policy.num_nodes={n} must hold the env's {obs_dim} "
                    f"observation nodes and its {action_dim} action nodes"
                )
            self.graph = ActorGraph(n, range(obs_dim), range(n - action_dim, n), edge_index)
        if self.graph.inputs.numel() != obs_dim or self.graph.outputs.numel() != action_dim:
            raise ValueError(
                f"the actor has {self.graph.inputs.numel()} inputs and {self.graph.outputs.numel()} outputs; "
                f"the env has {obs_dim} observations and {action_dim} actions"
            )
        self.sizes = self.graph.layer_sizes
        if dense and self.sizes is None:
            raise ValueError(
                "policy.dense=true needs a layered actor (policy.hidden), but edge_index is not layered; "
                "use dense=null (automatic) or false (torch_geometric)"
            )
        self.dense = self.sizes is not None if dense is None else bool(dense)
        self.layout = RuleLayout(integer("policy.state_dim", state_dim), integer("policy.signal_dim", signal_dim))
        self.lr, self.weight_limit = positive("policy.lr", lr), positive("policy.weight_limit", weight_limit)
        self.sigma_limit, self.init_std = positive("policy.sigma_limit", sigma_limit), float(init_std)
        self.sigma_init, self.genome_std = float(sigma_init), positive("policy.genome_std", genome_std)
        self.kernel = choice("policy.kernel", kernel, KERNELS)
        if self.kernel == "native":
            why = "the actor is not layered (edge_index)" if not self.dense else fits(self.sizes, self.layout)
            if why is not None:
                raise ValueError(f"policy.kernel=native cannot run this actor: {why}; use kernel=auto")
        self.learn = bool(learn)
        low, high = torch.tensor(action_low, dtype=torch.float32), torch.tensor(action_high, dtype=torch.float32)
        self.register_buffer("action_mid", (high + low) / 2, persistent=False)
        self.register_buffer("action_half", (high - low) / 2, persistent=False)
        self.norm = RunningNorm(obs_dim, enabled=False)  # the actor sees the env's bounded observations

    @property
    def num_params(self) -> int:
        return self.layout.num_params

    def resolved_kernel(self, device: torch.device | str) -> str:
        """The kernel a layered actor runs on ``device`` (what ``auto`` stands for there)."""
        dev = torch.device(device)
        if self.kernel == "native" and dev.type != "cpu":
            raise ValueError(f"policy.kernel=native runs on the CPU, the rules are on {dev}; use kernel=auto")
        if self.kernel != "auto":
            return self.kernel
        if dev.type == "cpu" and compiler() is not None:
            return "native"
        from genpolicy._compile import can_compile

        return "compiled" if can_compile(dev) else "eager"

    def native_rule(self) -> NativeRule:
        """The native kernel for this actor shape (built once per process)."""
        return native_rule(
            tuple(self.sizes),
            self.layout.state_dim,
            self.layout.signal_dim,
            self.lr,
            self.weight_limit,
            self.sigma_limit,
        )

    def initial_parameters(self) -> torch.Tensor:
        """A random rule N(0, genome_std²) (from torch's global generator, which fit seeds)."""
        return torch.randn(self.num_params) * self.genome_std

    def bind(
        self,
        params: torch.Tensor,
        generator: torch.Generator | None = None,
        *,
        learn: bool | None = None,
        record: bool = False,
    ) -> MetaRLActor:
        """The learner for the rules ``params`` (M, P); ``learn`` overrides the policy's (False: frozen
        actors), ``record`` keeps every step's reward per copy (:attr:`MetaRLActor.rewards`)."""
        return MetaRLActor(self, params.detach().float(), self.learn if learn is None else learn, record)


class MetaRLActor:
    """M rules × group lifetimes, each copy an actor the rule trains as it plays."""

    def __init__(self, policy: MetaRLPolicy, rules: torch.Tensor, learn: bool, record: bool) -> None:
        self.policy, self.rules, self.learn, self.record = policy, rules, learn, record
        self.seeds: torch.Tensor | None = None
        self.rewards: list[tuple[torch.Tensor, torch.Tensor]] = []  # per step (copy ids, rewards) when recording

    # ------------------------------------------------------------------ the loop's protocol
    def start(self, seeds: torch.Tensor) -> None:
        """The copies' reset seeds (n,): each copy's initial actor and noise stream."""
        p, dev = self.policy, self.rules.device
        n = seeds.numel()
        group = n // self.rules.shape[0]
        self.seeds, self.t = seeds.to(dev), 0
        self.ids, self.copies = torch.arange(n, device=dev), n
        g = p.graph
        uniq, self.inverse = torch.unique(self.seeds, return_inverse=True)  # shared lifetimes: draw once
        self.unique = uniq
        draws = seeded_normals(uniq, 0, g.num_edges + g.num_neurons)[:, self.inverse] * p.init_std  # (E + N', n)
        weights, biases = draws[: g.num_edges], draws[g.num_edges :]
        sigmas = torch.full_like(biases, p.sigma_init)
        genome = self.rules.repeat_interleave(group, 0)  # (n, P): copy c plays rule c // group
        if p.dense:
            self.minor = True
            h = p.layout.state_dim
            state = [
                weights,
                biases,
                sigmas,
                weights.new_zeros(g.outputs.numel(), h, n),
                weights.new_zeros(g.num_neurons, h, n),
                weights.new_zeros(g.num_edges, h, n),
            ]
            self.shapes = [tuple(x.shape[:-1]) for x in state]
            kernel = p.resolved_kernel(dev)
            self.native = p.native_rule() if kernel == "native" else None
            if self.native is not None:  # the kernel's blocked layout (nets/metarl_kernel.c)
                self.genome = block(genome.t(), self.native.lanes)
                self.state = [block(x, self.native.lanes) for x in state]
            else:
                self.genome = genome.t().contiguous()
                self.state = [x.contiguous() for x in state]
                self._act, self._learn = _kernels(p, kernel)
        else:
            self.minor = False
            self.learner = LearningActor(
                g,
                p.layout,
                genome,
                torch.Generator(device=dev),
                lr=p.lr,
                weight_limit=p.weight_limit,
                sigma_limit=p.sigma_limit,
                weights=weights.t(),
                biases=biases.t(),
                sigmas=sigmas.t(),
                dense=False,
            )

    def _noise(self) -> torch.Tensor:
        """(N', n): the neurons' ε of this step, from each copy's seed."""
        n_neurons = self.policy.graph.num_neurons
        at = _NOISE_AT + self.t * n_neurons
        return seeded_normals(self.unique, at, n_neurons)[:, self.inverse]

    def __call__(self, obs: torch.Tensor) -> torch.Tensor:
        if self.seeds is None:
            raise RuntimeError("MetaRLActor needs start(seeds) before it acts (the episode loop calls it)")
        shape = obs.shape[:-1]
        flat = obs.reshape(-1, obs.shape[-1]).float()
        eps = self._noise()
        if self.minor:
            w, b, s = self.state[:3]
            obs_t = flat.t().contiguous()
            act = self.native.act if self.native is not None else self._act
            self._last = (obs_t, *act(w, b, s, obs_t, eps))
            out = self._last[-1][-self.policy.graph.outputs.numel() :].t()
        else:
            out = self.learner.act(flat, eps.t())
        return (self.policy.action_mid + self.policy.action_half * out).reshape(*shape, -1)

    def observe(self, reward: torch.Tensor, done: torch.Tensor, alive: torch.Tensor) -> None:
        if self.record:
            self.rewards.append((self.ids[alive], reward[alive].double()))
        self.t += 1
        if not self.learn:
            return
        r = reward.float()
        if self.minor and self.native is not None:
            self.native.learn(self.genome, self.state, *self._last, r, None if bool(alive.all()) else alive)
        elif self.minor:
            new = self._learn(self.genome, *self.state, *self._last, r)
            if not bool(alive.all()):  # a finished copy keeps its state
                new = [torch.where(alive, x, old) for x, old in zip(new, self.state, strict=True)]
            self.state = list(new)
        else:
            if not bool(alive.all()):
                raise NotImplementedError("the torch_geometric path learns only while every copy is alive")
            self.learner.learn(r)

    def select(self, keep: torch.Tensor) -> MetaRLActor:
        keep = keep.to(self.rules.device)
        live = self.seeds.numel()
        self.seeds, self.ids, self.inverse = self.seeds[keep], self.ids[keep], self.inverse[keep]
        if self.minor and self.native is not None:
            lanes = self.native.lanes
            self.genome = block(unblock(self.genome, live, (self.genome.shape[1],))[:, keep], lanes)
            self.state = [
                block(unblock(x, live, shape)[..., keep], lanes)
                for x, shape in zip(self.state, self.shapes, strict=True)
            ]
        elif self.minor:
            self.genome = self.genome[:, keep]
            self.state = [x[..., keep] for x in self.state]
        else:
            self.learner.select(keep)
        return self

    # ------------------------------------------------------------------ reading it back
    def reward_matrix(self, steps: int, copies: int) -> torch.Tensor:
        """(steps, copies) float64 rewards recorded so far (0 where a copy had ended)."""
        out = torch.zeros(steps, copies, dtype=torch.float64)
        for t, (ids, r) in enumerate(self.rewards[:steps]):
            out[t, ids.cpu()] = r.cpu()
        return out


def _kernels(
    policy: MetaRLPolicy, kernel: str
) -> tuple[Callable[..., tuple[torch.Tensor, ...]], Callable[..., tuple[torch.Tensor, ...]]]:
    """The layered act and learn step for this policy's shape (``compiled``: once per shape)."""
    sizes, layout = policy.sizes, policy.layout
    lr, wl, sl = policy.lr, policy.weight_limit, policy.sigma_limit

    def act(
        weights: torch.Tensor, biases: torch.Tensor, sigmas: torch.Tensor, obs: torch.Tensor, eps: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return act_layered(sizes, weights, biases, sigmas, obs, eps)

    def learn(
        genome: torch.Tensor,
        weights: torch.Tensor,
        biases: torch.Tensor,
        sigmas: torch.Tensor,
        rs: torch.Tensor,
        ns: torch.Tensor,
        es: torch.Tensor,
        obs: torch.Tensor,
        s: torch.Tensor,
        sample: torch.Tensor,
        out: torch.Tensor,
        reward: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        return learn_layered(
            sizes, layout, lr, wl, sl, genome, weights, biases, sigmas, rs, ns, es, obs, s, sample, out, reward
        )

    if kernel == "eager":
        return act, learn
    from genpolicy._compile import compiled_key

    key = (tuple(sizes), layout.state_dim, layout.signal_dim, lr, wl, sl)
    return compiled_key(("metarl_act", *key), act), compiled_key(("metarl_learn", *key), learn)
