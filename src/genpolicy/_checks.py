"""Input validation: one clear error naming the parameter, the value and what is accepted.

Every check raises :class:`InputError` (a ``ValueError``), which the command-line tools report as one
line with exit code 2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

_T = TypeVar("_T")


class InputError(ValueError):
    """Bad user input: reported as one line, exit code 2."""


def positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not (isinstance(value, (int, float)) and value > 0):
        raise InputError(f"{name} must be > 0, got {value!r}")
    return float(value)


def nonnegative(name: str, value: Any) -> float:
    if isinstance(value, bool) or not (isinstance(value, (int, float)) and value >= 0):
        raise InputError(f"{name} must be ≥ 0, got {value!r}")
    return float(value)


def optional(check: Callable[..., _T], name: str, value: Any, *args: Any) -> _T | None:
    """``None`` stays ``None`` (a null in the config: "automatic" or "off"); anything else goes through
    ``check``, whose message then says null is accepted too."""
    if value is None:
        return None
    try:
        return check(name, value, *args)
    except ValueError as err:
        raise InputError(f"{err} (or null)") from None


def decay(name: str, value: Any) -> float:
    if not (isinstance(value, (int, float)) and 0 < value <= 1):
        raise InputError(f"{name} must be in (0, 1], got {value!r}")
    return float(value)


def integer(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < minimum:
        raise InputError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{name} must be true or false, got {value!r}")
    return value


def choice(name: str, value: Any, options: Collection[str]) -> str:
    if value not in options:
        raise InputError(f"{name} must be one of {', '.join(map(repr, options))}, got {value!r}")
    return value
