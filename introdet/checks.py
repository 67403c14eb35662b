"""What each config value may be, checked once at start-up: a value that cannot work stops
the run with one line naming the key and what it allows (``error: data.window must be a whole
number >= 1, got 2.5``), before any decoding or training.

A rule is an ``Allowed``: a test and the words for it. The typed config nodes, the data and
model hyper-parameters and each command's own keys keep their rules beside their fields and
check them with ``check_values``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from introdet.errors import ConfigError


@dataclass(frozen=True)
class Allowed:
    test: Callable[[object], bool]
    text: str  # "a whole number >= 1", "true or false", ...

    def __or__(self, other: Allowed) -> Allowed:
        return Allowed(lambda v: self.test(v) or other.test(v), f"{self.text} or {other.text}")


def _is_number(v: object) -> bool:
    # bool is an int subclass: true/false is no number here
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _bounds(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {lo}"
    if hi is not None:
        return f"{'<' if hi_open else '<='} {hi}"
    return ""


def _inside(v: float, lo, hi, lo_open: bool, hi_open: bool) -> bool:
    above = lo is None or (v > lo if lo_open else v >= lo)
    below = hi is None or (v < hi if hi_open else v <= hi)
    return above and below


def number(
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> Allowed:
    """A finite number (no NaN, no infinity) within the bounds."""
    where = _bounds(lo, hi, lo_open, hi_open)
    return Allowed(
        lambda v: _is_number(v) and _inside(v, lo, hi, lo_open, hi_open),
        f"a number {where}".rstrip(),
    )


def whole(lo: int | None = None, hi: int | None = None) -> Allowed:
    """A whole number (an int, not 2.5 nor true) within the bounds."""
    return Allowed(
        lambda v: isinstance(v, int) and not isinstance(v, bool) and _inside(v, lo, hi, 0, 0),
        f"a whole number {_bounds(lo, hi, False, False)}".rstrip(),
    )


def one_of(*options: object) -> Allowed:
    return Allowed(
        lambda v: not isinstance(v, bool) and v in options, " or ".join(repr(o) for o in options)
    )


FLAG = Allowed(lambda v: isinstance(v, bool), "true or false")
NULL = Allowed(lambda v: v is None, "null")
TEXT = Allowed(lambda v: isinstance(v, str) and v != "", "a non-empty string")


def check_values(prefix: str, values: Mapping, rules: Mapping[str, Allowed]) -> None:
    """``ConfigError`` for the first value of ``values`` its rule does not allow; keys without
    a rule, or absent from ``values``, are not checked."""
    for key, allowed in rules.items():
        if key in values and not allowed.test(values[key]):
            name = f"{prefix}.{key}" if prefix else key
            raise ConfigError(f"{name} must be {allowed.text}, got {values[key]!r}")


def check_node(prefix: str, node: object, rules: Mapping[str, Allowed]) -> None:
    """``check_values`` over a dataclass's fields."""
    check_values(prefix, {k: getattr(node, k) for k in rules if hasattr(node, k)}, rules)
