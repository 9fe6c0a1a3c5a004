"""Recent-window figures for the alert rules: what the last hour, the budget and the quotas look like.

Everything is read from what runs recorded (``leads``, ``lead_sources``, ``vendor_calls`` and, once
it exists, ``cost_ledger``); nothing calls a vendor. Counts over the window come from
``sprint_metrics(store, since=...)``, so the alerts, ``lead-sprint status`` and the reports define a
lead, a record and a failed call the same way.

Spend: the ``cost_ledger`` table (vendor, cost_usd, called_at) for every vendor it has rows for;
for a vendor it has none for (or before the table exists), an estimate from
``vendor_calls.credits`` times the sprint brief's price of that vendor's unit
(``prices_usd.<vendor>_*``), labelled ``spend_source`` "credits_estimate" (or "mixed") so
nobody mistakes it for the ledger.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import inspect, text

from lead_assets.store.lead_store import LeadStore, to_utc, ts_param
from lead_assets.store.metrics import sprint_metrics

WINDOW_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def has_table(store: LeadStore, name: str) -> bool:
    """Whether the store has table ``name`` (checked each time: a migration may add it mid-sprint)."""
    return inspect(store.engine).has_table(name)


def unit_price(prices_usd: Mapping[str, float], vendor: str) -> float | None:
    """The brief's price of one paid unit of ``vendor`` (``apollo`` -> ``prices_usd.apollo_credit``)."""
    for key, price in prices_usd.items():
        if key.startswith(f"{vendor}_"):
            return float(price)
    return None


def spend_by_vendor(
    store: LeadStore, prices_usd: Mapping[str, float], since: datetime | None = None
) -> tuple[dict[str, float], str]:
    """USD spent per vendor (optionally since a time) and where the figures come from.

    Per vendor: the ``cost_ledger`` total when the ledger holds rows for that vendor, else
    ``vendor_calls.credits`` times the brief's unit price. The label is "cost_ledger",
    "credits_estimate" or "mixed", so a report can say which it shows.
    """
    params = {"since": ts_param(since, store.dialect)} if since else {}
    where = "WHERE called_at >= :since" if since else ""
    ledger: dict[str, float] = {}
    if has_table(store, "cost_ledger"):
        sql = f"SELECT vendor, COALESCE(sum(cost_usd), 0) FROM cost_ledger {where} GROUP BY vendor"
        with store._read() as conn:
            ledger = {str(v): float(usd or 0) for v, usd in conn.execute(text(sql), params).all()}
    sql = f"SELECT vendor, COALESCE(sum(credits), 0) FROM vendor_calls {where} GROUP BY vendor"
    with store._read() as conn:
        credits = {str(v): float(c or 0) for v, c in conn.execute(text(sql), params).all()}
    spend = dict(ledger)
    estimated = set()
    for vendor, units in credits.items():
        if vendor not in ledger:
            spend[vendor] = units * (unit_price(prices_usd, vendor) or 0.0)
            estimated.add(vendor)
    if not estimated:
        source = "cost_ledger"
    elif not ledger:
        source = "credits_estimate"
    else:
        source = "mixed"
    return spend, source


def sprint_started_at(store: LeadStore) -> datetime | None:
    """When the sprint's first recorded activity happened (first vendor call or first lead)."""
    with store._read() as conn:
        first_call = conn.execute(text("SELECT min(called_at) FROM vendor_calls")).scalar_one()
        first_lead = conn.execute(text("SELECT min(created_at) FROM leads")).scalar_one()
    stamps = [s for s in (to_utc(first_call), to_utc(first_lead)) if s is not None]
    return min(stamps) if stamps else None


def crm_backlog(store: LeadStore, now: datetime) -> dict[str, Any]:
    """Qualified leads not yet in the CRM: how many, and how long the oldest has waited."""
    sql = "SELECT count(*) AS n, min(created_at) AS oldest FROM leads WHERE is_qualified AND NOT crm_synced"
    with store._read() as conn:
        row = conn.execute(text(sql)).mappings().one()
    oldest = to_utc(row["oldest"])
    return {
        "unsynced_qualified": int(row["n"] or 0),
        "oldest_unsynced_qualified_at": oldest.isoformat() if oldest else None,
        "oldest_unsynced_qualified_age_hours": (now - oldest).total_seconds() / 3600 if oldest else None,
    }


def endpoint_class(endpoint: str, classes: Mapping[str, Sequence[str]]) -> str | None:
    """The rate-limit class of an endpoint: the first class with a matching substring (or "*")."""
    for cls, patterns in classes.items():
        if any(p == "*" or p in endpoint for p in patterns):
            return cls
    return None


def quota_usage(
    store: LeadStore,
    rate_limits: Mapping[str, Mapping[str, Mapping[str, int | None]]],
    endpoint_classes: Mapping[str, Mapping[str, Sequence[str]]],
    now: datetime,
    windows: Sequence[str] = ("hour", "day"),
) -> list[dict[str, Any]]:
    """Calls used and left in each vendor's current fixed window (epoch-aligned, as vendors count).

    Attempts are counted, not calls, because a retried call spent quota on every attempt. A vendor
    without an ``endpoint_classes`` entry counts every call against each of its classes.
    """
    out = []
    epoch = now.timestamp()
    for name in windows:
        seconds = WINDOW_SECONDS.get(name)
        if seconds is None:
            continue
        start = datetime.fromtimestamp(math.floor(epoch / seconds) * seconds, UTC)
        sql = """SELECT vendor, endpoint, COALESCE(sum(attempts), 0) AS used FROM vendor_calls
                 WHERE called_at >= :start GROUP BY vendor, endpoint"""
        with store._read() as conn:
            rows = conn.execute(text(sql), {"start": ts_param(start, store.dialect)}).all()
        for vendor, by_class in rate_limits.items():
            classes = endpoint_classes.get(vendor)
            for cls, limits in by_class.items():
                limit = (limits or {}).get(name)
                if not limit:
                    continue
                used = sum(
                    int(n)
                    for v, endpoint, n in rows
                    if v == vendor and (classes is None or endpoint_class(str(endpoint), classes) == cls)
                )
                out.append(
                    {
                        "vendor": vendor,
                        "endpoint_class": cls,
                        "window": name,
                        "window_start": start.isoformat(),
                        "limit": int(limit),
                        "used": used,
                        "remaining": max(int(limit) - used, 0),
                    }
                )
    return out


def window_metrics(
    store: LeadStore,
    now: datetime | None = None,
    hours: float = 1.0,
    *,
    cfg: Any,
    rules: Any = None,
    started_at: datetime | None = None,
) -> dict[str, Any]:
    """The figures :func:`lead_assets.core.alert_rules.evaluate_alerts` reads as ``window``.

    ``cfg`` is the sprint brief (SprintConfig), ``rules`` the AlertRules (default: loaded
    from alerts.yaml); ``started_at`` overrides the sprint start (default: first recorded activity).
    """
    if rules is None:
        from lead_assets.core.alert_rules import load_alert_rules

        rules = load_alert_rules(cfg)
    now = to_utc(now) if now is not None else datetime.now(UTC)
    start = now - timedelta(hours=hours)
    recent = sprint_metrics(store, since=start)
    began = to_utc(started_at) if started_at is not None else sprint_started_at(store)
    by_vendor, source = spend_by_vendor(store, cfg.prices_usd)
    calls, failed = recent["vendor_calls"], recent["vendor_call_errors"]
    return {
        "now": now.isoformat(),
        "window_hours": hours,
        "window_start": start.isoformat(),
        "started_at": began.isoformat() if began else None,
        "hours_since_start": max((now - began).total_seconds() / 3600, 0.0) if began else None,
        "leads_in_window": recent["unique"],
        "records_in_window": recent["collected"],
        "leads_per_hour_in_window": recent["unique"] / hours if hours else None,
        "vendor_calls_in_window": calls,
        "vendor_call_errors_in_window": failed,
        "error_rate_in_window": failed / calls if calls else None,
        "spend_usd": round(sum(by_vendor.values()), 6),
        "spend_by_vendor": by_vendor,
        "spend_source": source,
        **crm_backlog(store, now),
        "quotas": quota_usage(store, cfg.rate_limits, rules.endpoint_classes, now, rules.quota_windows),
    }
