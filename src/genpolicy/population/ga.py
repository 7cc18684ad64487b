"""Genetic algorithm for neural-network weights: Such, Madhavan, Conti, Lehman, Stanley & Clune,
"Deep Neuroevolution: Genetic Algorithms Are a Competitive Alternative for Training Deep Neural
Networks for Reinforcement Learning", arXiv:1712.06567 (2017).

Ask/tell over flat parameter vectors. Generation g's members: index 0 is the elite, carried over
unmutated; member i > 0 is a parent drawn uniformly from the top ``truncation`` of the previous
generation plus Gaussian mutation (σ = ``mutation_std``; with ``mutation_prob`` only that fraction
of the elements mutate, the MetaRL variant, and at least one always does: no child is a clone that
re-plays its parent). With ``init_std`` the first generation is drawn afresh, member i > 0 from
N(0, init_std²) (MetaRL starts from 10,000 random genomes), instead of mutating the one initial
vector. Parent choice and mutation are a pure function of
(generation seed, i), so members are rebuilt on demand (and on any DDP rank) from the parents.

Elitism (Such et al.): the top ``elite_candidates`` of a generation (plus the current elite) are
re-evaluated over extra episodes by the caller, and the best of those becomes the next elite — a
lucky single episode does not make an elite: after ``tell``, ``reevaluate`` asks for the candidates
to be scored over ``elite_episodes`` episodes and ``tell_reevaluated`` takes their scores.
"""

from __future__ import annotations

import torch

from genpolicy._checks import integer, positive
from genpolicy.population.noise import member_seed
from genpolicy.population.protocol import Strategy, TensorMembers
from genpolicy.seeding import seeds, stream


class GenerationMembers:
    """Members of one GA generation, materialised only for the indices asked."""

    def __init__(
        self,
        parents: torch.Tensor,
        elite: torch.Tensor,
        seed: int,
        popsize: int,
        std: float,
        prob: float | None,
        init_std: float | None = None,
    ) -> None:
        self.parents, self.elite, self.seed = parents, elite, int(seed)
        self.popsize, self.dim, self.std, self.prob = popsize, elite.numel(), float(std), prob
        self.init_std = init_std  # set: a fresh random population (the first generation)

    def __len__(self) -> int:
        return self.popsize

    def parent_index(self, idx: torch.Tensor) -> torch.Tensor:
        """The parent (row of ``parents``) of each member index (member 0, the elite, gets -1)."""
        draws = seeds(self.seed, "ga_parent", idx.cpu()) % self.parents.shape[0]
        return torch.where(idx.cpu() == 0, -1, draws)

    def rows(self, idx: torch.Tensor) -> torch.Tensor:
        idx = idx.to(torch.int64).cpu()
        parent = self.parent_index(idx)
        out = torch.empty(len(idx), self.dim, dtype=self.elite.dtype, device=self.elite.device)
        gen, mutation = torch.Generator(device=self.elite.device), stream(self.seed, "ga_mutation")
        for row, (i, p) in enumerate(zip(idx.tolist(), parent.tolist(), strict=True)):
            if p < 0:
                out[row] = self.elite
                continue
            gen.manual_seed(member_seed(mutation, i))
            noise = torch.randn(self.dim, generator=gen, device=self.elite.device, dtype=self.elite.dtype)
            if self.init_std is not None:
                out[row] = self.init_std * noise
                continue
            if self.prob is not None:
                mask = torch.rand(self.dim, generator=gen, device=self.elite.device) < self.prob
                if not mask.any():  # never a clone: one gene, drawn from the same stream, mutates
                    mask[torch.randint(self.dim, (1,), generator=gen, device=self.elite.device)] = True
                noise *= mask
            out[row] = self.parents[p] + self.std * noise
        return out


class GeneticAlgorithm(Strategy):
    metric_prefix, kind = "ga", "genetic"

    def __init__(
        self,
        popsize: int = 256,
        truncation: int = 20,
        mutation_std: float = 0.02,
        mutation_prob: float | None = None,
        elite_candidates: int = 10,
        elite_episodes: int = 30,
        init_std: float | None = None,
    ) -> None:
        self.popsize = integer("popsize", popsize, minimum=2)
        self.truncation = integer("truncation", truncation)
        if self.truncation > self.popsize:
            raise ValueError(f"truncation ({truncation}) must not exceed popsize ({popsize})")
        self.mutation_std = positive("mutation_std", mutation_std)
        if mutation_prob is not None and not 0 < mutation_prob <= 1:
            raise ValueError(f"mutation_prob must be in (0, 1] or null (mutate every element), got {mutation_prob!r}")
        self.mutation_prob = mutation_prob
        self.elite_candidates = integer("elite_candidates", elite_candidates)
        self.elite_episodes = integer("elite_episodes", elite_episodes)
        self.init_std = None if init_std is None else positive("init_std", init_std)
        self.fresh = self.init_std is not None  # the next ask is the first generation: random genomes
        self.parents: torch.Tensor | None = None  # (T, D) the truncation-selected parents
        self.elite: torch.Tensor | None = None  # (D,)
        self._candidates: torch.Tensor | None = None  # (k, D) awaiting re-evaluation
        self._last: GenerationMembers | None = None

    def initialize(self, params: torch.Tensor) -> None:
        """Start from one parameter vector: it is the first elite and the only parent."""
        self.elite = params.detach().clone()
        self.parents = self.elite[None].clone()

    def solution(self) -> torch.Tensor:
        return self.elite

    def ask(self, seed: int) -> GenerationMembers:
        if self.elite is None:
            raise RuntimeError("call initialize(params) before ask()")
        self._last = GenerationMembers(
            self.parents,
            self.elite,
            seed,
            self.popsize,
            self.mutation_std,
            self.mutation_prob,
            self.init_std if self.fresh else None,
        )
        return self._last

    def tell(self, fitness: torch.Tensor, seed: int) -> None:
        """Select parents from this generation's ``fitness`` (P,) and keep the elite candidates (k, D) —
        the current elite first — for :meth:`reevaluate`."""
        f = self.check_fitness(fitness)
        order = torch.sort(f, descending=True, stable=True).indices
        members = self._last if self._last is not None and self._last.seed == seed else self.ask(seed)
        self.parents = members.rows(order[: self.truncation])
        self.fresh = False
        top = order[: self.elite_candidates]
        top = torch.cat([torch.zeros(1, dtype=top.dtype), top[top != 0]])[: self.elite_candidates]  # elite first
        self._candidates = members.rows(top)

    def reevaluate(self) -> tuple[TensorMembers, int] | None:
        """The elite candidates of the last ``tell``, to be scored over ``elite_episodes`` episodes."""
        return None if self._candidates is None else (TensorMembers(self._candidates), self.elite_episodes)

    def tell_reevaluated(self, scores: torch.Tensor) -> dict[str, float]:
        """Make the best re-evaluated candidate the elite (ties: the standing elite)."""
        if self._candidates is None or scores.shape != (len(self._candidates),):
            raise ValueError("tell_reevaluated needs one score per candidate of reevaluate()")
        s = torch.where(
            torch.isfinite(scores), scores.double(), torch.full_like(scores, -torch.inf, dtype=torch.float64)
        )
        best = int(torch.argmax(s))  # ties: the earliest, i.e. the standing elite
        self.elite = self._candidates[best].clone()
        self._candidates = None
        return {"ga/elite_return": float(scores[best]), "ga/elite_changed": float(best != 0)}

    def state_dict(self) -> dict:
        return {"parents": self.parents, "elite": self.elite, "fresh": self.fresh}

    def load_state_dict(self, state: dict) -> None:
        self.parents, self.elite = state["parents"], state["elite"]
        self.fresh = bool(state.get("fresh", False))
        self._candidates = self._last = None
