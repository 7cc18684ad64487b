"""The native CPU kernel of the MetaRL rule (nets/metarl_kernel.c): learn_layered and act_layered of
:mod:`genpolicy.nets.learning_rule_fast` written out in C, so that each copy's step runs from start to
end in registers and L1 and its state is read once and written once.

The C file is built on first use with the system C compiler (``$CC``, else ``cc`` / ``gcc`` / ``clang``;
the one torch.compile needs as well), for this CPU (``-march=native``) and the rule's state and
signal sizes, and cached under ``$GENPOLICY_CACHE`` (default ``~/.cache/genpolicy``), keyed by the
source, the flags and the CPU, so a shared home directory never hands one machine another's build.
It is loaded with ctypes (no torch headers, about a second to build). It runs on
``torch.get_num_threads()`` threads of torch's own OpenMP pool (the kernel links the libgomp.so.1 torch
has loaded): Python threads of its own would compete with torch's spinning pool threads for the cores
(measured 1.7× slower in the episode loop on 2 cores). Where it cannot be built with OpenMP it is built
without, and the copies are split over Python threads (a call releases the GIL). Each copy's lanes are
computed alone: results do not depend on the number of threads or on the batch.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from genpolicy.nets.learning_rule import NODE_INFO, RuleLayout

if TYPE_CHECKING:
    from collections.abc import Callable

SOURCE = Path(__file__).with_name("metarl_kernel.c")
FLAGS = ("-O3", "-march=native", "-fopenmp-simd", "-fPIC", "-shared", "-fno-math-errno", "-std=c11")
OPENMP = "-fopenmp"
_lock = threading.Lock()
_libs: dict[tuple[int, int], ctypes.CDLL] = {}


def compiler() -> str | None:
    """The C compiler the kernel is built with, or None."""
    for c in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if c and shutil.which(c):
            return c
    return None


def _cpu_id() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            lines = [line for line in f if line.startswith(("model name", "flags"))][:2]
    except OSError:
        lines = []
    return platform.machine() + "".join(lines)


def _cache_dir() -> Path:
    return Path(os.environ.get("GENPOLICY_CACHE", Path.home() / ".cache" / "genpolicy")) / "kernels"


def library(state_dim: int, signal_dim: int) -> ctypes.CDLL:
    """The kernel built for these cell sizes (built once per machine, then loaded from the cache)."""
    key = (int(state_dim), int(signal_dim))
    with _lock:
        if key in _libs:
            return _libs[key]
        cc = compiler()
        if cc is None:
            raise RuntimeError("policy.kernel=native needs a C compiler (set $CC, or use kernel=compiled|eager)")
        errors = []
        for omp in (OPENMP, None):  # with OpenMP where the compiler has it
            flags = (*FLAGS, *([omp] if omp else []), f"-DSTATE_DIM={key[0]}", f"-DSIGNAL_DIM={key[1]}")
            try:
                lib = ctypes.CDLL(str(_build(cc, flags)))
                break
            except (RuntimeError, OSError) as e:
                errors.append(str(e))
        else:
            raise RuntimeError("\n".join(errors))
        i64, i32, f32, ptr = ctypes.c_int64, ctypes.c_int, ctypes.c_float, ctypes.c_void_p
        lib.metarl_limits.argtypes, lib.metarl_limits.restype = [ptr], i32
        lib.metarl_act.argtypes = [i32, i64, i64, i64, i32, ptr, *[ptr] * 8]
        lib.metarl_act.restype = None
        lib.metarl_learn.argtypes = [i32, i64, i64, i64, i32, ptr, f32, f32, f32, *[ptr] * 13, i64]
        lib.metarl_learn.restype = i32
        _libs[key] = lib
        return lib


def _build(cc: str, flags: tuple[str, ...]) -> Path:
    """The shared library for these flags: from the cache, or built aside and moved in whole."""
    digest = hashlib.sha256(SOURCE.read_bytes() + " ".join((cc, *flags)).encode() + _cpu_id().encode())
    path = _cache_dir() / f"metarl_{digest.hexdigest()[:20]}.so"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            built = Path(tmp) / path.name
            run = subprocess.run([cc, *flags, str(SOURCE), "-o", str(built)], capture_output=True, text=True)
            if run.returncode != 0:
                raise RuntimeError(f"building the MetaRL kernel with {cc} failed:\n{run.stderr.strip()}")
            os.replace(built, path)
    return path


def limits(lib: ctypes.CDLL) -> dict[str, int]:
    out = (ctypes.c_int * 6)()
    lanes = lib.metarl_limits(out)
    keys = ("state", "signal", "width", "layers", "neurons", "openmp")
    return {"lanes": lanes, **dict(zip(keys, out, strict=True))}


def fits(sizes: list[int], layout: RuleLayout) -> str | None:
    """Why the kernel cannot run this actor (None: it can)."""
    if len(sizes) - 1 > 8:
        return f"at most 8 layers, the actor has {len(sizes) - 1}"
    if max(sizes) > 64:
        return f"layers of at most 64 units, the actor has {max(sizes)}"
    if sum(sizes[1:]) > 256:
        return f"at most 256 neurons, the actor has {sum(sizes[1:])}"
    if layout.state_dim > 64 or layout.signal_dim > 16:
        return "state_dim ≤ 64 and signal_dim ≤ 16"
    return None


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def block(t: Tensor, lanes: int) -> Tensor:
    """A copy-minor (…, B) tensor in the kernel's blocked layout (⌈B / lanes⌉, rows, lanes), padded with
    zeros (see metarl_kernel.c)."""
    b = t.shape[-1]
    flat = t.reshape(-1, b).float()
    nb = -(-b // lanes)
    padded = torch.nn.functional.pad(flat, (0, nb * lanes - b))
    return padded.view(-1, nb, lanes).transpose(0, 1).contiguous()


def unblock(t: Tensor, copies: int, shape: tuple[int, ...]) -> Tensor:
    """The inverse of :func:`block`: (nb, rows, lanes) → copy-minor (*shape, copies)."""
    return t.transpose(0, 1).reshape(t.shape[1], -1)[:, :copies].reshape(*shape, copies)


class NativeRule:
    """The act and (in-place) learn step of one actor shape, on float32 copy-minor CPU tensors."""

    def __init__(
        self, sizes: list[int], layout: RuleLayout, lr: float, weight_limit: float, sigma_limit: float
    ) -> None:
        why = fits(sizes, layout)
        if why is not None:
            raise ValueError(f"policy.kernel=native: {why}; use kernel=compiled or eager")
        self.lib = library(layout.state_dim, layout.signal_dim)
        info = limits(self.lib)
        self.lanes, self.openmp = info["lanes"], bool(info["openmp"])
        self.layout, self.sizes = layout, list(sizes)
        self._sizes = (ctypes.c_int * len(sizes))(*sizes)
        self.L = len(sizes) - 1
        self.lr, self.wl, self.sl = float(lr), float(weight_limit), float(sigma_limit)
        self.scratch_floats = (layout.num_params + NODE_INFO * sum(sizes[1:])) * self.lanes
        self._pool: ThreadPoolExecutor | None = None

    def _ranges(self, b: int) -> list[tuple[int, int]]:
        """Contiguous ranges of blocks, one per thread (fewer for small batches)."""
        blocks = -(-b // self.lanes)
        n = max(1, min(torch.get_num_threads(), blocks))
        per = -(-blocks // n)
        return [(lo, min(blocks, lo + per)) for lo in range(0, blocks, per)]

    def _run(self, fn: Callable[..., int | None], b: int, args: tuple) -> None:
        """fn(threads, B, lo, hi, *args) over all blocks: on OpenMP threads, else on Python threads."""
        blocks = -(-b // self.lanes)
        if self.openmp or torch.get_num_threads() == 1:
            failed = fn(max(1, torch.get_num_threads()), b, 0, blocks, *args)
        else:
            ranges = self._ranges(b)
            if self._pool is None or self._pool._max_workers < len(ranges):
                self._pool = ThreadPoolExecutor(len(ranges), thread_name_prefix="metarl")
            failed = any(f.result() for f in [self._pool.submit(fn, 1, b, lo, hi, *args) for lo, hi in ranges])
        if failed:
            raise MemoryError("the native MetaRL kernel could not allocate its scratch memory")

    def act(self, weights: Tensor, biases: Tensor, sigmas: Tensor, obs: Tensor, eps: Tensor) -> tuple[Tensor, ...]:
        """act_layered on blocked weights, biases, sigmas and copy-minor obs (obs_dim, B), eps (N', B):
        (s, sample, out), each copy-minor (N', B)."""
        b = obs.shape[-1]
        s, sample, out = (obs.new_empty(eps.shape) for _ in range(3))
        held = [t.contiguous() for t in (weights, biases, sigmas, obs, eps)]  # alive during the call
        ins = [_ptr(t) for t in held]
        outs = [_ptr(t) for t in (s, sample, out)]
        self._run(self.lib.metarl_act, b, (self.L, self._sizes, *ins, *outs))
        return s, sample, out

    def learn(
        self,
        genome: Tensor,
        state: list[Tensor],
        obs: Tensor,
        s: Tensor,
        sample: Tensor,
        out: Tensor,
        reward: Tensor,
        keep: Tensor | None = None,
    ) -> None:
        """learn_layered, in place on the blocked ``genome`` and ``state`` [weights, biases, sigmas,
        reward_state, node_state, edge_state], from the copy-minor obs, s, sample, out and reward (B,);
        copies with ``keep`` False are left unchanged."""
        b = obs.shape[-1]
        for t in (genome, *state, obs, s, sample, out):
            if t.dtype != torch.float32 or not t.is_contiguous() or t.device.type != "cpu":
                raise ValueError("the native MetaRL kernel takes contiguous float32 CPU tensors")
        reward = reward.to(torch.float32).contiguous()
        keep = None if keep is None else keep.to(torch.uint8).contiguous()
        ptrs = [_ptr(t) for t in (genome, *state, obs, s, sample, out, reward, keep)]
        settings = (self.L, self._sizes, self.lr, self.wl, self.sl)
        self._run(self.lib.metarl_learn, b, (*settings, *ptrs, self.scratch_floats))


@functools.cache
def native_rule(
    sizes: tuple[int, ...], state_dim: int, signal_dim: int, lr: float, weight_limit: float, sigma_limit: float
) -> NativeRule:
    """One :class:`NativeRule` per actor shape and rule settings in a process."""
    return NativeRule(list(sizes), RuleLayout(state_dim, signal_dim), lr, weight_limit, sigma_limit)
