"""Load the versioned sprint configuration and the environment settings.

`sprint.yaml` holds the brief (target profile, targets, prices, limits); environment
variables hold where things live and the secrets. Nothing here imports Dagster.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

PACKAGE_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = PACKAGE_DIR.parent
SPRINT_CONFIG_PATH = Path(__file__).resolve().parent / "sprint.yaml"
STATE_DIR = Path(os.environ.get("LEAD_SPRINT_STATE_DIR", REPO_DIR / ".lead_sprint"))
# A sprint id is a slug: it goes into Redis keys, pool and code location names, file names.
SPRINT_ID_PATTERN = r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?"


@dataclass(frozen=True)
class TargetRole:
    role: str
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class Targets:
    collected: int
    unique: int
    avg_quality_score: float
    email_availability: float
    company_completeness: float
    validation_rate: float
    max_duplicate_rate: float
    max_cost_per_qualified_lead: float
    budget_usd: float
    crm_sync_within_hours: float


@dataclass(frozen=True)
class SprintConfig:
    version: int
    sprint_id: str
    hours: int
    start: str
    batch_size: int
    targets: Targets
    target_roles: tuple[TargetRole, ...]
    locations: tuple[str, ...]
    company_types: tuple[str, ...]
    prices_usd: dict[str, float]
    rate_limits: dict[str, dict[str, dict[str, int]]]
    collection: dict[str, dict[str, Any]] = field(default_factory=dict)
    sources: tuple[str, ...] = ("apollo", "zoominfo", "sales_navigator")  # partitions: one per hour x source

    @property
    def role_names(self) -> tuple[str, ...]:
        return tuple(r.role for r in self.target_roles)


def load_sprint_config(path: str | os.PathLike | None = None) -> SprintConfig:
    """Parse `sprint.yaml` (or the file at `path`, or `LEAD_SPRINT_CONFIG`)."""
    path = Path(path or os.environ.get("LEAD_SPRINT_CONFIG") or SPRINT_CONFIG_PATH)
    raw = yaml.safe_load(path.read_text())
    sprint = raw["sprint"]
    start = os.environ.get("LEAD_SPRINT_START") or sprint["start"]
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}-\d{2}:00", start):
        raise ValueError(f"sprint start {start!r} must look like 2026-11-27-00:00 (LEAD_SPRINT_START)")
    return SprintConfig(
        version=int(raw["version"]),
        sprint_id=validate_sprint_id(os.environ.get("LEAD_SPRINT_ID") or sprint.get("id"), path),
        hours=int(sprint["hours"]),
        start=start,
        batch_size=int(sprint["batch_size"]),
        targets=Targets(**raw["targets"]),
        target_roles=tuple(
            TargetRole(role=r["role"], aliases=tuple(a.lower() for a in r["aliases"])) for r in raw["target_roles"]
        ),
        locations=tuple(raw["locations"]),
        company_types=tuple(raw["company_types"]),
        prices_usd={k: float(v) for k, v in raw["prices_usd"].items()},
        rate_limits=raw["rate_limits"],
        collection=raw.get("collection", {}),
        sources=tuple(sprint.get("sources") or ("apollo", "zoominfo", "sales_navigator")),
    )


def validate_sprint_id(value: Any, path: Path | str = "sprint.yaml") -> str:
    """The sprint id, or a ValueError that says what a valid one looks like and where to set it."""
    if value is None or value == "":
        raise ValueError(f"{path}: sprint.id is missing; set it (or LEAD_SPRINT_ID) to a slug like 'perf-marketing-us'")
    if not isinstance(value, str) or not re.fullmatch(SPRINT_ID_PATTERN, value):
        raise ValueError(
            f"sprint id {value!r} (sprint.id in {path} or LEAD_SPRINT_ID) must be 1-40 lowercase letters, digits "
            "and inner hyphens, like 'perf-marketing-us': it names Redis keys, pools, reports and backups"
        )
    return value


def explicit_sprint_id() -> str | None:
    """LEAD_SPRINT_ID when the operator set it (a multi-sprint deployment), else None.

    Only an explicit id namespaces asset keys, pools and the storage folder: the demo and a
    single sprint keep bare keys and `.lead_sprint/` as they were.
    """
    value = os.environ.get("LEAD_SPRINT_ID")
    return validate_sprint_id(value, "LEAD_SPRINT_ID") if value else None


@lru_cache(maxsize=1)
def sprint_config() -> SprintConfig:
    """The process-wide sprint configuration (cached)."""
    return load_sprint_config()


def default_database_url() -> str:
    """`LEADS_DATABASE_URL`, or a SQLite file under `.lead_sprint/` in the repo."""
    url = os.environ.get("LEADS_DATABASE_URL")
    if url:
        return url
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{STATE_DIR / 'leads.db'}"
