"""The sprint's status: the store's metrics against the targets, for the terminal and `--json`.

JSON keys are stable (documented in the README); values are numbers or null, never NaN.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from lead_assets.config.settings import SprintConfig
from lead_assets.store.metrics import sprint_metrics

STATUS_KEYS = (
    "collected", "unique", "duplicates", "duplicate_rate", "quarantined", "avg_quality_score",
    "email_availability", "company_completeness", "validation_rate", "required_fields_rate", "qualified",
    "needs_enrichment", "credits", "spend_usd", "cost_per_qualified_lead", "vendor_calls", "vendor_call_errors", "error_rate", "rate_per_hour",
    "first_collected_at", "last_collected_at",
)


def sprint_status(store, cfg: SprintConfig, now: datetime | None = None) -> dict[str, Any]:
    """Metrics, progress toward the collection target and the projected finish at the current rate."""
    m = sprint_metrics(store)
    status: dict[str, Any] = {k: m.get(k) for k in STATUS_KEYS}
    t = cfg.targets
    status["target_collected"] = t.collected
    status["target_unique"] = t.unique
    status["progress_pct"] = round(100.0 * (m["collected"] or 0) / t.collected, 2)
    status["projected_finish_at"] = None
    rate = m.get("rate_per_hour")
    remaining = max(t.collected - (m["collected"] or 0), 0)
    if remaining == 0:
        status["projected_finish_at"] = m.get("last_collected_at")
    elif rate:
        now = now or datetime.now(UTC)
        status["projected_finish_at"] = (now + timedelta(hours=remaining / rate)).isoformat(timespec="seconds")
    status["budget_usd"] = t.budget_usd
    status["budget_used_pct"] = round(100.0 * (m.get("spend_usd") or 0) / t.budget_usd, 2) if t.budget_usd else None
    status["targets"] = {
        "max_cost_per_qualified_lead": t.max_cost_per_qualified_lead,
        "avg_quality_score": t.avg_quality_score,
        "email_availability": t.email_availability,
        "company_completeness": t.company_completeness,
        "validation_rate": t.validation_rate,
        "max_duplicate_rate": t.max_duplicate_rate,
    }
    return status


def crm_lag(store) -> dict[str, Any]:
    """How long qualified leads waited from collection to the CRM's confirmation (hours), and how many wait still."""
    df = store.qualified_sync_times()
    synced = df[df["state"].isin(["created", "updated"]) & df["synced_at"].notna()]
    # SQLite returns timestamps this table does not declare as text: parse both sides the same way
    def utc(column):
        return pd.to_datetime(synced[column], utc=True, format="ISO8601")

    lag = (utc("synced_at") - utc("created_at")).dt.total_seconds() / 3600
    return {
        "crm_synced_qualified": len(synced),
        "crm_lag_hours_max": round(float(lag.max()), 3) if len(lag) else None,
        "crm_lag_hours_p95": round(float(lag.quantile(0.95)), 3) if len(lag) else None,
        "crm_unsynced_qualified": int(len(df) - len(synced)),
    }


def target_results(s: dict[str, Any], cfg: SprintConfig) -> list[tuple[str, str, str, bool | None]]:
    """Every target of the brief: (target, value, goal, met); met is None when there is nothing to judge yet."""
    t = cfg.targets

    def judge(value, ok) -> bool | None:
        return None if value is None else bool(ok(value))

    lag = s.get("crm_lag_hours_max")
    cpql, spend = s.get("cost_per_qualified_lead"), s.get("spend_usd") or 0.0
    return [
        ("collected", f"{s['collected']:,}", f">= {t.collected:,}", s["collected"] >= t.collected),
        ("unique", f"{s['unique']:,}", f">= {t.unique:,}", s["unique"] >= t.unique),
        ("avg quality score", _num(s["avg_quality_score"], "{:.1f}"), f">= {t.avg_quality_score:g}",
         judge(s["avg_quality_score"], lambda v: v >= t.avg_quality_score)),
        ("email available", _pct(s["email_availability"]), f">= {_pct(t.email_availability)}",
         judge(s["email_availability"], lambda v: v >= t.email_availability)),
        ("company data complete", _pct(s["company_completeness"]), f">= {_pct(t.company_completeness)}",
         judge(s["company_completeness"], lambda v: v >= t.company_completeness)),
        ("validation rate", _pct(s["validation_rate"]), f">= {_pct(t.validation_rate)}",
         judge(s["validation_rate"], lambda v: v >= t.validation_rate)),
        ("cost per qualified lead", _num(cpql, "${:,.3f}"), f"< ${t.max_cost_per_qualified_lead:.2f}",
         judge(cpql, lambda v: v < t.max_cost_per_qualified_lead)),
        ("spend", f"${spend:,.2f}", f"<= ${t.budget_usd:,.0f}", spend <= t.budget_usd),
        ("CRM within", _num(lag, "{:.2f} h (slowest lead)"), f"<= {t.crm_sync_within_hours:g} h",
         judge(lag, lambda v: v <= t.crm_sync_within_hours)),
    ]


def format_targets(rows: list[tuple[str, str, str, bool | None]]) -> str:
    width = max(len(r[0]) for r in rows)
    mark = {True: "met", False: "NOT MET", None: "-"}
    return "\n".join(f"{name.ljust(width)}  {value:>24}  {goal:>10}  {mark[met]}" for name, value, goal, met in rows)


def _num(v, fmt="{:,}") -> str:
    return "none yet" if v is None else fmt.format(v)


def _pct(v: float | None) -> str:
    return "none yet" if v is None else f"{100 * v:.1f} %"


def format_status(s: dict[str, Any]) -> str:
    """A short, aligned text block an operator can read at a glance."""
    t = s["targets"]
    def num(v, fmt="{:,}"):
        return "none yet" if v is None else fmt.format(v)
    rows = [
        ("collected", f"{s['collected']:,} / {s['target_collected']:,}  ({s['progress_pct']:.1f} %)"),
        ("unique", f"{s['unique']:,} / {s['target_unique']:,}"),
        ("duplicates", f"{s['duplicates']:,}  (rate {_pct(s['duplicate_rate'])}, max {_pct(t['max_duplicate_rate'])})"),
        ("quarantined", f"{s['quarantined']:,}"),
        ("avg quality", f"{num(s['avg_quality_score'], '{:.1f}')}  (target {t['avg_quality_score']})"),
        ("email available", f"{_pct(s['email_availability'])}  (target {_pct(t['email_availability'])})"),
        ("company complete", f"{_pct(s['company_completeness'])}  (target {_pct(t['company_completeness'])})"),
        ("validation rate", f"{_pct(s['validation_rate'])}  (target {_pct(t['validation_rate'])})"),
        ("qualified", f"{s['qualified']:,}"),
        ("spend", f"${s['spend_usd'] or 0:,.2f} of ${s['budget_usd']:,.0f} budget  ({s['budget_used_pct'] or 0:.1f} %)"),
        ("cost / qualified", f"{num(s['cost_per_qualified_lead'], '${:,.3f}')}  "
                             f"(max ${t['max_cost_per_qualified_lead']:.2f})"),
        ("vendor calls", f"{s['vendor_calls']:,}  ({s['vendor_call_errors']:,} failed, {_pct(s['error_rate'])})"),
        ("rate", f"{num(s['rate_per_hour'], '{:,.0f}')} leads/hour"),
        ("projected finish", s["projected_finish_at"] or "none yet"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)
