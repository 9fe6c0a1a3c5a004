"""Numbers as people read them: shares as percentages, money in cents, counts as integers.

The UI plots numeric metadata and operators read it at a glance, so `0.78412367` becomes
`78.4` under a `_pct` name and `$508.7912` becomes `508.79`. Used by every asset's metadata
and by `status --json`; the stored figures keep their precision.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SHARE_WORDS = ("rate", "availability", "completeness", "share", "coverage", "ratio")
MONEY_WORDS = ("usd", "cost", "spend", "price", "budget")


def is_share(name: str) -> bool:
    return any(name.endswith(w) or f"{w}_" in name for w in SHARE_WORDS) and not name.endswith(("_pct", "per_hour"))


def is_money(name: str) -> bool:
    return any(w in name for w in MONEY_WORDS) and not name.endswith("_pct")


def for_people(values: Mapping[str, Any], *, shares_as_pct: bool = True) -> dict[str, Any]:
    """A copy with floats rounded for reading; shares (0..1) renamed `<name>_pct` in percent (1 decimal).

    With `shares_as_pct=False` (stable JSON keys) shares stay fractions, rounded to 4 decimals."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, float):
            out[name] = value
        elif is_share(name) and 0.0 <= value <= 1.0:
            if shares_as_pct:
                out[f"{name}_pct"] = round(100 * value, 1)
            else:
                out[name] = round(value, 4)
        elif is_money(name):
            out[name] = round(value, 2 if abs(value) >= 1 else 4)
        else:
            out[name] = round(value, 2)
    return out
