"""The sprint's search plan: which query slices each hour of the sprint runs.

Apollo's search has no time filter, so "an hour of Apollo" is defined by the plan: the
target roles x metros are pre-split into one slice per (role, metro) (the issue's split
order: title, then location), and slice i belongs to hour i mod `hours`. A slice whose
`total_entries` still exceeds the vendor's display cap is split again by company size;
one that cannot be split further is kept as `capped` with its coverage, never cut short
silently. Re-running an hour re-runs exactly its slices (replayed from the landing table
where a page was already fetched). An hour also takes over slices an earlier hour left
pending or failed, so nothing planned is forgotten.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

HOUR_KEY_FORMAT = "%Y-%m-%d-%H:%M"

# Apollo's employee-count ranges: the last split we can make once title and location are single.
EMPLOYEE_RANGES: tuple[str, ...] = (
    "1,10", "11,20", "21,50", "51,100", "101,200", "201,500", "501,1000",
    "1001,2000", "2001,5000", "5001,10000", "10001,1000000",
)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass(frozen=True)
class Slice:
    """One search query of the plan, with a stable key."""

    key: str
    titles: tuple[str, ...]
    locations: tuple[str, ...]
    employee_ranges: tuple[str, ...] = field(default=())
    parent_key: str | None = None

    def query(self) -> dict[str, Any]:
        """The Apollo filters for this slice."""
        q: dict[str, Any] = {
            "person_titles": list(self.titles),
            "person_locations": list(self.locations),
            "include_similar_titles": True,
        }
        if self.employee_ranges:
            q["organization_num_employees_ranges"] = list(self.employee_ranges)
        return q

    def query_json(self) -> str:
        return json.dumps(self.query(), sort_keys=True)

    def split(self) -> list[Slice]:
        """Children that partition this slice: by title, then location, then company size; [] if none."""
        if len(self.titles) > 1:
            return [self._child(titles=(t,), suffix=f"t={_slug(t)}") for t in self.titles]
        if len(self.locations) > 1:
            return [self._child(locations=(loc,), suffix=f"l={_slug(loc)}") for loc in self.locations]
        if not self.employee_ranges:
            return [self._child(employee_ranges=(r,), suffix=f"n={r.replace(',', '-')}") for r in EMPLOYEE_RANGES]
        return []

    def _child(self, *, suffix: str, **changes: Any) -> Slice:
        fields = {"titles": self.titles, "locations": self.locations, "employee_ranges": self.employee_ranges}
        fields.update(changes)
        return Slice(key=f"{self.key}/{suffix}", parent_key=self.key, **fields)

    @classmethod
    def from_query(cls, key: str, query_json: str, parent_key: str | None = None) -> Slice:
        q = json.loads(query_json)
        return cls(
            key=key,
            titles=tuple(q.get("person_titles", ())),
            locations=tuple(q.get("person_locations", ())),
            employee_ranges=tuple(q.get("organization_num_employees_ranges", ())),
            parent_key=parent_key,
        )


def plan_slices(roles: Sequence[tuple[str, Sequence[str]]], locations: Sequence[str]) -> list[Slice]:
    """Every (role, metro) slice of the sprint, in a fixed order.

    `roles` holds (role, title aliases): a slice searches the role's name and all its
    aliases at once (vendors match any of them), since people write the same job many ways.
    """
    slices = []
    for role, aliases in roles:
        titles = (role, *dict.fromkeys(a for a in aliases if a.lower() != role.lower()))
        slices.extend(Slice(key=f"{_slug(role)}@{_slug(loc)}", titles=titles, locations=(loc,)) for loc in locations)
    return slices


def hour_keys(start: str, hours: int) -> list[str]:
    """The sprint's hour partition keys, e.g. ['2026-11-27-00:00', ...]."""
    first = datetime.strptime(start, HOUR_KEY_FORMAT)
    return [(first + timedelta(hours=h)).strftime(HOUR_KEY_FORMAT) for h in range(hours)]


def assign_hours(slices: list[Slice], start: str, hours: int) -> dict[str, str]:
    """slice key -> hour key, round-robin so every hour gets a mix of roles and metros."""
    keys = hour_keys(start, hours)
    return {s.key: keys[i % hours] for i, s in enumerate(slices)}
