"""The DDPG/TD3 update written the textbook way — autograd and ``torch.optim`` — as Stable-Baselines3
and CleanRL write it (``method.update=autograd``). It is the reference that the hand-fused update
(td3_math.py, ``update=fused``) and its compiled form (``update=compiled``) are tested against.
Fujimoto et al. 2018, arXiv:1802.09477; Lillicrap et al. 2015, arXiv:1509.02971."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from genpolicy.methods.td3 import TD3Module


def autograd_update(
    m: TD3Module,
    b: dict[str, torch.Tensor],
    actor_opt: torch.optim.Optimizer,
    critic_opt: torch.optim.Optimizer,
    eps: torch.Tensor | None,
    actor_too: bool,
    average_grads: Callable[[nn.Module], None] = lambda net: None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """One update of the TD3Module ``m`` on the minibatch ``b``: the critics' step, then (``actor_too``,
    every ``policy_delay``-th update) the actor's step and the Polyak step of both targets. ``eps`` is
    the target-policy smoothing noise (None: DDPG); ``average_grads`` averages a net's gradients over
    DDP ranks before its step. → (critic loss, mean Q_1, actor loss or None), detached."""
    obs, action = b["obs"], b["action"]
    with torch.no_grad():  # the TD target: y = r + γ·(1 − terminated)·min_i Q'_i(s', ã')
        next_action = m.act(b["next_obs"], m.actor_target)
        if eps is not None:  # smoothing: ã' = clip(π'(s') + ε, low, high)
            next_action = torch.maximum(torch.minimum(next_action + eps, m.high), m.low)
        next_q = m.critic_target(b["next_obs"], next_action).min(0).values
        y = b["reward"] + m.gamma * (1 - b["terminated"]) * next_q

    q = m.critic(obs, action)  # (critics, B)
    critic_loss = (q - y).square().mean(1).sum()  # Σ_i MSE(Q_i(s, a), y)
    critic_opt.zero_grad()
    critic_loss.backward()
    average_grads(m.critic)
    critic_opt.step()

    actor_loss = None
    if actor_too:
        actor_loss = -m.critic.first(obs, m.act(obs)).mean()  # ascend Q_1(s, π(s))
        actor_opt.zero_grad()
        actor_loss.backward()
        average_grads(m.actor)
        actor_opt.step()
        with torch.no_grad():  # θ' ← (1 − τ)·θ' + τ·θ
            for net, target in ((m.actor, m.actor_target), (m.critic, m.critic_target)):
                torch._foreach_lerp_(list(target.parameters()), list(net.parameters()), m.tau)
    return critic_loss.detach(), q[0].mean().detach(), None if actor_loss is None else actor_loss.detach()
