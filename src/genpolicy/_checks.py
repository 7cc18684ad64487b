"""Hyper-parameter validation: one clear ValueError naming the parameter, the value and what is accepted."""

from __future__ import annotations


def positive(name: str, value) -> float:
    if not (isinstance(value, (int, float)) and value > 0):
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return float(value)


def decay(name: str, value) -> float:
    if not (isinstance(value, (int, float)) and 0 < value <= 1):
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")
    return float(value)


def integer(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def flag(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


def choice(name: str, value, options) -> str:
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}, got {value!r}")
    return value
