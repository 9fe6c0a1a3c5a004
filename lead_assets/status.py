"""The sprint's status: the store's metrics against the targets, for the terminal and `--json`.

JSON keys are stable (documented in the README); values are numbers or null, never NaN.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

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
