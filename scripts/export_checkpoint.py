"""Strip a training checkpoint down to what ``python -m genpolicy.evaluate`` needs: the module's
weights (centre, normaliser, counters) and the run's config — no optimiser or loop state.

    python scripts/export_checkpoint.py RUN/checkpoints/last.ckpt assets/checkpoints/es_pong.ckpt

The file is written next to its destination and renamed into place, and loaded back (weights_only)
before the rename, so a failed export never leaves a broken checkpoint behind.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from genpolicy._io import atomic_path
from genpolicy.fit import load_checkpoint

KEEP = ("state_dict", "genpolicy", "epoch", "global_step", "pytorch-lightning_version")


def export(src: str, dst: str) -> dict:
    ckpt = load_checkpoint(src)
    small = {k: ckpt[k] for k in KEEP if k in ckpt}
    out = Path(dst)
    with atomic_path(out) as tmp:
        torch.save(small, tmp)
        load_checkpoint(str(tmp))
    return {"checkpoint": str(out), "bytes": out.stat().st_size, "generation": int(small["state_dict"]["generation"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    args = ap.parse_args()
    print(export(args.src, args.dst))


if __name__ == "__main__":
    main()
