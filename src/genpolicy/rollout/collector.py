"""The step collector of off-policy methods: plays ``n_envs`` environments continuously with the
current actor plus exploration noise (uniform random actions during warm-up) and writes every
transition to a replay buffer.

Episode ends are handled here, explicitly: the transition into the last state is stored with the
real final observation and ``terminated`` (never ``truncated``) as its end flag, then the env is
reset with the next seed of the run's sequence and the noise process of that env restarts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch

from genpolicy.envs.registry import EnvSpec
from genpolicy.rollout.replay import ReplayBuffer
from genpolicy.seeding import generator, indexed

if TYPE_CHECKING:
    from genpolicy.rollout.exploration import GaussianNoise, OUNoise


class StepCollector:
    def __init__(
        self, spec: EnvSpec, n_envs: int, seed: int, noise: GaussianNoise | OUNoise, warmup_steps: int = 0
    ) -> None:
        if spec.action_kind != "box":
            raise ValueError(
                f"{spec.id} has discrete actions; actor–critic methods need a continuous (Box) action space"
            )
        self.spec, self.seed, self.noise, self.warmup_steps = spec, int(seed), noise, int(warmup_steps)
        self.envs = [spec.make_single() for _ in range(int(n_envs))]
        low, high = torch.tensor(spec.action_low), torch.tensor(spec.action_high)
        self.mid, self.half = (high + low) / 2, (high - low) / 2
        self.generator = generator(self.seed, "collector_action")
        self.steps = 0  # env steps collected, all envs together
        self.episodes = 0  # episodes started
        self.obs: np.ndarray | None = None  # (n_envs, obs_dim) current observations
        self.ep_return = np.zeros(len(self.envs))
        self.ep_length = np.zeros(len(self.envs), dtype=np.int64)

    @property
    def n_envs(self) -> int:
        return len(self.envs)

    def _reset(self, i: int) -> np.ndarray:
        obs, _ = self.envs[i].reset(seed=indexed(self.seed, "collector_episode", self.episodes))
        self.episodes += 1
        self.ep_return[i], self.ep_length[i] = 0.0, 0
        return np.asarray(obs, dtype=np.float32).reshape(-1)

    def collect(self, actor: Callable[[torch.Tensor], torch.Tensor], steps: int, buffer: ReplayBuffer) -> dict:
        """Step every env ⌈steps / n_envs⌉ times; returns {"env_steps", "episode_returns", "episode_lengths"}.
        The transitions go into ``buffer`` at the end, in one write."""
        n, rounds = self.n_envs, -(-int(steps) // self.n_envs)
        if self.obs is None:
            self.obs = np.stack([self._reset(i) for i in range(n)])
        mid, half = self.mid.numpy(), self.half.numpy()
        out = {
            "obs": np.empty((rounds, *self.obs.shape), np.float32),
            "action": np.empty((rounds, n, len(mid)), np.float32),
            "reward": np.empty((rounds, n)),
            "next_obs": np.empty((rounds, *self.obs.shape), np.float32),
            "terminated": np.empty((rounds, n)),
        }
        returns, lengths = [], []
        for t in range(rounds):
            if self.steps < self.warmup_steps:
                u = 2 * torch.rand(n, len(mid), generator=self.generator).numpy() - 1
            else:
                with torch.no_grad():
                    a = actor(torch.from_numpy(self.obs)).float().cpu().numpy()
                u = np.clip((a - mid) / half + self.noise(self.generator).numpy(), -1.0, 1.0)
            out["obs"][t], out["action"][t] = self.obs, mid + half * u
            ended = np.zeros(n, dtype=bool)
            for i, env in enumerate(self.envs):
                o, r, te, tr, _ = env.step(out["action"][t, i])
                out["next_obs"][t, i], out["reward"][t, i], out["terminated"][t, i] = (
                    np.asarray(o, np.float32).reshape(-1),
                    r,
                    te,
                )
                ended[i] = te or tr
                self.ep_return[i] += r
                self.ep_length[i] += 1
            self.obs = out["next_obs"][t].copy()
            for i in np.flatnonzero(ended):
                returns.append(float(self.ep_return[i]))
                lengths.append(int(self.ep_length[i]))
                self.obs[i] = self._reset(i)
            if ended.any():
                self.noise.reset(ended)
            self.steps += n
        buffer.add(**{k: v.reshape(rounds * n, *v.shape[2:]) for k, v in out.items()})
        return {"env_steps": rounds * n, "episode_returns": returns, "episode_lengths": lengths}

    def state_dict(self) -> dict:
        """Counters, the noise process and the RNG; the simulators' own state is not saved, so a
        resumed run starts fresh episodes."""
        return {
            "steps": self.steps,
            "episodes": self.episodes,
            "generator": self.generator.get_state(),
            "noise": self.noise.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.steps, self.episodes = int(state["steps"]), int(state["episodes"])
        self.generator.set_state(state["generator"])
        self.noise.load_state_dict(state["noise"])
        self.obs = None

    def close(self) -> None:
        for env in self.envs:
            env.close()
