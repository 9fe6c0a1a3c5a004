"""Retention of raw vendor payloads: landings older than the retention period are deleted.

`raw_landings` keeps vendor responses verbatim so a re-run replays instead of paying
again; past the retention that evidence has served its purpose and holds personal data
the project no longer needs. `raw_landings` refuses UPDATE (a trigger) but allows DELETE.

What a purge changes: re-running a partition whose landings are gone re-fetches its
(free) search pages; people already known are still never bought again, because the dedup
keys, leads and lead_sources are untouched. Nothing here imports Dagster.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from lead_assets.store.lead_store import LeadStore, ts_param

log = logging.getLogger(__name__)

RETENTION_ENV = "RAW_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 30


def default_retention_days() -> int:
    """`RAW_RETENTION_DAYS`, else 30."""
    return int(os.environ.get(RETENTION_ENV) or DEFAULT_RETENTION_DAYS)


def retention_cutoff(older_than_days: int, now: datetime | None = None) -> datetime:
    """The instant before which landings are purged (UTC)."""
    if older_than_days < 1:
        raise ValueError(f"the raw payload retention must be at least 1 day, got {older_than_days}")
    return (now or datetime.now(UTC)).astimezone(UTC) - timedelta(days=older_than_days)


def purge_raw_landings(store: LeadStore, older_than_days: int, now: datetime | None = None) -> int:
    """Delete every landing fetched more than `older_than_days` days before `now`; return how many.

    One bulk DELETE in one transaction; a landing fetched exactly at the cutoff is kept.
    """
    cutoff = retention_cutoff(older_than_days, now)
    with store.transaction() as conn:
        deleted = conn.execute(
            text("DELETE FROM raw_landings WHERE fetched_at < :cutoff"),
            {"cutoff": ts_param(cutoff, store.dialect)},
        ).rowcount
    log.info("purged %d raw landings fetched before %s", deleted, cutoff.isoformat())
    return int(deleted)
