"""Process workers for CPU-bound simulators (Box2D, pybullet): one process per core, many envs each.

gymnasium's AsyncVectorEnv starts one process per sub-env — 65 processes for a population of 64 on a
2-core machine. Here W workers (default: one per core) each own a contiguous slice of the copies and
step only the live ones they are sent; the batched policy stays in the main process. Every wait
watches the workers' pipes *and* their process sentinels, so a worker that dies (segfault, OOM kill)
or raises is reported at once and the generation fails with :class:`WorkerError` — no hang, no
silently wrong fitness. The pool is unusable after an error; close it.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from multiprocessing.connection import wait
from typing import TYPE_CHECKING, NoReturn

import numpy as np
import torch

from genpolicy.envs.registry import EnvSpec
from genpolicy.envs.worker import serve_envs
from genpolicy.rollout.batches import step_tensors

if TYPE_CHECKING:
    from collections.abc import Iterable

    from genpolicy.rollout.batches import StepTensors


class WorkerError(RuntimeError):
    """An environment worker died, raised, or did not answer in time."""


class ProcessBatch:
    """The batch interface of :mod:`genpolicy.rollout.batches` over worker processes."""

    def __init__(
        self, spec: EnvSpec, n: int, device: torch.device, workers: int | None = None, timeout_s: float = 600.0
    ) -> None:
        self.spec, self.n, self.device, self.timeout_s = spec, int(n), device, float(timeout_s)
        w = max(1, min(int(workers or os.cpu_count() or 1), self.n))
        bounds = np.linspace(0, self.n, w + 1).astype(int)
        self.ranges = list(zip(bounds[:-1], bounds[1:], strict=True))
        self.owner = np.repeat(np.arange(w), np.diff(bounds))  # copy → worker
        self.local = np.arange(self.n) - bounds[:-1][self.owner]  # copy → index inside its worker
        ctx = mp.get_context("spawn")  # no fork of a process that holds torch threads
        self.conns, self.procs, self.broken = [], [], None
        for lo, hi in self.ranges:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=serve_envs, args=(spec, hi - lo, child), daemon=True)
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)
        self._gather(range(w), "start")
        self.idx = np.arange(self.n)
        self._obs = np.zeros((self.n, spec.obs_dim), dtype=np.float32)

    def _fail(self, message: str) -> NoReturn:
        self.broken = message
        self.close()
        raise WorkerError(message)

    def _check(self) -> None:
        if self.broken:
            raise WorkerError(f"env worker pool is broken by an earlier failure: {self.broken}")

    def _gather(self, workers: Iterable[int], what: str) -> dict:
        """Wait for one reply from each worker in ``workers``; raise on death, error or timeout."""
        self._check()
        pending = {self.conns[w]: w for w in workers}
        sentinels = {self.procs[w].sentinel: w for w in workers}
        replies = {}
        while pending:
            ready = wait(list(pending) + list(sentinels), timeout=self.timeout_s)
            if not ready:
                self._fail(
                    f"env workers {sorted(pending.values())} ({self.spec.id}) did not answer within "
                    f"{self.timeout_s:.0f} s during {what}; the generation is aborted"
                )
            for obj in ready:
                if obj in pending:
                    w = pending.pop(obj)
                    try:
                        status, payload = obj.recv()
                    except (EOFError, OSError):
                        status, payload = "dead", None
                    if status == "ok":
                        replies[w] = payload
                        sentinels.pop(self.procs[w].sentinel, None)
                        continue
                    if status == "error":
                        lo, hi = self.ranges[w]
                        self._fail(
                            f"env worker {w} (copies {lo}–{hi - 1} of {self.spec.id}) raised during "
                            f"{what}; the generation is aborted:\n{payload}"
                        )
                    obj = self.procs[w].sentinel
                if obj in sentinels:
                    w = sentinels[obj]
                    self.procs[w].join(1)
                    lo, hi = self.ranges[w]
                    self._fail(
                        f"env worker {w} (copies {lo}–{hi - 1} of {self.spec.id}) died with exit code "
                        f"{self.procs[w].exitcode} during {what}; the generation is aborted"
                    )
        return replies

    def reset(self, seeds: torch.Tensor) -> torch.Tensor:
        """Start the first ``len(seeds)`` copies (a pool serves any batch up to its size)."""
        self._check()
        s = seeds.cpu().numpy()
        m = len(s)
        if m > self.n:
            raise ValueError(f"this worker pool holds {self.n} copies, {m} requested")
        self.idx = np.arange(m)
        asked = [w for w, (lo, _) in enumerate(self.ranges) if lo < m]
        for w in asked:
            lo, hi = self.ranges[w]
            self.conns[w].send(("reset", s[lo : min(hi, m)]))
        for w, obs in self._gather(asked, "reset").items():
            lo = self.ranges[w][0]
            self._obs[lo : lo + len(obs)] = obs
        return torch.as_tensor(self._obs[:m].copy(), device=self.device)

    def step(self, actions: torch.Tensor, alive: torch.Tensor) -> StepTensors:
        self._check()
        a = actions.cpu().numpy()
        k = len(self.idx)
        slots = np.flatnonzero(alive.cpu().numpy())
        copies = self.idx[slots]
        busy = []
        for w in range(len(self.ranges)):
            mine = self.owner[copies] == w
            if mine.any():
                acts = a[slots[mine]]
                self.conns[w].send(("step", (self.local[copies[mine]], acts.tolist() if acts.ndim == 1 else acts)))
                busy.append((w, slots[mine]))
        replies = self._gather([w for w, _ in busy], "step")
        obs = self._obs[self.idx]
        reward, terminated, truncated = np.zeros(k), np.zeros(k, dtype=bool), np.zeros(k, dtype=bool)
        for w, mine in busy:
            o, r, te, tr = replies[w]
            obs[mine], reward[mine], terminated[mine], truncated[mine] = o, r, te, tr
        self._obs[self.idx] = obs
        return step_tensors(obs, reward, terminated, truncated, self.device)

    def select(self, keep: torch.Tensor) -> None:
        self.idx = self.idx[keep.cpu().numpy()]

    def close(self) -> None:
        for conn, proc in zip(self.conns, self.procs, strict=True):
            if proc.is_alive():
                try:
                    conn.send(("close", None))
                except (BrokenPipeError, OSError):
                    pass
        for proc in self.procs:
            proc.join(2)
            if proc.is_alive():
                proc.kill()
                proc.join(1)
        for conn in self.conns:
            conn.close()
        self.procs, self.conns = [], []
