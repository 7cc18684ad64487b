"""Stop training once the test return has met a goal for several consecutive tests (PyTorch-ES)."""

from __future__ import annotations

from typing import Any

import lightning as L

from genpolicy._checks import integer


class GoalStopping(L.Callback):
    """Reads ``pl_module.latest_test = (generation, mean test return)`` after each step and stops
    after ``consecutive`` tests in a row with return ≥ ``reward_goal``. Its count is checkpointed."""

    def __init__(self, reward_goal: float, consecutive: int = 1) -> None:
        self.reward_goal = float(reward_goal)
        self.consecutive = integer("goal_stopping.consecutive", consecutive)
        self.streak, self._seen = 0, None

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        latest = getattr(pl_module, "latest_test", None)
        if latest is None or latest == self._seen:
            return
        self._seen = latest
        self.streak = self.streak + 1 if latest[1] >= self.reward_goal else 0
        if self.streak >= self.consecutive:
            trainer.should_stop = True
            pl_module.print(
                f"goal reached: test return ≥ {self.reward_goal:g} for {self.streak} consecutive tests "
                f"(generation {latest[0] + 1}); stopping"
            )

    def state_dict(self) -> dict:
        return {"streak": self.streak}

    def load_state_dict(self, state_dict: dict) -> None:
        self.streak = int(state_dict["streak"])
