"""The numbers behind the hourly and final reports, gathered from the store by SQL aggregates.

Headline figures come from ``sprint_metrics`` / ``sprint_status`` (the same functions behind
``lead-sprint status``, the assets' metadata and the checks), spend from
``window_metrics.spend_by_vendor``; this module only adds the breakdowns (by source, role, metro,
vendor, quarantine reason, quality band, minute). Every ratio goes through :func:`ratio`, so an
empty sprint yields None ("none yet" in the templates), never a ZeroDivisionError.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from lead_assets.core.alert_rules import load_alert_rules
from lead_assets.core.normalise import us_state_code
from lead_assets.status import sprint_status
from lead_assets.store.lead_store import LeadStore, to_utc
from lead_assets.store.metrics import sprint_metrics
from lead_assets.store.window_metrics import has_table, spend_by_vendor, unit_price, window_metrics

TOP_N = 10
QUALITY_BANDS = tuple((lo, lo + 9 if lo < 90 else 100) for lo in range(0, 100, 10))
NO_ROLE = "(no target role)"


def ratio(part: float | int | None, whole: float | int | None) -> float | None:
    """part / whole, or None when there is nothing to divide by."""
    if part is None or not whole:
        return None
    return float(part) / float(whole)


@dataclass
class ReportData:
    """Everything a report shows; JSON-able through :meth:`to_dict`."""

    generated_at: str
    sprint: dict[str, Any]
    metrics: dict[str, Any]
    status: dict[str, Any]
    window: dict[str, Any]
    spend: dict[str, Any]
    targets: list[dict[str, Any]]
    by_source: list[dict[str, Any]] = field(default_factory=list)
    by_role: list[dict[str, Any]] = field(default_factory=list)
    by_metro: list[dict[str, Any]] = field(default_factory=list)
    errors_by_vendor: list[dict[str, Any]] = field(default_factory=list)
    paid_steps: list[dict[str, Any]] = field(default_factory=list)
    enrichment_steps: list[dict[str, Any]] = field(default_factory=list)
    quarantine_reasons: list[dict[str, Any]] = field(default_factory=list)
    quality_bands: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    crm: dict[str, Any] = field(default_factory=dict)
    top_companies: list[dict[str, Any]] = field(default_factory=list)
    top_leads: list[dict[str, Any]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """No lead stored yet."""
        return not self.metrics.get("unique")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Dialect helpers (the store runs on PostgreSQL and SQLite).
# --------------------------------------------------------------------------------------------


def _minute(store: LeadStore, column: str) -> str:
    """SQL for a timestamp column truncated to the minute, as 'YYYY-MM-DDTHH:MM' text (UTC)."""
    if store.dialect == "postgresql":
        return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI')"""
    return f"substr({column}, 1, 16)"  # SQLite stores fixed-width ISO-8601 UTC text


def _hours_between(store: LeadStore, later: str, earlier: str) -> str:
    if store.dialect == "postgresql":
        return f"EXTRACT(EPOCH FROM ({later} - {earlier})) / 3600.0"
    return f"(julianday({later}) - julianday({earlier})) * 24.0"


def _rows(store: LeadStore, sql: str, params: dict | None = None) -> list[dict[str, Any]]:
    with store._read() as conn:
        return [dict(r) for r in conn.execute(text(sql), params or {}).mappings()]


# --------------------------------------------------------------------------------------------
# Breakdowns.
# --------------------------------------------------------------------------------------------

_WITH_EMAIL = "CASE WHEN COALESCE(email, '') <> '' AND COALESCE(email_status, '') <> 'undeliverable' THEN 1 ELSE 0 END"
_QUALIFIED = "CASE WHEN is_qualified THEN 1 ELSE 0 END"


def by_source(store: LeadStore, spend: dict[str, float]) -> list[dict[str, Any]]:
    """Per source: records seen, leads first found, qualified leads, quality, email, cost."""
    seen = {r["source"]: r for r in _rows(store, """
        SELECT source, count(*) AS records, count(DISTINCT lead_id) AS leads_seen
        FROM lead_sources GROUP BY source""")}
    first = {r["source"]: r for r in _rows(store, f"""
        SELECT data_source AS source, count(*) AS leads, sum({_QUALIFIED}) AS qualified,
               avg(data_quality_score) AS avg_quality, sum({_WITH_EMAIL}) AS with_email
        FROM leads GROUP BY data_source""")}
    out = []
    for source in sorted(set(seen) | set(first), key=lambda s: str(s)):
        s, f = seen.get(source, {}), first.get(source, {})
        leads, qualified = int(f.get("leads") or 0), int(f.get("qualified") or 0)
        cost = float(spend.get(str(source), 0.0))
        out.append({
            "source": source or "(unknown)",
            "records": int(s.get("records") or 0),
            "leads_seen": int(s.get("leads_seen") or 0),
            "leads": leads,
            "qualified": qualified,
            "avg_quality": float(f["avg_quality"]) if f.get("avg_quality") is not None else None,
            "email_share": ratio(f.get("with_email"), leads),
            "cost_usd": cost,
            "cost_per_lead": ratio(cost, leads) if cost else None,
            "cost_per_qualified": ratio(cost, qualified) if cost else None,
        })
    return out


def by_role(store: LeadStore, roles: tuple[str, ...]) -> list[dict[str, Any]]:
    """Leads and qualified leads per target role; every configured role listed, even with none."""
    found = {r["role"]: r for r in _rows(store, f"""
        SELECT target_role AS role, count(*) AS leads, sum({_QUALIFIED}) AS qualified
        FROM leads GROUP BY target_role""")}
    out = [{"role": role, "leads": int(found.get(role, {}).get("leads") or 0),
            "qualified": int(found.get(role, {}).get("qualified") or 0), "target": True} for role in roles]
    others = [r for k, r in found.items() if k not in roles]
    if others:
        out.append({"role": NO_ROLE, "leads": sum(int(r["leads"] or 0) for r in others),
                    "qualified": sum(int(r["qualified"] or 0) for r in others), "target": False})
    return out


def _metro_key(city: Any, state: Any) -> tuple[str, str]:
    return (str(city or "").strip().lower(), us_state_code(state) or str(state or "").strip().upper())


def by_metro(store: LeadStore, locations: tuple[str, ...]) -> list[dict[str, Any]]:
    """Leads per target metro ("City, State" from the brief), plus everything else as one row."""
    rows = _rows(store, f"""
        SELECT location_city AS city, location_state AS state, count(*) AS leads, sum({_QUALIFIED}) AS qualified
        FROM leads GROUP BY location_city, location_state""")
    counts: dict[tuple[str, str], list[int]] = {}
    for r in rows:
        key = _metro_key(r["city"], r["state"])
        acc = counts.setdefault(key, [0, 0])
        acc[0] += int(r["leads"] or 0)
        acc[1] += int(r["qualified"] or 0)
    out, used = [], set()
    for metro in locations:
        city, _, state = metro.partition(",")
        key = _metro_key(city, state)
        used.add(key)
        leads, qualified = counts.get(key, [0, 0])
        out.append({"metro": metro, "leads": leads, "qualified": qualified, "target": True})
    rest = [v for k, v in counts.items() if k not in used]
    if rest:
        out.append({"metro": "(outside the target metros)", "leads": sum(v[0] for v in rest),
                    "qualified": sum(v[1] for v in rest), "target": False})
    return out


def errors_by_vendor(store: LeadStore) -> list[dict[str, Any]]:
    """Calls, failures, retries (polls for a pending answer are none) and the top error messages per vendor."""
    calls = _rows(store, """
        SELECT vendor, count(*) AS calls, COALESCE(sum(attempts - polls), 0) AS attempts,
               sum(CASE WHEN outcome = 'failed' THEN 1 ELSE 0 END) AS failed,
               sum(CASE WHEN outcome = 'retried_ok' THEN 1 ELSE 0 END) AS retried_ok
        FROM vendor_calls GROUP BY vendor ORDER BY vendor""")
    errors = _rows(store, """
        SELECT vendor, error, count(*) AS n FROM vendor_calls
        WHERE error IS NOT NULL AND error <> '' GROUP BY vendor, error ORDER BY n DESC""")
    out = []
    for c in calls:
        n, failed = int(c["calls"] or 0), int(c["failed"] or 0)
        top = [{"error": str(e["error"])[:200], "count": int(e["n"])} for e in errors if e["vendor"] == c["vendor"]]
        out.append({
            "vendor": c["vendor"],
            "calls": n,
            "failed": failed,
            "retried_ok": int(c["retried_ok"] or 0),
            "retries": max(int(c["attempts"] or 0) - n, 0),
            "error_rate": ratio(failed, n),
            "top_errors": top[:3],
        })
    return out


def paid_steps(store: LeadStore, prices: dict[str, float]) -> list[dict[str, Any]]:
    """Each paid vendor endpoint: calls, units and cost (cost ledger first, else credits x unit price)."""
    ledger_rows = []
    if has_table(store, "cost_ledger"):
        ledger_rows = _rows(store, """
            SELECT vendor, endpoint, count(*) AS calls, COALESCE(sum(units), 0) AS units,
                   COALESCE(sum(cost_usd), 0) AS cost FROM cost_ledger
            GROUP BY vendor, endpoint ORDER BY vendor, endpoint""")
    ledgered = {r["vendor"] for r in ledger_rows}
    out = [{"vendor": r["vendor"], "endpoint": r["endpoint"], "calls": int(r["calls"]), "units": float(r["units"]),
            "cost_usd": float(r["cost"]), "source": "cost_ledger"} for r in ledger_rows]
    for r in _rows(store, """
            SELECT vendor, endpoint, count(*) AS calls, COALESCE(sum(credits), 0) AS credits
            FROM vendor_calls GROUP BY vendor, endpoint ORDER BY vendor, endpoint"""):
        credits = float(r["credits"] or 0)
        if credits <= 0 or r["vendor"] in ledgered:
            continue
        price = unit_price(prices, r["vendor"]) or 0.0
        out.append({"vendor": r["vendor"], "endpoint": r["endpoint"], "calls": int(r["calls"]), "units": credits,
                    "cost_usd": credits * price, "source": "credits_estimate"})
    return out


def enrichment_steps(store: LeadStore) -> list[dict[str, Any]]:
    """Per enrichment provider and field (enrichment ledger): lookups, finds, cost per find."""
    if not has_table(store, "enrichment_ledger"):
        return []
    rows = _rows(store, """
        SELECT provider, field, count(*) AS lookups,
               sum(CASE WHEN outcome = 'found' THEN 1 ELSE 0 END) AS found,
               sum(CASE WHEN outcome = 'failed' THEN 1 ELSE 0 END) AS failed,
               COALESCE(sum(cost_usd), 0) AS cost
        FROM enrichment_ledger GROUP BY provider, field ORDER BY provider, field""")
    return [{"provider": r["provider"], "field": r["field"], "lookups": int(r["lookups"]),
             "found": int(r["found"] or 0), "failed": int(r["failed"] or 0), "cost_usd": float(r["cost"]),
             "found_share": ratio(r["found"], r["lookups"]),
             "cost_per_found": ratio(r["cost"], r["found"]) if float(r["cost"]) else None} for r in rows]


def quarantine_reasons(store: LeadStore) -> list[dict[str, Any]]:
    """Quarantined records per reason, most frequent first."""
    rows = _rows(store, "SELECT reason, count(*) AS n FROM quarantine GROUP BY reason ORDER BY n DESC, reason")
    return [{"reason": str(r["reason"])[:200], "count": int(r["n"])} for r in rows[: TOP_N * 2]]


def quality_bands(store: LeadStore) -> list[dict[str, Any]]:
    """Leads per ten-point quality band (0-9 ... 90-100)."""
    rows = _rows(store, """SELECT data_quality_score AS score, count(*) AS n FROM leads
                           WHERE data_quality_score IS NOT NULL GROUP BY data_quality_score""")
    out = []
    for lo, hi in QUALITY_BANDS:
        n = sum(int(r["n"]) for r in rows if lo <= int(r["score"]) <= hi)
        out.append({"band": f"{lo}-{hi}", "low": lo, "high": hi, "leads": n})
    return out


def timeline(store: LeadStore) -> list[dict[str, Any]]:
    """Records seen and leads created per minute, with running totals (oldest first)."""
    records = {r["t"]: int(r["n"]) for r in _rows(
        store, f"SELECT {_minute(store, 'first_seen_at')} AS t, count(*) AS n FROM lead_sources GROUP BY 1")}
    leads = {r["t"]: int(r["n"]) for r in _rows(
        store, f"SELECT {_minute(store, 'created_at')} AS t, count(*) AS n FROM leads GROUP BY 1")}
    out, total_records, total_leads = [], 0, 0
    for minute in sorted(set(records) | set(leads)):
        total_records += records.get(minute, 0)
        total_leads += leads.get(minute, 0)
        out.append({"minute": f"{minute}:00+00:00", "records": records.get(minute, 0),
                    "leads": leads.get(minute, 0), "records_total": total_records, "leads_total": total_leads})
    return out


def crm_outcome(store: LeadStore, window: dict[str, Any], within_hours: float) -> dict[str, Any]:
    """CRM sync: synced and pending qualified leads, the worst lag, the share synced in time."""
    lag = _hours_between(store, "crm_sync_date", "created_at")
    row = _rows(store, f"""
        SELECT sum({_QUALIFIED}) AS qualified,
               sum(CASE WHEN crm_synced THEN 1 ELSE 0 END) AS synced,
               sum(CASE WHEN is_qualified AND crm_synced THEN 1 ELSE 0 END) AS qualified_synced,
               sum(CASE WHEN is_qualified AND crm_synced AND crm_sync_date IS NOT NULL
                         AND {lag} <= :within THEN 1 ELSE 0 END) AS in_time,
               max(CASE WHEN crm_synced AND crm_sync_date IS NOT NULL THEN {lag} END) AS max_lag
        FROM leads""", {"within": within_hours})[0]
    qualified, qualified_synced = int(row["qualified"] or 0), int(row["qualified_synced"] or 0)
    pending_age = window.get("oldest_unsynced_qualified_age_hours")
    lags = [v for v in (row["max_lag"], pending_age) if v is not None]
    return {
        "qualified": qualified,
        "synced": int(row["synced"] or 0),
        "qualified_synced": qualified_synced,
        "pending": int(window.get("unsynced_qualified") or 0),
        "oldest_pending_age_hours": pending_age,
        "max_sync_lag_hours": float(row["max_lag"]) if row["max_lag"] is not None else None,
        "worst_lag_hours": float(max(lags)) if lags else None,
        "in_time_share": ratio(row["in_time"], qualified_synced),
        "within_hours": within_hours,
    }


def top_companies(store: LeadStore) -> list[dict[str, Any]]:
    """The companies with the most leads."""
    rows = _rows(store, f"""
        SELECT company_name, count(*) AS n FROM leads WHERE COALESCE(company_name, '') <> ''
        GROUP BY company_name ORDER BY n DESC, company_name LIMIT {TOP_N}""")
    return [{"company": r["company_name"], "leads": int(r["n"])} for r in rows]


def top_leads(store: LeadStore, limit: int = 5) -> list[dict[str, Any]]:
    """A sample: the highest-scoring leads (vendor-supplied text, escaped by the templates)."""
    return _rows(store, f"""
        SELECT full_name, job_title, company_name, location_city, location_state, data_quality_score AS score,
               data_source AS source
        FROM leads ORDER BY data_quality_score DESC, created_at, lead_id LIMIT {int(limit)}""")


# --------------------------------------------------------------------------------------------
# Headline figures against the targets.
# --------------------------------------------------------------------------------------------


def target_rows(cfg: Any, metrics: dict, spend: dict, crm: dict) -> list[dict[str, Any]]:
    """Every target of the brief with the sprint's value and whether it is met (None: none yet)."""
    t = cfg.targets

    def row(name: str, label: str, value: Any, target: float, kind: str, fmt: str) -> dict[str, Any]:
        met = None if value is None else (value >= target if kind == "min" else value <= target)
        return {"name": name, "label": label, "value": value, "target": target, "kind": kind, "fmt": fmt,
                "met": met}

    no_leads = not metrics.get("unique")
    return [
        row("collected", "Leads collected", metrics["collected"], t.collected, "min", "count"),
        row("unique", "Unique leads", metrics["unique"], t.unique, "min", "count"),
        row("avg_quality_score", "Average quality score", metrics["avg_quality_score"], t.avg_quality_score,
            "min", "score"),
        row("email_availability", "Email availability", metrics["email_availability"], t.email_availability,
            "min", "pct"),
        row("company_completeness", "Company data completeness", metrics["company_completeness"],
            t.company_completeness, "min", "pct"),
        row("validation_rate", "Validation rate", metrics["validation_rate"], t.validation_rate, "min", "pct"),
        row("duplicate_rate", "Duplicate rate", metrics["duplicate_rate"], t.max_duplicate_rate, "max", "pct"),
        row("cost_per_qualified_lead", "Cost per qualified lead", spend["cost_per_qualified_lead"],
            t.max_cost_per_qualified_lead, "max", "usd"),
        row("budget", "Spend", None if no_leads and not spend["total_usd"] else spend["total_usd"],
            t.budget_usd, "max", "usd"),
        row("crm_sync", "CRM sync lag (worst, hours)", crm["worst_lag_hours"], t.crm_sync_within_hours,
            "max", "hours"),
    ]


def gather_report_data(store: LeadStore, cfg: Any, now: datetime | None = None, rules: Any = None) -> ReportData:
    """Every figure of a report, read once (``rules``: AlertRules, default from alerts.yaml)."""
    now = to_utc(now) if now is not None else datetime.now(UTC)
    rules = rules or load_alert_rules(cfg)
    metrics = sprint_metrics(store)
    status = sprint_status(store, cfg, now)
    window = window_metrics(store, now, cfg=cfg, rules=rules)
    by_vendor, spend_source = spend_by_vendor(store, cfg.prices_usd)
    total = sum(by_vendor.values())
    hours = window.get("hours_since_start")
    projected = None
    # Same rule as the spend-pace alert: a projection from the first minutes is noise.
    if hours is not None and hours >= rules.min_elapsed_hours and total:
        projected = total if hours >= cfg.hours else total / hours * cfg.hours
    spend = {
        "total_usd": total,
        "by_vendor": by_vendor,
        "source": spend_source,
        "budget_usd": cfg.targets.budget_usd,
        "budget_used_share": ratio(total, cfg.targets.budget_usd),
        "projected_usd": projected,
        "cost_per_qualified_lead": ratio(total, metrics["qualified"]) if total else None,
        "cost_per_lead": ratio(total, metrics["unique"]) if total else None,
    }
    crm = crm_outcome(store, window, cfg.targets.crm_sync_within_hours)
    started = window.get("started_at")
    return ReportData(
        generated_at=now.isoformat(timespec="seconds"),
        sprint={
            "version": cfg.version,
            "start_partition": cfg.start,
            "hours": cfg.hours,
            "started_at": started,
            "ends_at": (to_utc(started) + timedelta(hours=cfg.hours)).isoformat() if started else None,
            "hours_since_start": hours,
        },
        metrics=metrics,
        status=status,
        window=window,
        spend=spend,
        targets=target_rows(cfg, metrics, spend, crm),
        by_source=by_source(store, by_vendor),
        by_role=by_role(store, cfg.role_names),
        by_metro=by_metro(store, cfg.locations),
        errors_by_vendor=errors_by_vendor(store),
        paid_steps=paid_steps(store, cfg.prices_usd),
        enrichment_steps=enrichment_steps(store),
        quarantine_reasons=quarantine_reasons(store),
        quality_bands=quality_bands(store),
        timeline=timeline(store),
        crm=crm,
        top_companies=top_companies(store),
        top_leads=top_leads(store),
    )
