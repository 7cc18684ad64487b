"""The demonstration DataModule of post-training GPV: it plays the trained actor (the module's
``teacher``) for ``episodes`` episodes on the population engine, records every state it acted on
with the actor's action there, and serves an endless stream of items of ``updates_per_item``
uniformly drawn minibatches (k, B, …)."""

from __future__ import annotations

import lightning as L
import torch

from genpolicy._checks import integer
from genpolicy.data.replay import ItemStream
from genpolicy.envs.registry import EnvSpec
from genpolicy.rollout.evaluator import PopulationEvaluator
from genpolicy.seeding import generator
from genpolicy.seeding import seeds as stream_seeds


class DemonstrationDataModule(L.LightningDataModule):
    def __init__(
        self, env: EnvSpec, seed: int = 0, episodes: int = 100, batch_size: int = 256, updates_per_item: int = 10
    ) -> None:
        super().__init__()
        self.env, self.seed = env, int(seed)
        self.episodes, self.batch_size = integer("episodes", episodes), integer("batch_size", batch_size)
        self.updates_per_item = integer("updates_per_item", updates_per_item)
        self.evaluator: PopulationEvaluator | None = None
        self.states = self.actions = None  # (N, obs_dim), (N, action_dim)
        self.teacher_returns: torch.Tensor | None = None
        self.sampler: torch.Generator | None = None  # made in setup(): a Generator cannot travel to spawned ranks

    def setup(self, stage: str | None = None) -> None:
        if self.evaluator is None:
            self.evaluator = PopulationEvaluator(self.env)
        if self.sampler is None:
            self.sampler = generator(self.seed, "demo_sampler")
        if self.states is None:
            module = self.trainer.lightning_module
            seeds = stream_seeds(self.seed, "demo_env", torch.arange(self.episodes))
            result = self.evaluator.evaluate(
                module.policy.bind, module.teacher_params().expand(self.episodes, -1), 1, seeds, record_obs=True
            )
            self.states = result.observations
            with torch.no_grad():
                self.actions = torch.cat(
                    [module.teacher_act(s.to(module.device)).cpu() for s in self.states.split(65536)]
                )
            self.teacher_returns, self.env_steps = result.returns.flatten(), result.env_steps

    def train_dataloader(self) -> ItemStream:
        return ItemStream(self)

    def next_item(self) -> dict:
        idx = torch.randint(len(self.states), (self.updates_per_item, self.batch_size), generator=self.sampler)
        return {"obs": self.states[idx], "action": self.actions[idx]}

    def state_dict(self) -> dict:
        return {} if self.sampler is None else {"sampler": self.sampler.get_state()}

    def load_state_dict(self, state: dict) -> None:
        if state:
            if self.sampler is None:
                self.sampler = torch.Generator()
            self.sampler.set_state(state["sampler"])

    def teardown(self, stage: str | None = None) -> None:
        if self.evaluator is not None:
            self.evaluator.close()
            self.evaluator = None
