"""Named random generators of a LightningModule, checkpointed (gradient methods: target-policy noise,
cVAE ε, exploration latents)."""

from __future__ import annotations

import torch

from genpolicy.seeding import stream


class SeededRNGs:
    """Mixin: ``self.rng(name)`` is a torch.Generator on the module's device seeded from
    (``self.seed``, the named stream of genpolicy.seeding); every stream's state goes into the checkpoint."""

    rng_streams: tuple[str, ...] = ()  # names in genpolicy.seeding.STREAMS

    def rng(self, name: str) -> torch.Generator:
        gens = self.__dict__.setdefault("_rngs", {})
        gen = gens.get(name)
        if gen is None or gen.device != self.device:
            gen = gens[name] = torch.Generator(device=self.device).manual_seed(stream(self.seed, name))
        return gen

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["rng_states"] = {name: self.rng(name).get_state() for name in self.rng_streams}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        for name, state in checkpoint.get("rng_states", {}).items():
            self.rng(name).set_state(state)
