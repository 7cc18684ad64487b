"""The body of an environment worker process (see genpolicy.rollout.workers).

Kept free of torch so a spawned worker starts in a fraction of a second: it imports gymnasium,
NumPy and the simulator, nothing else.
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING

import numpy as np

from genpolicy.envs.registry import EnvSpec

if TYPE_CHECKING:
    from multiprocessing.connection import Connection


def serve_envs(spec: EnvSpec, count: int, conn: Connection) -> None:
    """Own ``count`` copies of ``spec``'s env and serve reset/step/close requests from ``conn``."""
    try:
        envs = [spec.make_single() for _ in range(count)]
    except Exception:  # noqa: BLE001 - reported to the parent, which raises
        conn.send(("error", traceback.format_exc()))
        return
    conn.send(("ok", None))
    while True:
        cmd, payload = conn.recv()
        try:
            if cmd == "reset":
                obs = [
                    np.asarray(env.reset(seed=int(s))[0], dtype=np.float32).reshape(-1)
                    for env, s in zip(envs, payload, strict=False)
                ]
                conn.send(("ok", np.stack(obs)))
            elif cmd == "step":
                local, actions = payload
                out = [envs[i].step(a) for i, a in zip(local.tolist(), actions, strict=False)]
                obs = np.stack([np.asarray(o[0], dtype=np.float32).reshape(-1) for o in out]) if out else None
                conn.send(
                    (
                        "ok",
                        (
                            obs,
                            np.array([o[1] for o in out], dtype=np.float64),
                            np.array([o[2] for o in out], dtype=bool),
                            np.array([o[3] for o in out], dtype=bool),
                        ),
                    )
                )
            elif cmd == "close":
                for env in envs:
                    env.close()
                return
        except Exception:  # noqa: BLE001 - reported to the parent, which raises
            conn.send(("error", traceback.format_exc()))
