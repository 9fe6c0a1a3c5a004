"""Alert rules: every condition fires once when it starts and once when it clears, never every tick.

The rules are pure functions of (metrics, window, checks, runs, state); the state travels as the
JSON string a sensor cursor would hold. The last tests fill a real store (PostgreSQL and SQLite)
and check what ``window_metrics`` hands the rules.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import text

from lead_assets.config.settings import sprint_config
from lead_assets.core.alert_rules import AlertRules, evaluate_alerts, load_alert_rules
from lead_assets.store.window_metrics import has_table, spend_by_vendor, window_metrics

CFG = sprint_config()
RULES = load_alert_rules(CFG)
NOW = datetime(2030, 1, 1, 12, 30, tzinfo=UTC)

HEALTHY_METRICS = {"collected": 3_000, "qualified": 2_500}
HEALTHY_WINDOW = {
    "window_hours": 1.0,
    "hours_since_start": 3.0,
    "leads_in_window": 900,
    "vendor_calls_in_window": 100,
    "vendor_call_errors_in_window": 1,
    "spend_usd": 300.0,  # 300 / 3 h * 24 h = 2,400 projected; 0.12 per qualified lead
    "quotas": [
        {"vendor": "apollo", "endpoint_class": "search", "window": "hour", "limit": 600, "used": 100, "remaining": 500},
        {"vendor": "apollo", "endpoint_class": "search", "window": "minute", "limit": 200, "used": 200,
         "remaining": 0},  # minute windows are not alerted on
    ],
    "unsynced_qualified": 10,
    "oldest_unsynced_qualified_age_hours": 0.5,
}
FAILED_CHECK = {"asset": "scored_leads", "check": "required_fields", "passed": False, "blocking": True,
                "partition": "2026-11-27-03:00|apollo", "description": "12 leads lack required fields"}
FAILED_RUN = {"job": "lead_sprint", "partition": "2026-11-27-03:00|apollo", "status": "FAILURE", "run_id": "r1",
              "error": "HTTP 503 from apollo"}


def bad_quota():
    quotas = [dict(q) for q in HEALTHY_WINDOW["quotas"]]
    quotas[0].update(used=580, remaining=20)
    return quotas


# condition key -> (what changes in (metrics, window, checks, runs) when it is bad)
BAD = {
    "collection_rate": ({}, {"leads_in_window": 350}, [], []),
    "error_rate": ({}, {"vendor_call_errors_in_window": 9}, [], []),
    "spend_pace": ({}, {"spend_usd": 1_300.0}, [], []),  # 10,400 projected; 0.52 per qualified lead
    "cost_per_qualified_lead": ({"qualified": 400}, {}, [], []),  # 300 / 400 = 0.75
    "vendor_quota:apollo:search:hour": ({}, {"quotas": bad_quota()}, [], []),
    "crm_sync": ({}, {"oldest_unsynced_qualified_age_hours": 2.5}, [], []),
    "check:scored_leads.required_fields:2026-11-27-03:00|apollo": ({}, {}, [FAILED_CHECK], []),
    "run:lead_sprint:2026-11-27-03:00|apollo": ({}, {}, [], [FAILED_RUN]),
}
GOOD_CHECK = {**FAILED_CHECK, "passed": True}
GOOD_RUN = {**FAILED_RUN, "status": "SUCCESS", "run_id": "r2", "error": None}


def tick(cursor, metrics=None, window=None, checks=(), runs=(), rules=RULES, at=NOW):
    decision = evaluate_alerts({**HEALTHY_METRICS, **(metrics or {})}, {**HEALTHY_WINDOW, **(window or {})},
                               cursor, rules, checks=checks, runs=runs, now=at)
    return decision, decision.cursor()


@pytest.mark.parametrize("key", sorted(BAD))
def test_each_condition_fires_once_and_clears_once(key):
    metrics, window, checks, runs = BAD[key]
    good_checks = [GOOD_CHECK] if checks else []
    good_runs = [GOOD_RUN] if runs else []
    plan = ["good", "bad", "bad", "bad", "good", "good", "bad"]
    cursor, events = "", []
    for i, step in enumerate(plan):
        at = NOW + timedelta(minutes=i)
        if step == "bad":
            decision, cursor = tick(cursor, metrics, window, checks, runs, at=at)
        else:
            decision, cursor = tick(cursor, checks=good_checks, runs=good_runs, at=at)
        events.append([(a.key, a.event) for a in decision.alerts])
    assert events == [[], [(key, "fired")], [], [], [(key, "cleared")], [], [(key, "fired")]]
    state = json.loads(cursor)
    assert list(state["active"]) == [key]
    assert state["active"][key]["since"] == (NOW + timedelta(minutes=6)).isoformat(timespec="seconds")


def test_alerts_carry_readable_text_and_when_they_started():
    decision, cursor = tick(None, window={"vendor_call_errors_in_window": 9})
    [fired] = decision.alerts
    assert fired.headline == "[FIRING] Vendor error rate above 5%: 9 of 100 vendor calls failed in the last window (9.0%)."
    assert (fired.value, fired.threshold) == (0.09, 0.05)
    decision, _ = tick(cursor, at=NOW + timedelta(hours=1))
    [cleared] = decision.alerts
    assert cleared.event == "cleared" and cleared.headline.startswith("[RESOLVED] Vendor error rate")
    assert cleared.since == NOW.isoformat(timespec="seconds")
    assert json.loads(json.dumps(cleared.to_dict()))["event"] == "cleared"


def test_healthy_sprint_is_quiet():
    decision, cursor = tick(None)
    assert decision.alerts == [] and json.loads(cursor)["active"] == {}


def test_rate_is_judged_only_after_the_first_hour_and_not_after_the_target():
    decision, cursor = tick(None, window={"hours_since_start": 0.5, "leads_in_window": 10, "spend_usd": 30.0})
    assert decision.alerts == []
    decision, cursor = tick(cursor, window={"hours_since_start": 1.0, "leads_in_window": 10, "spend_usd": 30.0})
    assert [a.event for a in decision.alerts] == ["fired"]
    # the target reached: a slow last hour is no longer a problem
    decision, cursor = tick(cursor, metrics={"collected": CFG.targets.collected},
                            window={"hours_since_start": 20.0, "leads_in_window": 10})
    assert [(a.key, a.event) for a in decision.alerts] == [("collection_rate", "cleared")]


def test_no_verdict_keeps_the_state():
    _, cursor = tick(None, window={"vendor_call_errors_in_window": 9})
    # a quiet window (too few calls to judge) neither clears nor re-fires
    decision, cursor = tick(cursor, window={"vendor_calls_in_window": 3, "vendor_call_errors_in_window": 0})
    assert decision.alerts == [] and "error_rate" in json.loads(cursor)["active"]
    # the same for a run still going, and for spend before the projection means anything
    _, cursor = tick(cursor, runs=[FAILED_RUN])
    decision, cursor = tick(cursor, runs=[{**FAILED_RUN, "status": "STARTED"}], window={"hours_since_start": 0.1})
    assert decision.alerts == [] and "run:lead_sprint:2026-11-27-03:00|apollo" in json.loads(cursor)["active"]


def test_spend_without_a_qualified_lead_fires():
    decision, _ = tick(None, metrics={"qualified": 0}, window={"spend_usd": 30.0})
    [a] = decision.alerts
    assert a.key == "cost_per_qualified_lead" and "no qualified lead yet" in a.text


def test_small_spend_gets_no_cost_verdict():
    decision, _ = tick(None, metrics={"qualified": 1}, window={"spend_usd": 5.0})
    assert decision.alerts == []


def test_non_blocking_checks_only_alert_when_configured():
    warn = {**FAILED_CHECK, "blocking": False}
    decision, _ = tick(None, checks=[warn])
    assert decision.alerts == []
    all_checks = AlertRules.from_mapping({"asset_checks": {"blocking_only": False}}, CFG.targets, CFG.hours)
    decision, _ = tick(None, checks=[warn], rules=all_checks)
    assert [a.severity for a in decision.alerts] == ["warning"]


def test_each_failing_partition_is_its_own_alert():
    other = {**FAILED_RUN, "partition": "2026-11-27-04:00|apollo"}
    decision, cursor = tick(None, runs=[FAILED_RUN, other])
    assert len(decision.alerts) == 2
    decision, cursor = tick(cursor, runs=[GOOD_RUN])
    assert [(a.key, a.event) for a in decision.alerts] == [("run:lead_sprint:2026-11-27-03:00|apollo", "cleared")]
    assert list(json.loads(cursor)["active"]) == ["run:lead_sprint:2026-11-27-04:00|apollo"]


def test_a_disabled_family_is_silent_and_forgets_its_alerts():
    _, cursor = tick(None, window={"oldest_unsynced_qualified_age_hours": 5.0})
    no_crm = AlertRules.from_mapping({"crm_sync": {"enabled": False}}, CFG.targets, CFG.hours)
    decision, cursor = tick(cursor, window={"oldest_unsynced_qualified_age_hours": 5.0}, rules=no_crm)
    assert decision.alerts == [] and json.loads(cursor)["active"] == {}


def test_thresholds_come_from_alerts_yaml_and_the_sprint_targets(tmp_path):
    assert RULES.min_leads_per_hour == 700 and RULES.max_error_rate == 0.05
    assert RULES.max_cost_per_qualified_lead == CFG.targets.max_cost_per_qualified_lead == 0.60
    assert RULES.budget_usd == CFG.targets.budget_usd and RULES.crm_max_lag_hours == CFG.targets.crm_sync_within_hours
    assert RULES.quota_windows == ("hour", "day") and "enrichment" in RULES.endpoint_classes["apollo"]
    custom = tmp_path / "alerts.yaml"
    custom.write_text("collection_rate: {min_leads_per_hour: 900}\ncost_per_qualified_lead: {max_usd: 0.5}\n")
    rules = load_alert_rules(CFG, custom)
    assert rules.min_leads_per_hour == 900 and rules.max_cost_per_qualified_lead == 0.5
    assert rules.budget_usd == CFG.targets.budget_usd


# --------------------------------------------------------------------------------------------
# window_metrics over a real store.
# --------------------------------------------------------------------------------------------


@pytest.fixture
def clean_store(store):
    """The conftest store with the enrichment migration's cost ledger emptied too (it has no FK to leads)."""
    if has_table(store, "cost_ledger"):
        with store.transaction() as conn:
            conn.exec_driver_sql("DELETE FROM cost_ledger")
    return store


def add_leads(store, rows):
    df = pd.DataFrame(rows)
    store.upsert_leads(df[[c for c in df.columns if c != "source"]])
    store.record_sources(pd.DataFrame({"source": "apollo", "vendor_person_id": df["lead_id"], "lead_id": df["lead_id"],
                                       "first_seen_at": df["created_at"]}))


def test_window_metrics_reads_the_last_hour_spend_quota_and_crm_lag(clean_store):
    store = clean_store
    t = lambda minutes: NOW - timedelta(minutes=minutes)  # noqa: E731
    add_leads(store, [
        {"lead_id": "a", "full_name": "A", "is_qualified": True, "crm_synced": False, "created_at": t(170)},
        {"lead_id": "b", "full_name": "B", "is_qualified": True, "crm_synced": True, "created_at": t(120)},
        {"lead_id": "c", "full_name": "C", "is_qualified": True, "crm_synced": False, "created_at": t(20)},
        {"lead_id": "d", "full_name": "D", "is_qualified": False, "crm_synced": False, "created_at": t(10)},
    ])
    search, bulk = "/api/v1/mixed_people/api_search", "/api/v1/people/bulk_match"
    store.record_vendor_calls([
        {"vendor": "apollo", "endpoint": search, "outcome": "ok", "called_at": t(180)},
        {"vendor": "apollo", "endpoint": bulk, "outcome": "ok", "credits": 10, "called_at": t(175)},
        {"vendor": "apollo", "endpoint": search, "outcome": "ok", "called_at": t(25)},
        {"vendor": "apollo", "endpoint": search, "outcome": "failed", "attempts": 3, "called_at": t(24)},
        {"vendor": "apollo", "endpoint": bulk, "outcome": "retried_ok", "attempts": 2, "credits": 5, "called_at": t(22)},
    ])
    w = window_metrics(store, NOW, cfg=CFG, rules=RULES)
    assert (w["leads_in_window"], w["records_in_window"]) == (2, 2)
    assert (w["vendor_calls_in_window"], w["vendor_call_errors_in_window"]) == (3, 1)
    assert w["hours_since_start"] == pytest.approx(3.0)
    assert w["spend_source"] == "credits_estimate" and w["spend_usd"] == pytest.approx(15 * CFG.prices_usd["apollo_credit"])
    assert w["unsynced_qualified"] == 2 and w["oldest_unsynced_qualified_age_hours"] == pytest.approx(170 / 60)
    quotas = {(q["endpoint_class"], q["window"]): q for q in w["quotas"]}
    # the current hour (12:00-12:30) holds the last three calls; attempts count against the quota
    assert quotas[("search", "hour")]["used"] == 4 and quotas[("search", "hour")]["remaining"] == 596
    assert quotas[("search", "day")]["used"] == 5
    assert ("enrichment", "minute") not in quotas  # only the configured windows
    json.dumps(w)  # a sensor can log or store it as is

    decision = evaluate_alerts({"collected": 4, "qualified": 3}, w, None, RULES, now=NOW)
    assert {a.key for a in decision.alerts} == {"collection_rate", "crm_sync"}


def test_spend_comes_from_the_cost_ledger_when_it_has_rows(clean_store):
    store = clean_store
    store.record_vendor_calls([{"vendor": "apollo", "endpoint": "/x", "outcome": "ok", "credits": 10},
                               {"vendor": "hunter", "endpoint": "/v2/email-finder", "outcome": "ok", "credits": 4}])
    spend, source = spend_by_vendor(store, CFG.prices_usd)
    assert source == "credits_estimate" and spend == pytest.approx({"apollo": 2.0, "hunter": 4 * 0.049})
    if not has_table(store, "cost_ledger"):
        pytest.skip("no cost_ledger table in this schema")
    with store.transaction() as conn:
        conn.execute(text("INSERT INTO cost_ledger (vendor, endpoint, units, unit_price_usd, cost_usd, called_at) "
                          "VALUES ('hunter', '/v2/email-finder', 4, 0.05, 0.2, :at)"),
                     {"at": NOW if store.dialect == "postgresql" else NOW.isoformat()})
    spend, source = spend_by_vendor(store, CFG.prices_usd)
    # the ledger wins for hunter; apollo has no ledger rows yet and stays estimated
    assert source == "mixed" and spend == pytest.approx({"apollo": 2.0, "hunter": 0.2})


def test_every_issue_condition_is_enabled_in_the_shipped_config():
    assert set(RULES.enabled) == {"collection_rate", "error_rate", "spend_pace", "cost_per_qualified_lead",
                                  "vendor_quota", "asset_checks", "runs", "crm_sync"}
