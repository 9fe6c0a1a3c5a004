"""`sprint_metrics`: the sprint's scoreboard, computed by SQL aggregates.

Nothing is read row by row: one aggregate query per table, so the figures stay cheap
with millions of leads. Shares are fractions in [0, 1]; a share of nothing is None for
rates that need a denominator and 0 for counts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text

from lead_assets.store.lead_store import LeadStore, to_utc, ts_param

_LEADS_SQL = """
SELECT
    count(*) AS unique_leads,
    avg(data_quality_score) AS avg_quality_score,
    sum(CASE WHEN COALESCE(email, '') <> '' AND COALESCE(email_status, '') <> 'undeliverable'
             THEN 1 ELSE 0 END) AS with_email,
    sum(CASE WHEN COALESCE(company_website, '') <> '' AND COALESCE(company_industry, '') <> ''
              AND company_size IS NOT NULL THEN 1 ELSE 0 END) AS company_complete,
    sum(CASE WHEN validation_errors = '' THEN 1 ELSE 0 END) AS valid,
    sum(CASE WHEN COALESCE(full_name, '') <> ''
              AND (COALESCE(linkedin_url, '') <> '' OR COALESCE(email, '') <> '')
             THEN 1 ELSE 0 END) AS identified,
    sum(CASE WHEN is_qualified THEN 1 ELSE 0 END) AS qualified,
    sum(CASE WHEN needs_enrichment THEN 1 ELSE 0 END) AS needs_enrichment,
    min(created_at) AS first_collected_at,
    max(created_at) AS last_collected_at
FROM leads {where}
"""
_CALLS_SQL = """
SELECT count(*) AS calls, COALESCE(sum(credits), 0) AS credits,
       sum(CASE WHEN outcome = 'failed' THEN 1 ELSE 0 END) AS failed
FROM vendor_calls {where}
"""


def partition_required_fields(store: LeadStore, partition_keys: list[str]) -> dict[str, Any]:
    """How many leads of these partitions (their `lead_sources`) lack a name or a way to reach them."""
    in_clause = ", ".join(f":pk{i}" for i in range(len(partition_keys))) or "NULL"
    where = f"WHERE lead_id IN (SELECT lead_id FROM lead_sources WHERE partition_key IN ({in_clause}))"
    params = {f"pk{i}": k for i, k in enumerate(partition_keys)}
    with store._read() as conn:
        row = conn.execute(text(_LEADS_SQL.format(where=where)), params).mappings().one()
    leads = int(row["unique_leads"] or 0)
    return {"leads": leads, "identified": int(row["identified"] or 0),
            "missing_identity": leads - int(row["identified"] or 0),
            "required_fields_rate": _share(row["identified"], leads)}


def _share(part: Any, whole: int) -> float | None:
    return float(part or 0) / whole if whole else None


def sprint_metrics(store: LeadStore, since: datetime | None = None) -> dict[str, Any]:
    """The sprint's figures (all rows, or those created/called/seen at or after `since`).

    Keys: collected, unique, duplicates, duplicate_rate, quarantined, avg_quality_score,
    email_availability, company_completeness, validation_rate, required_fields_rate,
    qualified, needs_enrichment, credits, spend_usd (cost ledger: every paid call, USD),
    cost_per_qualified_lead, vendor_calls, vendor_call_errors, error_rate,
    first_collected_at, last_collected_at, rate_per_hour.

    Blank strings count as missing. `rate_per_hour` spans first to last collected lead
    (None under a minute of data), so it does not decay when read after the sprint.
    """
    params = {"since": ts_param(since, store.dialect)} if since is not None else {}

    def where(column: str) -> str:
        return f"WHERE {column} >= :since" if since is not None else ""

    with store._read() as conn:
        leads = conn.execute(text(_LEADS_SQL.format(where=where("created_at"))), params).mappings().one()
        collected = conn.execute(
            text(f"SELECT count(*) FROM lead_sources {where('first_seen_at')}"), params
        ).scalar_one()
        quarantined = conn.execute(
            text(f"SELECT count(*) FROM quarantine {where('created_at')}"), params
        ).scalar_one()
        calls = conn.execute(text(_CALLS_SQL.format(where=where("called_at"))), params).mappings().one()
        spend = conn.execute(
            text(f"SELECT COALESCE(sum(cost_usd), 0) FROM cost_ledger {where('called_at')}"), params
        ).scalar_one()

    unique = int(leads["unique_leads"] or 0)
    collected = int(collected or 0)
    duplicates = max(collected - unique, 0)
    first, last = to_utc(leads["first_collected_at"]), to_utc(leads["last_collected_at"])
    rate = None
    if first is not None and last is not None:
        hours = (last - first).total_seconds() / 3600
        rate = unique / hours if hours >= 1 / 60 else None
    n_calls = int(calls["calls"] or 0)
    failed = int(calls["failed"] or 0)
    avg = leads["avg_quality_score"]
    return {
        "collected": collected,
        "unique": unique,
        "duplicates": duplicates,
        "duplicate_rate": _share(duplicates, collected),
        "quarantined": int(quarantined or 0),
        "avg_quality_score": float(avg) if avg is not None else None,
        "email_availability": _share(leads["with_email"], unique),
        "company_completeness": _share(leads["company_complete"], unique),
        "validation_rate": _share(leads["valid"], unique),
        "required_fields_rate": _share(leads["identified"], unique),
        "qualified": int(leads["qualified"] or 0),
        "needs_enrichment": int(leads["needs_enrichment"] or 0),
        "credits": float(calls["credits"] or 0),
        "spend_usd": round(float(spend or 0), 4),
        "cost_per_qualified_lead": (
            round(float(spend or 0) / int(leads["qualified"]), 4) if leads["qualified"] else None
        ),
        "vendor_calls": n_calls,
        "vendor_call_errors": failed,
        "error_rate": _share(failed, n_calls),
        "first_collected_at": first.isoformat() if first else None,
        "last_collected_at": last.isoformat() if last else None,
        "rate_per_hour": rate,
    }
