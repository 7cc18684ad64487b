"""Environment layer: specs, construction and validation of environment ids."""

from __future__ import annotations

from genpolicy.envs.registry import EnvSpec, make_env, make_vector_env, resolve_env_id

__all__ = ["EnvSpec", "make_env", "make_vector_env", "resolve_env_id"]
