"""Process-wide settings a training run asks for, set by the entry point (``fit``) for the run and
restored afterwards: no LightningModule hook changes the process.

A method lists what it wants in ``process_settings``:

- ``"flush_denormal"``: subnormal floats (below 1.2e-38) become zero. Adam's moments of dead ReLU
  units decay geometrically into subnormals, and x86 cores take a microcode assist on every subnormal
  operand: a third of the big layers' moments were subnormal after 40k BipedalWalker TD3 steps, and
  Adam took a quarter of the run (measured).
- ``"keep_freed_memory"`` (glibc only): an actor–critic update allocates and frees the same few
  hundred-KB tensors thousands of times per second; by default glibc serves such blocks from fresh
  ``mmap`` pages and hands the top of the heap back to the OS, so every update pays page faults and
  zeroing again (an eager TD3 update 7.5 instead of 5.4 ms, measured). Raising glibc's mmap and trim
  thresholds keeps those blocks in the heap (the knob jemalloc/tcmalloc turn, which PyTorch recommends
  for CPU training). Restored to glibc's defaults afterwards (128 KiB each; glibc has no getter, and
  its adaptive mmap threshold stays fixed once set).
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch

SETTINGS = ("flush_denormal", "keep_freed_memory")
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
_GLIBC_DEFAULT = 128 * 1024


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    return libc if hasattr(libc, "gnu_get_libc_version") else None  # glibc, not musl


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 1 << 30) -> bool:
    """Serve blocks below ``mmap_threshold`` bytes from the heap and return its top to the OS only
    above ``trim_threshold`` bytes free; True if the C library took both (glibc on Linux), False
    where there is no glibc."""
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, int(trim_threshold))
    )


def flushes_denormals() -> bool:
    """Whether this thread flushes subnormal floats to zero now (torch has a setter, no getter)."""
    tiny = torch.tensor(1e-39, dtype=torch.float32)  # a subnormal float32
    return bool((tiny * 1.0).item() == 0.0)


@contextmanager
def process_settings(wanted: Iterable[str]) -> Iterator[None]:
    """Set the ``wanted`` settings (names in :data:`SETTINGS`) for the body, then restore them."""
    wanted = set(wanted)
    unknown = wanted - set(SETTINGS)
    if unknown:
        raise ValueError(f"unknown process settings {sorted(unknown)}; known: {', '.join(SETTINGS)}")
    flushed = flushes_denormals()
    kept = False
    try:
        if "flush_denormal" in wanted:
            torch.set_flush_denormal(True)  # inherited by the threads torch starts later
        if "keep_freed_memory" in wanted:
            kept = keep_freed_memory()
        yield
    finally:
        torch.set_flush_denormal(flushed)
        if kept:
            keep_freed_memory(_GLIBC_DEFAULT, _GLIBC_DEFAULT)
