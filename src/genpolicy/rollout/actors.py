"""What the episode loop asks of an actor: the callable that a policy's ``bind(params (M, D))`` returns.

An actor maps observations (M, group, obs_dim) → actions (M, group[, act_dim]); copy ``m·group + g``
of the loop's flat copy order is member m's g-th episode (group = episodes per member at first).

A **stateless** actor (the hand-fused MLP of :class:`~genpolicy.policies.PopulationPolicy`) is a
plain function. When the loop compacts, it binds again from the surviving copies' own rows, one copy
per member row (group 1), and its step can be ``torch.compile``d.

A **stateful** actor carries something per copy — a recurrent policy's hidden state, an online
learner's weights — and additionally has

* ``select(keep) -> actor``: keep only the copies ``keep`` (int64 (k,), indices into the current flat
  copies, on the loop's device), gathering their weights and state together; the returned actor
  (it may be ``self``) acts for observations (k, 1, obs_dim) from then on. The loop calls it
  instead of binding again, so nothing a copy carries is lost. State is made when the actor is
  bound: every copy plays exactly one episode, so that is "zeroed at episode start".
* ``start(seeds)`` (optional): the copies' reset seeds (n,) int64, once, after binding and before
  the first step. An actor that draws random state per copy (an online learner's initial weights,
  its noise) draws it from these, so a copy's episode does not depend on how copies are batched.
* ``observe(reward, done, alive)`` (optional): called after every environment step with (n,)
  tensors over the current copies — ``reward`` float64, ``done`` = terminated | truncated of this
  step, ``alive`` = the copies that played this step (a copy ending now is alive with done True).
  Entries of copies that are not alive are meaningless: the actor must leave those copies as they
  are. An actor with ``observe`` must have ``select``, or compaction would throw away what it learned.

Stateful actors step eagerly (their state changes in Python between steps).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


class Actor(Protocol):
    def __call__(self, obs: torch.Tensor) -> torch.Tensor:
        """obs (M, group, obs_dim) → actions (M, group[, act_dim])."""


@runtime_checkable
class StatefulActor(Actor, Protocol):
    def select(self, keep: torch.Tensor) -> StatefulActor:
        """Keep the copies ``keep`` (k,) of the current flat order; → the actor for (k, 1) observations."""


@runtime_checkable
class LearningActor(StatefulActor, Protocol):
    def observe(self, reward: torch.Tensor, done: torch.Tensor, alive: torch.Tensor) -> None:
        """Every step's reward (n,) float64, done (n,) bool and alive (n,) bool of the current copies."""


def is_stateful(act: Actor) -> bool:
    """Whether ``act`` carries per-copy state (has ``select``); refuses ``observe`` without ``select``."""
    if hasattr(act, "select"):
        return True
    if hasattr(act, "observe"):
        raise TypeError(
            f"{type(act).__name__} has observe() but no select(): compaction would bind it again "
            "and lose what each copy learned (see genpolicy.rollout.actors)"
        )
    return False
