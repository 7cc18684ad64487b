"""Lightning callbacks shared by the methods."""

from __future__ import annotations

from genpolicy.callbacks.checkpoint import GenerationCheckpoint
from genpolicy.callbacks.config import StoreConfig
from genpolicy.callbacks.goal_stopping import GoalStopping
from genpolicy.callbacks.progress import GenerationProgressBar

__all__ = ["GenerationCheckpoint", "GenerationProgressBar", "GoalStopping", "StoreConfig"]
