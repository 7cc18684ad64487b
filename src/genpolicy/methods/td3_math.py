"""The DDPG/TD3 update as pure tensor functions over the networks' batched copies (nets/fused.py):
the critic's and the actor's gradients, and the whole update — passes, Adam steps (nets/adam.py),
Polyak — that ``method.update=compiled`` compiles as one graph. Fujimoto et al. 2018, arXiv:1802.09477;
Lillicrap et al. 2015, arXiv:1509.02971. The LightningModule around them is methods/td3.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from genpolicy.nets import adam, fused

if TYPE_CHECKING:
    from genpolicy.policies.heads import BoxHead


def critic_grads(
    head: BoxHead,
    nets: dict[str, fused.Stack],
    b: dict,
    gamma: float,
    eps: torch.Tensor | None = None,
    actor_too: bool = False,
) -> tuple[fused.LayerGrads, torch.Tensor, torch.Tensor, tuple[torch.Tensor, fused.Tape] | None]:
    """The critic's gradients for one minibatch: y = r + γ·(1 − terminated)·min_i Q'_i(s', ã') with
    ã' = π'(s') (+ ``eps``, clipped to the box: target-policy smoothing), loss Σ_i mean (Q_i(s, a) − y)²
    → (per-layer gradients, loss, mean Q_1, the actor's recorded pass π(s) for :func:`actor_grads` or None).

    Independent passes share their GEMMs: the critics on (s, a) run in one batched product per layer with
    their targets on (s', ã') (the stack ``nets["critics"]``), and with ``actor_too`` the actor on s with
    its target on s' (``nets["actors"]``); on a 2-core CPU a batch of two matrices costs about what one
    does. A pure tensor function (``update=compiled`` compiles it)."""
    obs, next_obs = b["obs"], b["next_obs"]
    actor_pass = None
    if actor_too:
        tape = fused.Tape()
        out = fused.forward(nets["actors"], torch.stack([obs, next_obs]), tape)
        actor_pass, next_out = (out[0], tape.part(0, 1)), out[1]
    else:
        next_out = fused.forward(nets["actor_target"], next_obs[None])[0]
    next_action = head(next_out)
    if eps is not None:
        low, high = head.low.to(next_action.device), head.high.to(next_action.device)
        next_action = torch.maximum(torch.minimum(next_action + eps, high), low)
    n = nets["critic"].weights[0].shape[0]
    x = torch.stack([torch.cat([obs, b["action"]], -1), torch.cat([next_obs, next_action], -1)])
    tape = fused.Tape()
    qs = fused.forward(nets["critics"], x.repeat_interleave(n, 0), tape)[
        ..., 0
    ]  # (2n, B): Q_i(s, a), then Q'_i(s', ã')
    q = qs[:n]
    y = b["reward"] + gamma * (1.0 - b["terminated"]) * qs[n:].min(0).values  # (B,)
    err = q - y
    grads, _ = fused.backward(nets["critic"], tape.part(0, n), (2 / y.shape[0]) * err[..., None])
    return grads, err.square().mean(1).sum(), q[0].mean(), actor_pass


def actor_grads(
    head: BoxHead,
    actor: fused.Stack,
    critic: fused.Stack,
    obs: torch.Tensor,
    actor_pass: tuple[torch.Tensor, fused.Tape],
) -> tuple[fused.LayerGrads, torch.Tensor]:
    """The actor's gradients for ascending Q_1(s, π(s)), from its recorded pass ``actor_pass`` (output
    before the head, tape): the chain rule through the critic's input into the actor → (per-layer
    gradients, actor loss −mean Q_1). A pure tensor function."""
    out, actor_tape = actor_pass  # (B, action_dim) before the head
    tape = fused.Tape()
    q = fused.forward(critic, torch.cat([obs, head(out)], -1)[None], tape)[0, :, 0]
    _, d_input = fused.backward(
        critic, tape, torch.full_like(q, -1 / q.shape[0])[None, :, None], weight_grads=False, input_grad=True
    )
    d_out = head.backward(out, d_input[0, :, obs.shape[-1] :])
    grads, _ = fused.backward(actor, actor_tape, d_out[None])
    return grads, -q.mean()


def roles(actors: fused.Stack, critics: fused.Stack) -> dict[str, fused.Stack]:
    """The networks as views of the two stacks [actor, actor_target] and [critics…, critic targets…]."""
    n = critics.weights[0].shape[0] // 2
    return {
        "actors": actors,
        "critics": critics,
        "actor": actors.part(0, 1),
        "actor_target": actors.part(1, 2),
        "critic": critics.part(0, n),
        "critic_target": critics.part(n, 2 * n),
    }


def accumulate_(
    sums: torch.Tensor, critic_loss: torch.Tensor, q_mean: torch.Tensor, actor_loss: torch.Tensor | None
) -> None:
    """Add one update's (critic loss, mean Q_1, actor loss) to a round's running sums (3,)."""
    sums.add_(torch.stack([critic_loss, q_mean, torch.zeros_like(q_mean) if actor_loss is None else actor_loss]))


def whole_update(
    head: BoxHead,
    nets: dict[str, fused.Stack],
    groups: dict[str, dict],
    b: dict,
    gamma: float,
    tau: float,
    eps: torch.Tensor | None,
    actor_too: bool,
    sums: torch.Tensor,
    acting_obs: torch.Tensor | None = None,
) -> torch.Tensor | None:
    """One whole update, in place, as one function for ``torch.compile`` (``update=compiled``): the critic's
    gradients and Adam step, then (``actor_too``) the actor's against the updated critic and the Polyak
    step of both targets; the losses are added to ``sums``. ``groups[k]`` holds net k's parameters
    (``params``) and, for the trained nets, the Adam state and hyper-parameters (nets/adam.py); every new
    parameter value is also written into its slot of the compute-dtype stack ``nets[k]``, so the copies
    never need re-reading (compiled writes bump no version counter, and none is needed). With
    ``acting_obs``, → the updated actor's float32 actions there: the collector's next step, computed
    while the actor's weights are still in cache (read cold after the update, they cost ~4× more)."""
    grads, critic_loss, q_mean, actor_pass = critic_grads(head, nets, b, gamma, eps, actor_too)
    critic = groups["critic"]
    adam.step_(critic["params"], fused.flat_grads(grads), critic["state"], critic["hyper"], fused.slots(nets["critic"]))
    actor_loss = None
    if actor_too:
        grads, actor_loss = actor_grads(head, nets["actor"], nets["critic"].first(), b["obs"], actor_pass)
        actor = groups["actor"]
        adam.step_(actor["params"], fused.flat_grads(grads), actor["state"], actor["hyper"], fused.slots(nets["actor"]))
        for k in ("actor", "critic"):
            for target, p, copy_ in zip(
                groups[k + "_target"]["params"], groups[k]["params"], fused.slots(nets[k + "_target"]), strict=True
            ):
                copy_.copy_(target.lerp_(p, tau))
    accumulate_(sums, critic_loss, q_mean, actor_loss)
    if acting_obs is None:
        return None
    return head(fused.forward(fused.single(groups["actor"]["params"], nets["actor"]), acting_obs[None])[0])
