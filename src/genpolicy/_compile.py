"""One place that turns a pure tensor function into its ``torch.compile`` version."""

from __future__ import annotations

import functools

import torch


@functools.cache
def compiled(fn):
    """``fn`` through ``torch.compile`` (inductor: fused C++ loops on a CPU, Triton on CUDA around the
    GEMMs), made once per function. Shapes are static: every caller here runs fixed shapes in its hot
    loop, and a dynamic-shape graph of the population step ran 15–20 % slower. Each new shape compiles
    once (seconds on a 2-core CPU; inductor keeps the result in its on-disk cache)."""
    return torch.compile(fn, dynamic=False)
