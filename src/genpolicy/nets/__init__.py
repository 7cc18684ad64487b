"""Networks that are not population policies: hypernetworks, critics, the action cVAE."""

from __future__ import annotations

from genpolicy.nets.critic import Critics
from genpolicy.nets.cvae import ActionVAE
from genpolicy.nets.hypernetwork import Hypernetwork

__all__ = ["ActionVAE", "Critics", "Hypernetwork"]
