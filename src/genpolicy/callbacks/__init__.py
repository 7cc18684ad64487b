"""Lightning callbacks shared by the methods."""

from genpolicy.callbacks.checkpoint import GenerationCheckpoint
from genpolicy.callbacks.goal_stopping import GoalStopping

__all__ = ["GenerationCheckpoint", "GoalStopping"]
