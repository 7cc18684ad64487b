"""The one episode loop: P members × E episodes, one batched policy call per environment step.

Every copy plays exactly one episode. Once it reports ``terminated`` or ``truncated`` its return is
final and it is masked (gymnasium ≥ 1.0 would reset it on the next step; that step is never counted).
When at most half of the current copies are alive the batch is compacted — the finished copies are
dropped from the environments and from the policy's weights — so neither simulation nor policy
compute is spent on episodes that ended (in an ES population most end long before the longest).

Members are evaluated in chunks so a large population never has all its weights and environments in
memory at once; a population is either a (P, D) tensor or any object with ``len()``, ``dim`` and
``rows(indices) → (k, D)``, so members can be built on demand (e.g. centre + σε from seeds).

The policy's ``bind(params (M, D))`` gives the actor of a chunk (:mod:`genpolicy.rollout.actors`). A
stateless actor is bound again at compaction; a stateful one (recurrent state, an online learner's
per-copy weights) is asked to ``select`` the surviving copies instead, and a learner ``observe``s
every step's reward and termination flag.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from genpolicy import _checks as check
from genpolicy._compile import compiled, prepare
from genpolicy.envs.registry import EnvSpec
from genpolicy.population.protocol import TensorMembers as TensorRows  # a materialised population (P, D)
from genpolicy.rollout.actors import is_stateful
from genpolicy.rollout.batches import make_batch
from genpolicy.rollout.threads import ThreadTuner, torch_threads

if TYPE_CHECKING:
    from typing import TypeAlias

    from genpolicy.population.protocol import Members
    from genpolicy.rollout.atari import AtariBatch
    from genpolicy.rollout.batches import EnvBatch

    # a learner's observe(reward, done, alive)
    Observe: TypeAlias = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], None]
    # the loop state one step returns: obs, alive, ret, length and the number of live copies
    LoopState: TypeAlias = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]

BindFn = Callable[[torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]  # params (M, D) → act(obs (M, B, o))


@dataclass
class RolloutResult:
    returns: torch.Tensor  # (P, E) float64 episode returns (NaN/inf kept as reported)
    lengths: torch.Tensor  # (P, E) int64 episode lengths
    env_steps: int  # environment steps that counted (steps of finished episodes excluded)
    wall_s: float
    obs_sums: torch.Tensor | None = None  # (P, E, 2, obs_dim) float64: Σ obs and Σ obs² per copy
    observations: torch.Tensor | None = None  # (T, obs_dim): every observation acted on (record_obs=True)

    @property
    def steps_per_s(self) -> float:
        return self.env_steps / max(self.wall_s, 1e-9)

    # Per-copy sums, reduced here in copy order: the result does not depend on how the copies were
    # batched, chunked or split across processes (bit-identical DDP runs rely on this).
    @property
    def obs_sum(self) -> torch.Tensor | None:
        return None if self.obs_sums is None else self.obs_sums[:, :, 0].reshape(-1, self.obs_sums.shape[-1]).sum(0)

    @property
    def obs_sumsq(self) -> torch.Tensor | None:
        return None if self.obs_sums is None else self.obs_sums[:, :, 1].reshape(-1, self.obs_sums.shape[-1]).sum(0)

    @property
    def obs_count(self) -> int:
        return 0 if self.obs_sums is None else self.env_steps


def _state_bytes(spec: EnvSpec) -> int:
    """One copy's observation and episode bookkeeping in the loop (the whole of a torch-native copy)."""
    return 64 * (spec.obs_dim + 8)


def copy_bytes(spec: EnvSpec) -> int:
    """A rough upper estimate of one environment copy's memory, for sizing chunks: a torch-native copy
    is a few numbers; a pybullet copy is a whole physics client (~30 MB measured for
    InvertedPendulumSwingupBulletEnv, 768 of them took 22 GB); other gymnasium simulators ~1 MB at most
    (BipedalWalker: 0.4 MB)."""
    if spec.backend == "torch":
        return _state_bytes(spec)
    if spec.backend == "atari":
        return 8 << 20  # an emulator (~0.3 MB) plus its screens
    if "Bullet" in spec.id:
        return 32 << 20
    return 1 << 20


def advance(
    act: Callable[[torch.Tensor], torch.Tensor],
    batch: EnvBatch,
    obs: torch.Tensor,
    alive: torch.Tensor,
    ret: torch.Tensor,
    length: torch.Tensor,
    group: int,
    action_shape: tuple,
    observe: Observe | None = None,
) -> LoopState:
    """One step of every copy: act, step the environments, hand a learning actor the step
    (``observe``), add rewards and lengths of the live copies, retire the copies whose episode ended;
    → the new loop state and the number of live copies. For a stateless actor (``observe`` None) a
    pure function of its tensors, so that ``torch.compile`` turns it — policy, environment and
    bookkeeping — into one graph (``env.compile=true``; a batch that has compacted steps eagerly: its
    shapes vary)."""
    actions = act(obs.view(-1, group, obs.shape[-1])).reshape(obs.shape[0], *action_shape)
    return _account(*batch.step(actions, alive), alive, ret, length, observe)


def advance_split(
    act: Callable[[torch.Tensor], torch.Tensor],
    batch: AtariBatch,
    obs: torch.Tensor,
    alive: torch.Tensor,
    ret: torch.Tensor,
    length: torch.Tensor,
    group: int,
    action_shape: tuple,
    observe: Observe | None = None,
) -> Generator[None, None, LoopState]:
    """:func:`advance` for a batch that steps asynchronously (``send`` / ``recv``), as a generator: at
    its ``yield`` this lane's environments are running and the other lanes act."""
    actions = act(obs.view(-1, group, obs.shape[-1])).reshape(obs.shape[0], *action_shape)
    batch.send(actions, alive)
    yield
    return _account(*batch.recv(), alive, ret, length, observe)


def _account(
    obs: torch.Tensor,
    reward: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    alive: torch.Tensor,
    ret: torch.Tensor,
    length: torch.Tensor,
    observe: Observe | None,
) -> LoopState:
    """Add one step's rewards and lengths to the live copies and retire those whose episode ended."""
    if observe is not None:
        observe(reward, terminated | truncated, alive)
    ret = ret + reward.masked_fill(~alive, 0.0)  # NaN/inf of a finished copy never leaks in
    length = length + alive
    alive = alive & ~(terminated | truncated)
    return obs, alive, ret, length, alive.sum()


def run_lanes(lanes: list) -> list:
    """Drive lane generators round-robin until each returns; → their return values, in order. A lane
    that never yields (synchronous batches) simply runs to its end."""
    results, active = [None] * len(lanes), list(range(len(lanes)))
    while active:
        for i in list(active):
            try:
                next(lanes[i])
            except StopIteration as stop:
                results[i] = stop.value
                active.remove(i)
    return results


class PopulationEvaluator:
    """Owns the environment batches (one per chunk size, reused across generations, the least recently
    used closed once the cached copies would exceed ``sim_bytes``).

    ``chunk_size``: members per chunk; ``None`` sizes chunks to ``chunk_bytes`` of weights and at most
    ``sim_bytes`` of simulators (:func:`copy_bytes` per copy).
    ``torch_threads``: intra-op threads while stepping; ``None`` uses one thread while copies ×
    parameters ≤ ``single_thread_below`` (small per-step ops are latency-bound and extra threads only
    add synchronisation) and above it lets a :class:`~genpolicy.rollout.threads.ThreadTuner` time
    one thread against the process's budget (``torch.get_num_threads()``) and keep the faster: two
    threads win on a large batch and two quiet cores, one wins when another process holds a core.
    ``pipeline`` (default: the Atari spec's ``pipeline``): each chunk plays as two lanes of half the
    members that step in turn, so one lane's policy call overlaps the other lane's emulators.
    """

    def __init__(
        self,
        spec: EnvSpec,
        chunk_size: int | None = None,
        chunk_bytes: int = 256 << 20,
        sim_bytes: int = 2 << 30,
        torch_threads: int | None = None,
        single_thread_below: int = 1 << 18,
        compact_min: int = 32,
        pipeline: bool | None = None,
    ) -> None:
        chunk_size = check.optional(check.integer, "chunk_size", chunk_size)  # None: automatic
        self.spec, self.chunk_size, self.chunk_bytes = spec, chunk_size, int(chunk_bytes)
        self.max_copies = max(1, int(sim_bytes) // copy_bytes(spec))  # simulator copies alive at once
        self.torch_threads, self.single_thread_below = torch_threads, int(single_thread_below)
        self.compact_min = int(compact_min)
        if pipeline and spec.backend != "atari":
            raise ValueError(f"pipeline=True needs a batch that steps asynchronously (env=atari), not {spec.backend}")
        self.pipeline = spec.backend == "atari" and bool(
            spec.kwargs.get("pipeline", True) if pipeline is None else pipeline
        )
        self._batches: dict[tuple[int, str], object] = {}
        if spec.compile:
            prepare()  # inductor's CPU checks overlap the set-up before the first step

    def close(self) -> None:
        for batch in self._batches.values():
            batch.close()
        self._batches.clear()

    def members_per_chunk(self, dim: int, episodes: int) -> int:
        if self.chunk_size is not None:
            return int(self.chunk_size)
        per_member = 3 * 4 * dim + episodes * _state_bytes(self.spec)  # weights ×3 + env/obs state
        return max(1, min(self.chunk_bytes // per_member, self.max_copies // episodes))

    def _batch(self, n: int, device: torch.device, lane: int = 0) -> EnvBatch:
        if self.spec.backend == "gymnasium" and self.spec.vectorization == "workers":
            key = ("workers", str(device))  # one pool (processes are costly), grown when needed
            pool = self._batches.get(key)
            if pool is None or pool.n < n:
                if pool is not None:
                    pool.close()
                self._batches[key] = make_batch(self.spec, n, device)
            return self._batches[key]
        key = (n, str(device), lane)
        batch = self._batches.pop(key, None)  # re-inserted below: the dict's order is least recent first
        if batch is None:
            while self._batches and sum(k[0] for k in self._batches) + n > self.max_copies:
                self._batches.pop(next(iter(self._batches))).close()
            batch = make_batch(self.spec, n, device)
        self._batches[key] = batch
        return batch

    def evaluate(
        self,
        bind: BindFn,
        population: torch.Tensor | Members,
        episodes: int,
        seeds: torch.Tensor | Sequence[int],
        device: torch.device | str = "cpu",
        max_steps: int | None = None,
        obs_stats: bool = False,
        record_obs: bool = False,
    ) -> RolloutResult:
        """Play ``episodes`` episodes for every member of ``population``.

        ``seeds``: one reset seed per (member, episode), member-major (copy p·E + e is member p's
        episode e), as a sequence or an int64 tensor. ``record_obs`` keeps every observation a live
        copy acted on (e.g. the states of a teacher's episodes).
        """
        rows = population if hasattr(population, "rows") else TensorRows(population)
        P, E, device = len(rows), int(episodes), torch.device(device)
        seeds = torch.as_tensor(seeds, dtype=torch.int64)
        if seeds.shape != (P * E,):
            raise ValueError(f"need {P * E} env seeds (P={P} × episodes={E}), got {tuple(seeds.shape)}")
        returns = torch.zeros(P * E, dtype=torch.float64)
        lengths = torch.zeros(P * E, dtype=torch.int64)
        sums = torch.zeros(P * E, 2, self.spec.obs_dim, dtype=torch.float64) if obs_stats else None
        chunk = self.members_per_chunk(rows.dim, E)
        recorded = [] if record_obs else None
        start = time.perf_counter()
        with torch.no_grad():
            for lo in range(0, P, chunk):
                hi = min(P, lo + chunk)
                # async batches (Atari) split the chunk into two lanes that step in turn: one lane's
                # policy call runs while the other lane's emulators do
                split = self.pipeline and hi - lo >= 2
                parts = [(lo, (lo + hi) // 2), ((lo + hi) // 2, hi)] if split else [(lo, hi)]
                with torch_threads():  # whatever the tuners chose, the caller's count comes back
                    lanes = [
                        self._loop(
                            self._batch((b - a) * E, device, lane),
                            bind,
                            rows,
                            torch.arange(a, b),
                            E,
                            seeds[a * E : b * E],
                            device,
                            max_steps,
                            obs_stats,
                            recorded,
                            self._tuner((b - a) * E * rows.dim, split),
                            split,
                        )
                        for lane, (a, b) in enumerate(parts)
                    ]
                    for (a, b), (r, l, st) in zip(parts, run_lanes(lanes), strict=True):
                        returns[a * E : b * E], lengths[a * E : b * E] = r, l
                        if sums is not None:
                            sums[a * E : b * E] = st
        return RolloutResult(
            returns=returns.view(P, E),
            lengths=lengths.view(P, E),
            env_steps=int(lengths.sum()),
            wall_s=time.perf_counter() - start,
            obs_sums=None if sums is None else sums.view(P, E, 2, -1),
            observations=None if recorded is None else torch.cat(recorded).cpu(),
        )

    def _tuner(self, size: int, split: bool = False) -> ThreadTuner:
        """Thread options for a lane of ``size`` copies × parameters (``split``: one of two lanes, which
        leaves the other lane's environments half the cores)."""
        if self.torch_threads is not None:
            return ThreadTuner([self.torch_threads])
        if size <= self.single_thread_below:
            return ThreadTuner([1])
        return ThreadTuner([1, torch.get_num_threads() // (2 if split else 1)])

    def _loop(
        self,
        batch: EnvBatch,
        bind: BindFn,
        rows: Members,
        members: torch.Tensor,
        E: int,
        seeds: torch.Tensor,
        device: torch.device,
        max_steps: int | None,
        obs_stats: bool,
        recorded: list[torch.Tensor] | None = None,
        tuner: ThreadTuner | None = None,
        split: bool = False,
    ) -> Generator[None, None, tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]:
        """One lane: the members' episodes to their end (a generator: see :func:`run_lanes`; with
        ``split`` it yields while its environments step) → (returns, lengths, obs sums) per copy."""
        tuner = tuner or ThreadTuner([torch.get_num_threads()])
        n = members.numel() * E
        obs = batch.reset(seeds)  # (n, obs_dim)
        act, group = bind(rows.rows(members).to(device)), E  # obs reshaped (n // group, group, obs_dim)
        stateful = is_stateful(act)
        if stateful and hasattr(act, "start"):  # per-copy random state comes from each copy's own seed
            act.start(seeds.to(device))
        observe = getattr(act, "observe", None)
        slot = torch.arange(n, device=device)  # current slot → copy in this chunk
        ret = torch.zeros(n, dtype=torch.float64, device=device)
        length = torch.zeros(n, dtype=torch.int64, device=device)
        alive = torch.ones(n, dtype=torch.bool, device=device)
        out_ret, out_len = ret.clone(), length.clone()
        st = torch.zeros(n, 2, obs.shape[-1], dtype=torch.float64, device=device) if obs_stats else None
        out_st = st.clone() if obs_stats else None
        action_shape = () if self.spec.action_kind == "discrete" else (-1,)
        step = compiled(advance) if self.spec.compile and not stateful else advance
        t, k = 0, n
        while max_steps is None or t < max_steps:
            if k == 0:
                break
            if k <= alive.numel() // 2 and alive.numel() >= self.compact_min:  # drop finished copies
                done = ~alive
                out_ret[slot[done]], out_len[slot[done]] = ret[done], length[done]
                keep = alive.nonzero().squeeze(1)
                if st is not None:
                    out_st[slot[done]] = st[done]
                    st = st[keep]
                slot, ret, length, obs, alive = slot[keep], ret[keep], length[keep], obs[keep], alive[keep]
                batch.select(keep)
                if stateful:  # the actor gathers its copies' weights and state itself
                    act = act.select(keep)
                    observe = getattr(act, "observe", None)
                else:
                    act = bind(rows.rows(members[(slot // E).cpu()]).to(device))
                group = 1
                step = advance  # compiled graphs have static shapes: a shrinking batch steps eagerly
                tuner.reset()  # the best thread count depends on the batch size
            if st is not None:  # each copy's own running sums: no reduction across copies here
                live = obs.double() * alive.unsqueeze(1)
                st[:, 0] += live
                st[:, 1] += live.square()
            if recorded is not None:
                recorded.append(obs[alive])
            with tuner.step():
                if split:
                    obs, alive, ret, length, k = yield from advance_split(
                        act, batch, obs, alive, ret, length, group, action_shape, observe
                    )
                else:
                    obs, alive, ret, length, k = step(act, batch, obs, alive, ret, length, group, action_shape, observe)
            k, t = int(k), t + 1
        out_ret[slot], out_len[slot] = ret, length
        if st is not None:
            out_st[slot] = st
        return out_ret.cpu(), out_len.cpu(), None if st is None else out_st.cpu()
