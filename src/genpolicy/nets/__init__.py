"""Networks that are not policies: hypernetworks (later: critics, cVAE, learning rules)."""

from genpolicy.nets.hypernetwork import Hypernetwork

__all__ = ["Hypernetwork"]
