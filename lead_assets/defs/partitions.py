"""Partitions: hour x source. An hour of a source is its share of the sprint's search plan."""

from __future__ import annotations

from datetime import datetime, timedelta

import dagster as dg

from lead_assets.config.settings import sprint_config
from lead_assets.defs.keys import sprint_pool
from lead_assets.pipeline.search_plan import HOUR_KEY_FORMAT
from lead_assets.sources import lead_source

_cfg = sprint_config()



def enabled_sources(names: tuple[str, ...]) -> tuple[str, ...]:
    """The brief's sources, checked against the registry (a ValueError that says where to fix it)."""
    try:
        checked = tuple(lead_source(name).name for name in names)
    except ValueError as exc:
        raise ValueError(f"sprint.yaml sprint.sources: {exc}") from None
    if not checked or len(set(checked)) != len(checked):
        raise ValueError(f"sprint.yaml sprint.sources must list each source once, at least one: {list(names)}")
    return checked


# The sources the brief lists (sprint.yaml `sprint.sources`), each in its own partitions, in parallel.
ENABLED_SOURCES: tuple[str, ...] = enabled_sources(_cfg.sources)
_end = datetime.strptime(_cfg.start, HOUR_KEY_FORMAT) + timedelta(hours=_cfg.hours)

hour_partitions = dg.HourlyPartitionsDefinition(start_date=_cfg.start, end_date=_end.strftime(HOUR_KEY_FORMAT))
source_partitions = dg.StaticPartitionsDefinition(list(ENABLED_SOURCES))

# Dimension names sort as hour < source, so keys read "2026-11-27-00:00|apollo".
sprint_partitions = dg.MultiPartitionsDefinition({"hour": hour_partitions, "source": source_partitions})


def sprint_partition_key(hour_key: str, source: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"hour": hour_key, "source": source})

# No backfill policy on the sprint's assets: a backfill launches one run per hour x source, tagged
# with its partition (a policy's runs carry a partition *range*, and checks of a partitioned asset
# then record no partition, so automation could never see the blocking check pass).

# A concurrency pool of one step (`concurrency.pools.default_limit` in dagster.yaml): two CRM
# exports at once would send the same pending leads twice. (Enrichment needs no pool: each
# lead is held by one run at a time, `LeadStore.claimed`.)
# Per sprint in a multi-sprint deployment (`crm_sync_<sprint>`): each sprint has its own CRM portal.
CRM_POOL = sprint_pool("crm_sync")

# Every step that calls a vendor: three attempts in all (the brief's retry budget), backing off
# exponentially with jitter. A re-attempt never pays twice: collection replays what was landed,
# enrichment reads its ledger, the CRM export sends only what the CRM has not confirmed.
VENDOR_RETRY = dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


def hour_key_for(moment: datetime) -> str:
    """The sprint hour a moment falls in, clamped to the sprint window."""
    keys = hour_partitions.get_partition_keys()
    key = moment.strftime("%Y-%m-%d-%H:00")
    return min(max(key, keys[0]), keys[-1])
