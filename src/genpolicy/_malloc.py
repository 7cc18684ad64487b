"""Keep freed heap memory for reuse in a training process (glibc only).

An actor–critic update allocates and frees the same few hundred-KB tensors thousands of times per
second. By default glibc serves such blocks from fresh ``mmap`` pages (above its adaptive mmap
threshold) and hands the top of the heap back to the OS, so every update pays page faults and page
zeroing again: an eager bf16 TD3 critic pass with the actor's pass batched in took 4.5–5.0 ms
instead of 2.6–3.1 ms, a whole eager TD3 update 7.5 instead of 5.4 ms (measured). Raising both
thresholds keeps those blocks in the heap (the same knob as jemalloc/tcmalloc, which PyTorch
recommends for CPU training).
"""

from __future__ import annotations

import ctypes
import sys

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 1 << 30) -> bool:
    """Serve blocks below ``mmap_threshold`` bytes from the heap and return its top to the OS only
    above ``trim_threshold`` bytes free; True if the C library took both (glibc on Linux), False
    where there is no glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return False
    if not hasattr(libc, "gnu_get_libc_version"):  # glibc, not musl
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, int(trim_threshold))
    )
