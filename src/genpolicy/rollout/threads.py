"""Intra-op threads that follow the work.

A per-step policy call on a small batch is latency-bound: extra torch threads only add
synchronisation, and when another process holds a core, a second thread waits for it on every call
(measured 4–5× slower per step on a busy 2-core machine). A large batch gains from the cores this
process owns (1.7× for a 1024-member 64-64 MLP on two quiet cores). Which wins depends on the
batch and on what else runs on the machine, so the loop measures it: :class:`ThreadTuner` times a few
steps with one thread and with the process's budget, keeps the faster, and measures again every so
often and whenever the batch changes shape.

The budget is ``torch.get_num_threads()`` as the entry point set it (``fit`` splits the cores of a
machine between the DDP ranks it runs: :func:`cores_per_process`).
"""

from __future__ import annotations

import os
import statistics
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from collections.abc import Iterator


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def cores_per_process(processes_on_this_machine: int) -> int:
    """Intra-op threads for each of ``processes_on_this_machine`` processes sharing this machine's cores."""
    return max(1, available_cores() // max(1, int(processes_on_this_machine)))


@contextmanager
def torch_threads(n: int | None = None) -> Iterator[None]:
    """Run the block with ``n`` intra-op threads (None: as now); the count before is restored afterwards,
    whatever the block set."""
    before = torch.get_num_threads()
    if n is not None:
        _set_threads(n)
    try:
        yield
    finally:
        _set_threads(before)


class ThreadTuner:
    """Chooses the thread count of each loop step among ``options`` by timing them.

    Probing: each option runs ``probe_steps`` steps (after one untimed warm-up step, which may
    compile); the option with the lowest median step time is kept for ``reprobe_every`` steps, then
    they are measured again. :meth:`reset` (the batch changed shape) starts a new probe. A larger
    count must beat one thread by ``margin`` to be chosen.
    """

    def __init__(
        self, options: list[int], probe_steps: int = 5, reprobe_every: int = 500, margin: float = 0.25
    ) -> None:
        self.options = sorted(set(max(1, int(o)) for o in options))
        self.probe_steps, self.reprobe_every, self.margin = int(probe_steps), int(reprobe_every), float(margin)
        self.chosen = self.options[0]
        self.reset()

    def reset(self) -> None:
        self._times: dict[int, list[float]] = {o: [] for o in self.options}
        self._warm = False
        self._since = 0
        self._probing = len(self.options) > 1

    def _next(self) -> int:
        if not self._probing:
            return self.chosen
        for option in self.options:
            if len(self._times[option]) < self.probe_steps:
                return option
        medians = {o: statistics.median(t) for o, t in self._times.items()}
        best = min(medians, key=medians.get)
        one = medians[self.options[0]]
        self.chosen = best if medians[best] < (1 - self.margin) * one else self.options[0]
        self._probing, self._since = False, 0
        return self.chosen

    @contextmanager
    def step(self) -> Iterator[None]:
        """Run one loop step under the chosen (or probed) thread count; the count is left set, so run
        the loop inside :func:`torch_threads` to restore it."""
        if not self._warm:  # the first step of a batch may compile or allocate: not timed
            self._warm = True
            _set_threads(self.chosen)
            yield
            return
        n = self._next()
        _set_threads(n)
        start = time.perf_counter()
        yield
        if self._probing:
            self._times[n].append(time.perf_counter() - start)
        else:
            self._since += 1
            if self._since >= self.reprobe_every:
                self._times = {o: [] for o in self.options}
                self._probing = len(self.options) > 1


def _set_threads(n: int) -> None:
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
