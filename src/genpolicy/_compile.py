"""One place that turns a pure tensor function into its ``torch.compile`` version."""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable

_probe: threading.Thread | None = None


def prepare() -> None:
    """Start inductor's one-time CPU checks in a background thread. Before its first compilation in a
    process, inductor builds a probe library for every vector ISA the CPU lists and loads each in a
    child process (~1 s on a 2-core CPU, measured): the thread mostly waits on those children, so the
    checks overlap whatever the caller does next (an off-policy warm-up, a first test). The first
    :func:`compiled` waits for them."""
    global _probe
    if _probe is None:
        from torch._inductor import cpu_vec_isa

        _probe = threading.Thread(target=cpu_vec_isa.valid_vec_isa_list, name="inductor-isa-probe", daemon=True)
        _probe.start()


@functools.cache
def compiled(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` through ``torch.compile`` (inductor: fused C++ loops on a CPU, Triton on CUDA around the
    GEMMs), made once per function. Shapes are static: every caller here runs fixed shapes in its hot
    loop, and a dynamic-shape graph of the population step ran 15–20 % slower. Each new shape compiles
    once (seconds on a 2-core CPU; inductor keeps the result in its on-disk cache)."""
    if _probe is not None:
        _probe.join()  # never two probes at once
    return torch.compile(fn, dynamic=False)


def can_compile(device: torch.device | str = "cpu") -> bool:
    """Whether ``torch.compile`` can build kernels for ``device`` here: a C++ compiler for the CPU,
    Triton for CUDA."""
    import importlib.util
    import os
    import shutil

    if torch.device(device).type == "cuda":
        return importlib.util.find_spec("triton") is not None
    return any(shutil.which(c) for c in (os.environ.get("CXX", "g++"), "g++", "clang++"))


_by_key: dict = {}


def compiled_key(key: Hashable, fn: Callable[..., Any]) -> Callable[..., Any]:
    """:func:`compiled` for closures: one compilation per ``key`` (hashable), whichever closure
    object stands for it (a policy rebuilds its step functions for every batch it binds)."""
    if key not in _by_key:
        _by_key[key] = compiled(fn)
    return _by_key[key]
