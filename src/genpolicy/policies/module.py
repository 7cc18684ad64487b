"""Any ``torch.nn.Module`` as a population policy: flat weights (M, D) run by functional_call + vmap.

The genome is ``parameters_to_vector(module.parameters())``; a population (M, D) is split into the
module's named parameters, each (M, *shape), and ``torch.vmap`` runs ``torch.func.functional_call``
over the members: observations (M, B, obs_dim) → outputs (M, B, out_dim) in one batched call. This is
the generic path; :class:`~genpolicy.policies.PopulationPolicy`'s fused MLP is a fast path for the
MLP, tested equal to it.

Module conventions (a module defines only what it needs):

* stateless: ``forward(obs (B, obs_dim)) -> out (B, out_dim)``;
* recurrent: ``initial_state(batch_size: int) -> tuple[Tensor, ...]`` (each (batch_size, …), zeros,
  e.g. an LSTM's (h, c)) and ``forward(obs, state) -> (out, new_state)``;
* online learner: a recurrent module that also defines ``learn(state, reward (B,), done (B,)) ->
  new_state``, called after every environment step with that step's reward and termination flag.
  What it learns (fast weights, traces) lives in the state, so it is kept per copy and compacted
  with the copies; ``forward`` may stash what ``learn`` needs (activations, the last action) there;
  ``learn`` may use the member's parameters (e.g. its learning rates).

Each method is written for one member (vmap adds the member dimension) and must use operations that
``torch.vmap`` supports: ``nn.LSTMCell`` does not (no batching rule for ``aten::lstm_cell``) — write the
cell with plain ops. The module acts in eval mode (no dropout, no batch statistics); its buffers
are constants, not genome.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from genpolicy.policies.heads import make_head
from genpolicy.policies.normalizer import RunningNorm

SIZE_NAMES = (("obs_dim", "in_dim"), ("action_dim", "out_dim"))  # keyword names a module factory may take


def build_module(
    module: nn.Module | Callable[..., nn.Module], obs_dim: int, out_dim: int, obs_shape: Sequence[int] = ()
) -> nn.Module:
    """``module`` itself, or ``module(**sizes)`` with whichever of obs_dim/in_dim and action_dim/out_dim
    (and obs_shape, for image frames) its signature takes (a class, or a Hydra ``_partial_`` of one)."""
    if isinstance(module, nn.Module):
        return module
    if not callable(module):
        raise TypeError(f"module must be an nn.Module or a callable that builds one, got {type(module).__name__}")
    try:
        accepted = {n for n, p in inspect.signature(module).parameters.items() if p.kind != p.POSITIONAL_ONLY}
    except (TypeError, ValueError):  # no signature (some builtins): call without sizes
        accepted = set()
    sizes = {
        name: value
        for names, value in zip(SIZE_NAMES, (obs_dim, out_dim), strict=True)
        for name in names
        if name in accepted
    }
    if obs_shape and "obs_shape" in accepted:
        sizes["obs_shape"] = tuple(obs_shape)
    built = module(**sizes)
    if not isinstance(built, nn.Module):
        raise TypeError(f"module factory {module!r} returned {type(built).__name__}, not an nn.Module")
    return built


@contextmanager
def _eval_mode(net: nn.Module) -> Iterator[None]:
    """``net`` in eval mode inside, every submodule's own mode back after (Lightning keeps its modules
    in train mode while fitting)."""
    modes = [(m, m.training) for m in net.modules()]
    if not any(training for _, training in modes):
        yield
        return
    net.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


class _Method(nn.Module):
    """Calls ``net.<name>(*args)`` in eval mode, so functional_call can swap net's parameters into any
    method."""

    def __init__(self, net: nn.Module, name: str) -> None:
        super().__init__()
        self.net, self.name = net, name

    def forward(self, *args: Any) -> Any:
        with _eval_mode(self.net):
            return getattr(self.net, self.name)(*args)


class ModulePolicy(nn.Module):
    """Normaliser + any module + action head, acting for P flat parameter vectors at once.

    ``module``: an nn.Module whose sizes fit the env, or a callable building one (see
    :func:`build_module`); its weights are only a template (layout + initial parameters).
    ``obs_shape``: (C, H, W) of image observations (env=atari), handed to a module factory that takes it;
    observations still arrive flat (…, C·H·W).
    ``vmap_chunk_size``: members per vectorised call (``torch.vmap``'s chunk_size; None: all at once).
    The normaliser's statistics are shared by all members and live in this module's buffers.
    """

    def __init__(
        self,
        obs_dim: int,
        action_kind: str,
        action_dim: int,
        action_low: Sequence[float] = (),
        action_high: Sequence[float] = (),
        *,
        module: nn.Module | Callable[..., nn.Module],
        obs_shape: Sequence[int] = (),
        action_mode: str | None = None,
        obs_norm: bool = True,
        vmap_chunk_size: int | None = None,
    ) -> None:
        super().__init__()
        self.head = make_head(action_kind, action_dim, action_low, action_high, action_mode)
        self.net = build_module(module, obs_dim, self.head.out_dim, obs_shape).requires_grad_(False)
        self.norm = RunningNorm(obs_dim, enabled=obs_norm)
        self.obs_dim, self.vmap_chunk_size = int(obs_dim), vmap_chunk_size
        self.recurrent = callable(getattr(self.net, "initial_state", None))
        self.learns = callable(getattr(self.net, "learn", None))
        self._layout = [(name, p.shape, p.numel()) for name, p in self.net.named_parameters()]
        if not self._layout:
            raise ValueError(f"module {type(self.net).__name__} has no parameters: nothing to search")
        if self.learns and not self.recurrent:
            raise ValueError(
                f"module {type(self.net).__name__} defines learn() but not initial_state(): "
                "what a copy learns is kept in its state"
            )
        self._validate()

    @property
    def num_params(self) -> int:
        return sum(numel for _, _, numel in self._layout)

    def initial_parameters(self) -> torch.Tensor:
        """The template's weights (D,) in ``parameters_to_vector`` order."""
        return nn.utils.parameters_to_vector(self.net.parameters()).detach().clone()

    def weights(self, params: torch.Tensor) -> dict[str, torch.Tensor]:
        """Flat params (M, D) → {"net.<name>": (M, *shape)}, the dict the vmapped calls swap in."""
        out, offset = {}, 0
        for name, shape, numel in self._layout:
            out["net." + name] = params[:, offset : offset + numel].reshape(-1, *shape).contiguous()
            offset += numel
        return out

    def vmapped(self, method: str = "forward") -> Callable:
        """``net.<method>`` over members: f(weights {name: (M, …)}, *args (M, …)) → outputs (M, …)."""
        call = _Method(self.net, method)

        def one(weights: dict[str, torch.Tensor], *args: Any) -> Any:
            return functional_call(call, weights, args)

        return torch.vmap(one, chunk_size=self.vmap_chunk_size)

    def initial_state(self, members: int, copies: int, like: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The module's zero state for members × copies: a tuple of (M, B, …) on ``like``'s device
        (floating tensors in ``like``'s dtype)."""
        n, state = members * copies, self.net.initial_state(members * copies)
        if not isinstance(state, tuple) or not all(
            isinstance(s, torch.Tensor) and s.dim() and len(s) == n for s in state
        ):
            raise ValueError(
                f"{type(self.net).__name__}.initial_state({n}) must return a tuple of tensors "
                f"({n}, …), got {state!r:.80}"
            )
        return tuple(
            s.to(device=like.device, dtype=like.dtype if s.is_floating_point() else s.dtype).reshape(
                members, copies, *s.shape[1:]
            )
            for s in state
        )

    def bind(
        self, params: torch.Tensor, generator: torch.Generator | None = None
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        """The actor for the members params (M, D): ``act(obs (M, B, obs_dim)) → actions (M, B[, act_dim])``;
        a recurrent module's actor keeps one state per copy (see :mod:`genpolicy.rollout.actors`)."""
        params = params.detach()
        if self.recurrent:
            return (LearningModuleActor if self.learns else RecurrentModuleActor)(self, params, generator)
        weights, forward, dtype = self.weights(params), self.vmapped(), params.dtype

        @torch.no_grad()
        def act(obs: torch.Tensor) -> torch.Tensor:
            return self.head(forward(weights, self.norm(obs.to(dtype))), generator)  # net: (M, B, out_dim)

        return act

    @torch.no_grad()
    def act(self, params: torch.Tensor, obs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One-off batched action: params (P, D), obs (P, B, obs_dim) (a recurrent module from its zero state)."""
        return self.bind(params, generator)(obs)

    @torch.no_grad()
    def _validate(self) -> None:
        """One vmapped call of every method on zero observations (1 member, 2 copies): the output's size
        must be the head's, a recurrent module must hand back a state shaped like the one it got."""
        params = self.initial_parameters()[None]  # (1, D) on the module's device
        name, obs = type(self.net).__name__, params.new_zeros(1, 2, self.obs_dim)
        weights = self.weights(params)
        state = self.initial_state(1, 2, obs) if self.recurrent else ()
        try:
            result = self.vmapped()(weights, obs, *((state,) if self.recurrent else ()))
        except Exception as err:  # noqa: BLE001 - any failure here is a module that cannot act
            raise ValueError(
                f"{name}.forward failed on observations (2, {self.obs_dim}) under torch.vmap: "
                f"{type(err).__name__}: {err}"
            ) from err
        if self.recurrent:
            if not (isinstance(result, tuple) and len(result) == 2):
                raise ValueError(f"{name} has initial_state(), so forward(obs, state) must return (out, new_state)")
            result, new_state = result
            self._check_state(state, new_state, f"{name}.forward")
            if self.learns:
                reward, done = params.new_zeros(1, 2), params.new_zeros(1, 2, dtype=torch.bool)
                self._check_state(state, self.vmapped("learn")(weights, state, reward, done), f"{name}.learn")
        expected = self.head.out_dim
        if not isinstance(result, torch.Tensor) or result.dim() != 3 or result.shape[-1] != expected:
            got = tuple(result.shape[2:]) if isinstance(result, torch.Tensor) else type(result).__name__
            raise ValueError(
                f"{name} outputs {got} per observation; the {self.head.kind} action head needs "
                f"{expected} (obs_dim={self.obs_dim}, head out_dim={expected})"
            )

    @staticmethod
    def _check_state(state: tuple, new: object, what: str) -> None:
        shapes = [tuple(s.shape) for s in state]
        got = [tuple(getattr(s, "shape", ())) for s in new] if isinstance(new, tuple) else type(new).__name__
        if got != shapes:
            raise ValueError(f"{what} must return a state shaped like initial_state's {shapes}, got {got}")


class RecurrentModuleActor:
    """One state per copy of members params (M, D) × B copies, made at the first step (B is known
    then: the loop binds once per episode); ``select`` gathers copies' weights and state together."""

    def __init__(self, policy: ModulePolicy, params: torch.Tensor, generator: torch.Generator | None) -> None:
        self.policy, self.generator, self.params = policy, generator, params  # (M, D)
        self.weights = policy.weights(params)
        self.forward = policy.vmapped()
        self.state: tuple[torch.Tensor, ...] | None = None  # each (M, B, …)

    @torch.no_grad()
    def __call__(self, obs: torch.Tensor) -> torch.Tensor:  # (M, B, obs_dim)
        if self.state is None:
            self.state = self.policy.initial_state(obs.shape[0], obs.shape[1], self.params)
        out, self.state = self.forward(self.weights, self.policy.norm(obs.to(self.params.dtype)), self.state)
        return self.policy.head(out, self.generator)  # out (M, B, out_dim)

    def select(self, keep: torch.Tensor) -> RecurrentModuleActor:
        """Keep the copies ``keep`` (k,) of the flat order m·B + b; act for (k, 1) observations."""
        if self.state is None:
            raise RuntimeError("select() before the first step: the actor does not know its copies yet")
        copies = self.state[0].shape[1]
        self.params = self.params[keep // copies]  # (k, D): one row per surviving copy
        self.weights = self.policy.weights(self.params)
        self.state = tuple(s.flatten(0, 1)[keep].unsqueeze(1) for s in self.state)  # (k, 1, …)
        return self


class LearningModuleActor(RecurrentModuleActor):
    """A recurrent actor whose module also ``learn``s from every step's reward and termination flag."""

    def __init__(self, policy: ModulePolicy, params: torch.Tensor, generator: torch.Generator | None) -> None:
        super().__init__(policy, params, generator)
        self.learn = policy.vmapped("learn")

    @torch.no_grad()
    def observe(self, reward: torch.Tensor, done: torch.Tensor, alive: torch.Tensor) -> None:
        """reward, done, alive (n,) over the current copies; only the alive copies' state changes."""
        M, B = self.state[0].shape[:2]
        new = self.learn(self.weights, self.state, reward.view(M, B).to(self.params.dtype), done.view(M, B))
        alive = alive.view(M, B)
        self.state = tuple(
            torch.where(alive.view(M, B, *(1,) * (s.dim() - 2)), n, s) for n, s in zip(new, self.state, strict=True)
        )
