"""Atari copies for the one episode loop: ale-py's C++ vector env plus pytorch-es's frame preprocessing in torch.

The emulators step in ale-py's C++ threads while Python waits, so the policy's torch threads and the
emulator threads take the same cores in turn and neither runs on a core the other holds. An ale-py
vector env steps all its copies together, so the copies are split into small vector envs and only
those holding a live copy step; :attr:`AtariBatch.emulated` counts every emulated step, so a
benchmark can report how many went to finished episodes.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.nn import functional as F

from genpolicy.envs.registry import EnvSpec

if TYPE_CHECKING:
    from genpolicy.rollout.batches import StepTensors


def _threads() -> set[int]:
    """This process's thread ids (Linux; empty elsewhere)."""
    try:
        return {int(t) for t in os.listdir("/proc/self/task")}
    except OSError:
        return set()


def _renice(tids: set[int], nice: int) -> None:
    """Lower the priority of the threads ``tids`` to ``nice`` (never raises it: an unprivileged process
    cannot, and a thread already nicer is left alone)."""
    for tid in tids:
        try:
            if os.getpriority(os.PRIO_PROCESS, tid) < nice:
                os.setpriority(os.PRIO_PROCESS, tid, nice)
        except OSError:  # the thread has ended, or the OS does not allow it
            pass


NORM_ALPHA = 0.9999  # pytorch-es's running frame statistics (universe-starter-agent's NormalizedEnv)


def preprocess(frames: torch.Tensor, crop: tuple[int, int], size: int, grey: str) -> torch.Tensor:
    """ALE screens (n, 210, 160) grey or (n, 210, 160, 3) RGB uint8 → (n, size·size) float32 in [0, 1]:
    rows ``crop``, resized as pytorch-es did (bilinear to 80×80, then to size×size), grey, /255.

    A bilinear halving (align_corners=False) is exactly the mean of each 2×2 block, and the grey mean is
    linear too, so an even 160×160 crop is summed over 2×2 blocks (× channels) with strided adds before
    the one real interpolation (:func:`preprocess_reference` is the plain version, tested equal)."""
    x = frames[:, crop[0] : crop[1]]
    n, h, w = x.shape[:3]
    if size < 80 and h == 160 and w == 160 and (x.dim() == 3 or grey == "mean"):
        a = x.float()
        if a.dim() == 3:
            a = a[:, 0::2] + a[:, 1::2]
            a, parts = a[..., 0::2] + a[..., 1::2], 4
        else:  # rows of (160 · 3) values: pair the rows, then sum each block of 2 columns × 3 channels
            a = a.view(n, 80, 960)
            a, parts = (a[..., :480] + a[..., 480:]).view(n, 80, 80, 6).sum(-1), 12
        a = F.interpolate(a.unsqueeze(1), size=(size, size), mode="bilinear", align_corners=False)
        return a.flatten(1).mul_(1.0 / (255.0 * parts))
    return preprocess_reference(frames, crop, size, grey)


def preprocess_reference(frames: torch.Tensor, crop: tuple[int, int], size: int, grey: str) -> torch.Tensor:
    """:func:`preprocess` step by step: crop, grey, bilinear resizes, /255."""
    x = frames[:, crop[0] : crop[1]].float()
    if x.dim() == 4:  # RGB: pytorch-es's grey is the mean of the channels
        x = x.mean(-1) if grey == "mean" else x @ x.new_tensor([0.299, 0.587, 0.114])
    x = x.unsqueeze(1)
    if size < 80:
        x = F.interpolate(x, size=(80, 80), mode="bilinear", align_corners=False)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x.flatten(1).mul_(1.0 / 255.0)


class EpisodeNorm:
    """pytorch-es's observation normalisation, one per copy: running (α = 0.9999) means of each frame's
    mean and standard deviation, bias-corrected, restarted at every episode start."""

    def __init__(self, n: int, enabled: bool = True) -> None:
        self.enabled = enabled
        self.mean = torch.zeros(n, dtype=torch.float64)
        self.std = torch.zeros(n, dtype=torch.float64)
        self.steps = torch.zeros(n, dtype=torch.float64)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:  # (k, pixels) of the current copies
        if not self.enabled:
            return x
        m, s = x.double().mean(1), x.double().std(1, unbiased=False)
        self.mean.mul_(NORM_ALPHA).add_(m, alpha=1 - NORM_ALPHA)
        self.std.mul_(NORM_ALPHA).add_(s, alpha=1 - NORM_ALPHA)
        self.steps += 1
        correction = 1.0 - NORM_ALPHA**self.steps
        mean, std = self.mean / correction, self.std / correction
        return (x - mean.float()[:, None]) / (std.float()[:, None] + 1e-8)

    def select(self, keep: torch.Tensor) -> None:
        self.mean, self.std, self.steps = self.mean[keep], self.std[keep], self.steps[keep]


class AtariBatch:
    """``n`` copies of one ALE game (see :mod:`genpolicy.rollout.batches` for the interface), held in
    groups of about ``env.group`` emulators, each group an ale-py vector env with one thread. Only the
    groups that hold a live copy are stepped, so once most episodes have ended the few long ones no
    longer drag every emulator along (one vector env of all copies would emulate them all to the end)."""

    def __init__(self, spec: EnvSpec, n: int, device: torch.device) -> None:
        from ale_py.vector_env import AtariVectorEnv

        o = spec.kwargs
        self.spec, self.n, self.device = spec, int(n), device
        self.crop, self.size, self.grey, self.episode_norm = tuple(o["crop"]), o["size"], o["grey"], o["episode_norm"]
        cores = o["threads"] or torch.get_num_threads()
        groups = min(self.n, max(-(-self.n // o["group"]), cores))  # at least one group (thread) per core
        bounds = np.linspace(0, self.n, groups + 1).round().astype(int)
        before = _threads()
        self.groups = [
            AtariVectorEnv(
                o["game"],
                int(hi - lo),
                num_threads=1,
                stack_num=1,
                img_height=210,
                img_width=160,
                grayscale=o["grey"] == "luminance",
                frameskip=o["frameskip"],
                maxpool=o["maxpool"],
                noop_max=o["noop_max"],
                reward_clipping=False,
                use_fire_reset=False,
                repeat_action_probability=o["repeat_action_probability"],
                full_action_space=o["full_action_space"],
                max_num_frames_per_episode=o["max_episode_frames"],
                episodic_life=False,
            )
            for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
        ]
        if o.get("emulator_nice") is not None:  # each vector env starts its one thread as it is built
            _renice(_threads() - before, int(o["emulator_nice"]))
        self.bounds = bounds
        self.group_of = np.repeat(np.arange(groups), np.diff(bounds))  # emulator → its group
        # Without sticky actions and no-op starts an ALE game is deterministic: the seed changes nothing,
        # so the copies are reset without one (3 ms a copy; ale-py reloads the ROM to seed one: 60 ms).
        self.seeded = o["repeat_action_probability"] > 0 or o["noop_max"] > 0
        self.idx = np.arange(self.n)  # current slot → emulator
        self.emulated = 0  # emulator steps taken, live or not

    def _frames(self, screens: np.ndarray) -> torch.Tensor:
        x = preprocess(torch.from_numpy(screens[self.idx]), self.crop, self.size, self.grey)
        return self.norm(x).to(self.device)

    def reset(self, seeds: torch.Tensor) -> torch.Tensor:
        self.idx = np.arange(self.n)
        self.norm = EpisodeNorm(self.n, self.episode_norm)
        seeds = (seeds.cpu().numpy() % (1 << 31)).astype(np.int64)
        screens = []
        for g, vec in enumerate(self.groups):
            lo, hi = self.bounds[g], self.bounds[g + 1]
            screens.append(vec.reset(seed=seeds[lo:hi] if self.seeded else None)[0][:, 0])
        self.screens = np.concatenate(screens)  # (n, 210, 160[, 3]): the latest screen of every emulator
        return self._frames(self.screens)

    def send(self, actions: torch.Tensor, alive: torch.Tensor) -> None:
        """Start the step: the live groups' emulators run in their threads while Python goes on."""
        full = np.zeros(self.n, dtype=np.int64)  # NOOP for the emulators of finished copies
        full[self.idx] = actions.cpu().numpy()
        self._live = np.unique(self.group_of[self.idx[alive.cpu().numpy()]])
        for g in self._live:
            lo, hi = self.bounds[g], self.bounds[g + 1]
            self.groups[g].ale.send(full[lo:hi], np.ones(hi - lo, dtype=np.float32))

    def recv(self) -> StepTensors:
        """Finish the step :meth:`send` started: (obs, reward, terminated, truncated) of the current copies."""
        reward, terminated = np.zeros(self.n), np.zeros(self.n, dtype=bool)
        truncated = np.zeros(self.n, dtype=bool)
        for g in self._live:
            lo, hi = self.bounds[g], self.bounds[g + 1]
            obs, reward[lo:hi], terminated[lo:hi], truncated[lo:hi], _ = self.groups[g].ale.recv()
            self.screens[lo:hi] = obs[:, 0]
            self.emulated += int(hi - lo)
        i = self.idx
        return (
            self._frames(self.screens),
            torch.as_tensor(reward[i], dtype=torch.float64, device=self.device),
            torch.as_tensor(terminated[i], device=self.device),
            torch.as_tensor(truncated[i], device=self.device),
        )

    def step(self, actions: torch.Tensor, alive: torch.Tensor) -> StepTensors:
        self.send(actions, alive)
        return self.recv()

    def select(self, keep: torch.Tensor) -> None:
        keep = keep.cpu()
        self.idx = self.idx[keep.numpy()]
        self.norm.select(keep)

    def close(self) -> None:
        for vec in self.groups:
            vec.close()
