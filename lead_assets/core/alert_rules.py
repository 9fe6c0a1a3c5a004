"""Alert rules: pure functions from recorded figures to "fired" / "cleared" alerts.

A sensor (or any loop) calls :func:`evaluate_alerts` with

* ``metrics``: the dict ``store.metrics.sprint_metrics`` returns (whole-sprint figures);
* ``window``: the dict ``store.window_metrics.window_metrics`` returns (last-hour figures, spend,
  vendor quota use, CRM lag, hours since the sprint started);
* ``checks`` / ``runs``: the latest asset-check evaluations and run outcomes it knows of;
* ``state``: what the previous call returned (a small JSON-able dict: keep it in a sensor cursor).

It returns the alerts to send and the new state. Each condition has a key; an alert fires when a
key's condition becomes true and clears when it becomes false, so a condition that stays true for
a hundred ticks alerts once. A condition without enough data to judge (``active=None``) changes
nothing. Nothing here reads a database or calls a vendor: the rules only see what runs recorded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ALERTS_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config" / "alerts.yaml"
STATE_VERSION = 1
FAMILIES = (
    "collection_rate",
    "error_rate",
    "spend_pace",
    "cost_per_qualified_lead",
    "vendor_quota",
    "asset_checks",
    "runs",
    "crm_sync",
)


# --------------------------------------------------------------------------------------------
# Thresholds.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertRules:
    """Every threshold, resolved (alerts.yaml, with sprint.yaml's targets filling the nulls)."""

    min_leads_per_hour: float = 700.0
    rate_window_hours: float = 1.0
    rate_grace_hours: float = 1.0
    target_collected: int = 20_000
    sprint_hours: float = 24.0
    max_error_rate: float = 0.05
    min_calls: int = 20
    budget_usd: float = 10_000.0
    min_elapsed_hours: float = 0.25
    max_cost_per_qualified_lead: float = 0.60
    min_spend_usd: float = 25.0
    min_quota_remaining_share: float = 0.10
    quota_windows: tuple[str, ...] = ("hour", "day")
    endpoint_classes: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    blocking_checks_only: bool = True
    crm_max_lag_hours: float = 2.0
    enabled: frozenset[str] = frozenset(FAMILIES)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], targets: Any, sprint_hours: float) -> AlertRules:
        """Rules from a parsed alerts.yaml; ``targets`` is sprint.yaml's (``SprintConfig.targets``)."""

        def section(name: str) -> Mapping[str, Any]:
            return raw.get(name) or {}

        def pick(value: Any, fallback: Any) -> Any:
            return fallback if value is None else value

        rate, err, pace = section("collection_rate"), section("error_rate"), section("spend_pace")
        cost, quota, checks = section("cost_per_qualified_lead"), section("vendor_quota"), section("asset_checks")
        crm = section("crm_sync")
        enabled = frozenset(f for f in FAMILIES if section(f).get("enabled", True))
        classes = {
            vendor: {cls_: tuple(str(p) for p in patterns) for cls_, patterns in (by_class or {}).items()}
            for vendor, by_class in (quota.get("endpoint_classes") or {}).items()
        }
        return cls(
            min_leads_per_hour=float(rate.get("min_leads_per_hour", 700)),
            rate_window_hours=float(rate.get("window_hours", 1)),
            rate_grace_hours=float(rate.get("grace_hours", 1)),
            target_collected=int(targets.collected),
            sprint_hours=float(sprint_hours),
            max_error_rate=float(err.get("max_share", 0.05)),
            min_calls=int(err.get("min_calls", 20)),
            budget_usd=float(pick(pace.get("budget_usd"), targets.budget_usd)),
            min_elapsed_hours=float(pace.get("min_elapsed_hours", 0.25)),
            max_cost_per_qualified_lead=float(pick(cost.get("max_usd"), targets.max_cost_per_qualified_lead)),
            min_spend_usd=float(cost.get("min_spend_usd", 25)),
            min_quota_remaining_share=float(quota.get("min_remaining_share", 0.10)),
            quota_windows=tuple(quota.get("windows") or ("hour", "day")),
            endpoint_classes=classes,
            blocking_checks_only=bool(checks.get("blocking_only", True)),
            crm_max_lag_hours=float(pick(crm.get("max_lag_hours"), targets.crm_sync_within_hours)),
            enabled=enabled,
        )


def load_alert_rules(cfg: Any, path: str | Path | None = None) -> AlertRules:
    """Parse alerts.yaml (or ``path``) against the sprint config ``cfg`` (a ``SprintConfig``)."""
    import yaml  # local: the evaluation functions need no YAML

    raw = yaml.safe_load(Path(path or ALERTS_CONFIG_PATH).read_text()) or {}
    return AlertRules.from_mapping(raw, cfg.targets, cfg.hours)


# --------------------------------------------------------------------------------------------
# Conditions and alerts.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """One condition's verdict this tick; ``active=None`` means "not enough data, keep the state"."""

    key: str
    family: str
    active: bool | None
    title: str
    fired_text: str = ""
    cleared_text: str = ""
    severity: str = "warning"
    value: float | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class Alert:
    """A transition to send: ``event`` is "fired" or "cleared"."""

    key: str
    family: str
    event: str
    severity: str
    title: str
    text: str
    value: float | None = None
    threshold: float | None = None
    since: str | None = None  # when the condition started (on "cleared": how long it lasted)

    @property
    def headline(self) -> str:
        """One line for any channel: ``[FIRING] title: text`` / ``[RESOLVED] title: text``."""
        tag = "FIRING" if self.event == "fired" else "RESOLVED"
        return f"[{tag}] {self.title}: {self.text}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class AlertDecision:
    """What :func:`evaluate_alerts` decided: alerts to send and the state to keep."""

    alerts: list[Alert]
    state: dict[str, Any]
    conditions: list[Condition]

    def cursor(self) -> str:
        """The state as a compact JSON string (a Dagster sensor cursor)."""
        return json.dumps(self.state, sort_keys=True, separators=(",", ":"))


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _usd(value: float) -> str:
    return f"${value:,.2f}"


def collection_rate(metrics: Mapping, window: Mapping, rules: AlertRules) -> list[Condition]:
    """Leads created over the sliding window below the floor, once the sprint has run an hour."""
    hours = _num(window.get("hours_since_start"))
    leads = window.get("leads_in_window")
    span = float(window.get("window_hours") or rules.rate_window_hours)
    title = f"Collection rate below {rules.min_leads_per_hour:,.0f} leads/hour"
    if hours is None or leads is None or hours < rules.rate_grace_hours:
        return [Condition("collection_rate", "collection_rate", None, title)]
    rate = float(leads) / span
    finished = (metrics.get("collected") or 0) >= rules.target_collected or hours > rules.sprint_hours
    return [
        Condition(
            "collection_rate",
            "collection_rate",
            False if finished else rate < rules.min_leads_per_hour,
            title,
            f"{rate:,.0f} leads/hour over the last {span:g} h (floor {rules.min_leads_per_hour:,.0f}).",
            f"back to {rate:,.0f} leads/hour over the last {span:g} h"
            + (" (collection finished)." if finished else "."),
            value=rate,
            threshold=rules.min_leads_per_hour,
        )
    ]


def error_rate(metrics: Mapping, window: Mapping, rules: AlertRules) -> list[Condition]:
    """Failed vendor calls over the recent window above the ceiling (given enough calls to judge)."""
    calls = int(window.get("vendor_calls_in_window") or 0)
    failed = int(window.get("vendor_call_errors_in_window") or 0)
    title = f"Vendor error rate above {rules.max_error_rate:.0%}"
    if calls < max(rules.min_calls, 1):
        return [Condition("error_rate", "error_rate", None, title)]
    share = failed / calls
    return [
        Condition(
            "error_rate",
            "error_rate",
            share > rules.max_error_rate,
            title,
            f"{failed:,} of {calls:,} vendor calls failed in the last window ({share:.1%}).",
            f"{failed:,} of {calls:,} vendor calls failed in the last window ({share:.1%}).",
            value=share,
            threshold=rules.max_error_rate,
        )
    ]


def spend_pace(metrics: Mapping, window: Mapping, rules: AlertRules) -> list[Condition]:
    """Spend so far, extrapolated over the sprint, above the budget."""
    spend = _num(window.get("spend_usd"))
    hours = _num(window.get("hours_since_start"))
    title = f"Spend pace would exceed the {_usd(rules.budget_usd)} budget"
    if spend is None or hours is None or hours < rules.min_elapsed_hours:
        return [Condition("spend_pace", "spend_pace", None, title, severity="critical")]
    # After the sprint's length, the projection is what was spent.
    projected = spend if hours >= rules.sprint_hours else spend / hours * rules.sprint_hours
    return [
        Condition(
            "spend_pace",
            "spend_pace",
            projected > rules.budget_usd,
            title,
            f"{_usd(spend)} spent in {hours:.1f} h projects to {_usd(projected)} over "
            f"{rules.sprint_hours:g} h (budget {_usd(rules.budget_usd)}).",
            f"projection back to {_usd(projected)} (budget {_usd(rules.budget_usd)}).",
            severity="critical",
            value=projected,
            threshold=rules.budget_usd,
        )
    ]


def cost_per_qualified_lead(metrics: Mapping, window: Mapping, rules: AlertRules) -> list[Condition]:
    """Spend / qualified leads above the ceiling, once enough has been spent to judge."""
    spend = _num(window.get("spend_usd"))
    qualified = int(metrics.get("qualified") or 0)
    limit = rules.max_cost_per_qualified_lead
    title = f"Cost per qualified lead above {_usd(limit)}"
    if spend is None or spend < rules.min_spend_usd:
        return [Condition("cost_per_qualified_lead", "cost_per_qualified_lead", None, title)]
    if qualified == 0:
        return [
            Condition(
                "cost_per_qualified_lead", "cost_per_qualified_lead", True, title,
                f"{_usd(spend)} spent and no qualified lead yet.", "", value=None, threshold=limit,
            )
        ]
    cost = spend / qualified
    return [
        Condition(
            "cost_per_qualified_lead",
            "cost_per_qualified_lead",
            cost > limit,
            title,
            f"{_usd(cost)} per qualified lead ({_usd(spend)} for {qualified:,} qualified leads).",
            f"back to {_usd(cost)} per qualified lead ({qualified:,} qualified leads).",
            value=cost,
            threshold=limit,
        )
    ]


def vendor_quota(metrics: Mapping, window: Mapping, rules: AlertRules) -> list[Condition]:
    """A vendor rate window (hour/day by default) with less than the minimum share left."""
    out = []
    for q in window.get("quotas") or []:
        if q.get("window") not in rules.quota_windows or not q.get("limit"):
            continue
        limit, remaining = int(q["limit"]), int(q.get("remaining") or 0)
        share = remaining / limit
        what = f"{q['vendor']} {q.get('endpoint_class', '')} per {q['window']}".replace("  ", " ")
        out.append(
            Condition(
                f"vendor_quota:{q['vendor']}:{q.get('endpoint_class', '')}:{q['window']}",
                "vendor_quota",
                share < rules.min_quota_remaining_share,
                f"Vendor quota nearly exhausted: {what}",
                f"{remaining:,} of {limit:,} calls left in the current window ({share:.0%}).",
                f"{remaining:,} of {limit:,} calls left ({share:.0%}).",
                severity="critical",
                value=share,
                threshold=rules.min_quota_remaining_share,
            )
        )
    return out


def check_failures(checks: Iterable[Mapping], rules: AlertRules) -> list[Condition]:
    """A (blocking) asset check failing; the next passing evaluation of it clears the alert."""
    out = []
    for c in checks:
        if rules.blocking_checks_only and not c.get("blocking"):
            continue
        name = f"{c['asset']}.{c['check']}"
        partition = c.get("partition")
        where = f" ({partition})" if partition else ""
        detail = f" {c['description']}" if c.get("description") else ""
        out.append(
            Condition(
                f"check:{name}:{partition or '-'}",
                "asset_checks",
                None if c.get("passed") is None else not bool(c["passed"]),
                f"Asset check {name} failing{where}",
                f"the check failed{' and blocks downstream assets' if c.get('blocking') else ''}.{detail}",
                "the check passes again.",
                severity="critical" if c.get("blocking") else "warning",
            )
        )
    return out


_RUN_VERDICT = {"FAILURE": True, "SUCCESS": False}


def run_failures(run_outcomes: Iterable[Mapping], rules: AlertRules) -> list[Condition]:
    """A failed run of a job (and partition); the next successful run of the same clears it."""
    out = []
    for r in run_outcomes:
        partition = r.get("partition")
        where = f" ({partition})" if partition else ""
        run_id = f" Run {r['run_id']}." if r.get("run_id") else ""
        error = f" {r['error']}" if r.get("error") else ""
        out.append(
            Condition(
                f"run:{r['job']}:{partition or '-'}",
                "runs",
                _RUN_VERDICT.get(str(r.get("status", "")).upper()),
                f"Run of {r['job']} failed{where}",
                f"the run failed.{run_id}{error}",
                f"a later run succeeded.{run_id}",
                severity="critical",
            )
        )
    return out


def crm_sync(metrics: Mapping, window: Mapping, rules: AlertRules) -> list[Condition]:
    """The oldest qualified lead not yet in the CRM is older than the allowed lag."""
    age = _num(window.get("oldest_unsynced_qualified_age_hours"))
    pending = int(window.get("unsynced_qualified") or 0)
    limit = rules.crm_max_lag_hours
    return [
        Condition(
            "crm_sync",
            "crm_sync",
            age is not None and age > limit,
            f"CRM sync late (over {limit:g} h)",
            f"{pending:,} qualified leads wait for the CRM; the oldest for {age or 0:.1f} h.",
            "every qualified lead older than the limit is in the CRM.",
            value=age,
            threshold=limit,
        )
    ]


# --------------------------------------------------------------------------------------------
# Evaluation.
# --------------------------------------------------------------------------------------------


def conditions_for(
    metrics: Mapping,
    window: Mapping,
    rules: AlertRules,
    checks: Iterable[Mapping] = (),
    run_outcomes: Iterable[Mapping] = (),
) -> list[Condition]:
    """Every enabled condition's verdict this tick."""
    found: list[Condition] = []
    for family, fn in (
        ("collection_rate", collection_rate),
        ("error_rate", error_rate),
        ("spend_pace", spend_pace),
        ("cost_per_qualified_lead", cost_per_qualified_lead),
        ("vendor_quota", vendor_quota),
        ("crm_sync", crm_sync),
    ):
        if family in rules.enabled:
            found += fn(metrics, window, rules)
    if "asset_checks" in rules.enabled:
        found += check_failures(checks, rules)
    if "runs" in rules.enabled:
        found += run_failures(run_outcomes, rules)
    return found


def empty_state() -> dict[str, Any]:
    """The state before the first tick."""
    return {"v": STATE_VERSION, "active": {}}


def evaluate_alerts(
    metrics: Mapping,
    window: Mapping,
    state: Mapping | str | None = None,
    rules: AlertRules | None = None,
    *,
    checks: Iterable[Mapping] = (),
    runs: Iterable[Mapping] = (),
    now: datetime | None = None,
) -> AlertDecision:
    """Alerts to send this tick and the new state (see the module docs).

    ``state`` may be the dict or the JSON string a previous decision returned (or None).
    """
    rules = rules or AlertRules()
    if isinstance(state, str):
        state = json.loads(state) if state.strip() else None
    active: dict[str, dict] = dict((state or {}).get("active") or {})
    stamp = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    conditions = conditions_for(metrics, window, rules, checks, runs)
    alerts: list[Alert] = []
    for c in conditions:
        was = c.key in active
        if c.active is None or c.active == was:
            continue  # no verdict, or no change: nothing to say
        if c.active:
            active[c.key] = {"since": stamp, "family": c.family, "title": c.title}
            alerts.append(Alert(c.key, c.family, "fired", c.severity, c.title, c.fired_text,
                                c.value, c.threshold, stamp))
        else:
            started = active.pop(c.key)
            alerts.append(Alert(c.key, c.family, "cleared", c.severity, c.title, c.cleared_text,
                                c.value, c.threshold, started.get("since")))
    # A family switched off in the config forgets its open alerts quietly.
    active = {k: v for k, v in active.items() if v.get("family") in rules.enabled}
    return AlertDecision(alerts, {"v": STATE_VERSION, "active": active}, conditions)
