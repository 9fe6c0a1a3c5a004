"""Pure waterfall decisions and the enrichment configuration loader (no HTTP, no database)."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import yaml

from lead_assets.config.settings import sprint_config
from lead_assets.core.enrichment_config import (
    ENRICHMENT_CONFIG_PATH,
    EnrichmentConfigError,
    load_enrichment_config,
    parse_enrichment_config,
)
from lead_assets.core.waterfall import (
    BudgetGuard,
    LedgerState,
    can_spend,
    company_completeness,
    confident,
    cost_per_qualified_lead,
    email_availability,
    email_domain,
    email_status_for,
    ledger_state,
    naive_baseline_cost,
    naive_calls,
    next_provider,
    projected_spend,
    work_needed,
)

CFG = load_enrichment_config(sprint=sprint_config())
RAW = yaml.safe_load(ENRICHMENT_CONFIG_PATH.read_text())
PRICES = sprint_config().prices_usd


def leads(*rows: dict) -> pd.DataFrame:
    base = {"lead_id": None, "email": None, "email_status": "missing", "company_website": None,
            "company_industry": None, "company_size": None}
    return pd.DataFrame([{**base, **r} for r in rows])


# -- what the leads need ----------------------------------------------------------------------


def test_work_needed_flags_and_domains():
    df = leads(
        {"lead_id": "a", "email": "x@acme.com", "email_status": "verified", "company_website": "acme.com",
         "company_industry": "retail", "company_size": 40},
        {"lead_id": "b", "email": "jo@beta.io", "email_status": "unverified", "company_industry": "internet"},
        {"lead_id": "c", "email": "jo@gmail.com", "email_status": "unverified", "company_size": 3},
        {"lead_id": "d", "email": "gone@delta.com", "email_status": "undeliverable", "company_website": "  "},
        {"lead_id": "e", "company_website": "epsilon.com", "company_industry": "", "company_size": 10},
    )
    work = work_needed(df).set_index("lead_id")
    assert work["needs_email"].to_dict() == {"a": False, "b": False, "c": False, "d": True, "e": True}
    assert work["needs_company"].to_dict() == {"a": False, "b": True, "c": True, "d": True, "e": True}
    # website first, else the email's domain; a free mail host says nothing about the employer
    assert work["domain"].to_dict() == {"a": "acme.com", "b": "beta.io", "c": None, "d": "delta.com",
                                        "e": "epsilon.com"}


def test_shares_follow_the_scoreboard_rules():
    df = leads(
        {"lead_id": "a", "email": "a@x.com", "email_status": "verified", "company_website": "x.com",
         "company_industry": "retail", "company_size": 5},
        {"lead_id": "b", "email": "b@x.com", "email_status": "undeliverable"},  # kept, not available
        {"lead_id": "c", "email": "", "email_status": "missing"},
        {"lead_id": "d", "email": "d@x.com", "email_status": "unverified", "company_website": "x.com",
         "company_industry": "retail"},
    )
    assert email_availability(df) == 0.5
    assert company_completeness(df) == 0.25
    assert email_availability(df.iloc[:0]) is None and company_completeness(df.iloc[:0]) is None


@pytest.mark.parametrize(
    "email, domain",
    [("a@Acme.COM", "acme.com"), ("a@gmail.com", None), ("no-at", None), (None, None), ("a@localhost", None)],
)
def test_email_domain(email, domain):
    assert email_domain(email) == domain


# -- ledger history and the next provider -----------------------------------------------------


def test_ledger_state():
    assert ledger_state(None, None, False) is LedgerState.UNASKED
    assert ledger_state("failed", 0.0, False) is LedgerState.UNASKED  # unpaid: may be asked again
    assert ledger_state("failed", 0.049, False) is LedgerState.ANSWERED  # charged: never re-bought
    assert ledger_state("not_found", 0.0, False) is LedgerState.ANSWERED  # nothing found is remembered too
    assert ledger_state("unverifiable", 0.0, False) is LedgerState.ANSWERED
    assert ledger_state("found", 0.049, False) is LedgerState.ANSWERED  # a low score or undeliverable
    assert ledger_state("found", 0.049, True) is LedgerState.ACCEPTED


def test_next_provider_walks_the_order_and_stops_at_the_first_accepted():
    order = ["a", "b", "c"]
    assert next_provider(order, {}) == "a"
    assert next_provider(order, {"a": LedgerState.ANSWERED}) == "b"
    assert next_provider(order, {"a": LedgerState.ANSWERED}, stopped={"b"}) == "c"
    assert next_provider(order, {"a": LedgerState.ACCEPTED}) is None
    assert next_provider(order, {"a": LedgerState.ANSWERED, "b": LedgerState.ACCEPTED}) is None
    assert next_provider(order, dict.fromkeys(order, LedgerState.ANSWERED)) is None
    assert next_provider([], {}) is None


@pytest.mark.parametrize(
    "score, threshold, ok",
    [(92, 50, True), (50, 50, True), (49.9, 50, False), (None, 50, False), (None, 0, True), (float("nan"), 1, False)],
)
def test_confident(score, threshold, ok):
    assert confident(score, threshold) is ok


@pytest.mark.parametrize(
    "verdict, status",
    [("valid", "verified"), ("invalid", "undeliverable"), ("disposable", "undeliverable"),
     ("catchall", "unverified"), ("accept_all", "unverified"), ("unknown", "unverified"), (None, "unverified")],
)
def test_email_status_for(verdict, status):
    assert email_status_for(verdict) == status


# -- money ------------------------------------------------------------------------------------


def test_can_spend_boundaries():
    assert can_spend(9.9, 0.1, 10.0)
    assert not can_spend(9.95, 0.1, 10.0)
    assert can_spend(0.0, 0.0, 0.0)
    assert can_spend(1e9, 5.0, None)


def test_budget_guard_refuses_before_the_budget_and_caps_each_lead():
    guard = BudgetGuard(budget_usd=0.10, max_per_lead_usd=0.06)
    assert guard.refusal("x", 0.049) is None
    guard.charge("x", 0.049)
    assert "per-lead ceiling" in guard.refusal("x", 0.049)  # 0.098 > 0.06 for this lead
    assert guard.stopped_reason is None  # a lead's ceiling does not stop the run
    assert guard.refusal("y", 0.049) is None
    guard.charge("y", 0.049)
    reason = guard.refusal("z", 0.049)
    assert reason == guard.stopped_reason and "budget" in reason and "$0.10" in reason
    assert guard.spent_usd == pytest.approx(0.098)


def test_cost_math():
    calls = {("hunter", "email-finder"): 10, ("neverbounce", "single/check"): 4}
    assert projected_spend(calls, CFG) == pytest.approx(10 * 0.049 + 4 * 0.008)
    assert cost_per_qualified_lead(3.0, 0) is None
    assert cost_per_qualified_lead(3.0, 12) == 0.25
    assert naive_calls(100, CFG) == {
        ("hunter", "email-finder"): 100,
        ("neverbounce", "single/check"): 100,
        ("clearbit", "companies/find"): 100,
    }
    assert naive_baseline_cost(100, CFG) == pytest.approx(100 * (0.049 + 0.008 + 0.10))
    # Hunter only charges the finds: with a 60 % charge rate the baseline is cheaper
    rated = naive_baseline_cost(100, CFG, {("hunter", "email-finder"): 0.6})
    assert rated == pytest.approx(100 * (0.6 * 0.049 + 0.008 + 0.10))


# -- configuration ----------------------------------------------------------------------------


def test_config_resolves_prices_and_budget_from_the_sprint_brief():
    assert CFG.plan("email").providers == ("hunter",)
    assert CFG.plan("email").verifiers == ("neverbounce", "hunter")
    assert CFG.plan("company").providers == ("clearbit",)
    assert CFG.price("hunter", "email-finder") == PRICES["hunter_credit"]
    assert CFG.price("hunter", "email-verifier") == pytest.approx(0.5 * PRICES["hunter_credit"])
    assert CFG.price("clearbit", "companies/find") == PRICES["clearbit_lookup"]
    assert CFG.budget_usd == sprint_config().targets.budget_usd
    assert CFG.ledger_ttl_days == 90
    assert CFG.providers["hunter"].api_key_setting == "HUNTER_API_KEY"
    assert CFG.plan("phone").providers == ()
    with pytest.raises(KeyError, match="no price configured"):
        CFG.price("hunter", "domain-search")


def _broken(path: list, value):
    raw = copy.deepcopy(RAW)
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return raw


@pytest.mark.parametrize(
    "path, value, message",
    [
        (["fields", "email", "providers"], ["hunter", "snov"], "'snov', which has no providers entry"),
        (["fields", "phone"], {"providers": ["hunter"]}, "unknown field"),
        (["fields", "company", "providers"], ["hunter"], "cannot look company up at 'hunter'"),
        (["fields", "company", "verifiers"], ["neverbounce"], "only emails are verified"),
        (["providers", "hunter", "endpoints", "email-finder", "unit_price"], "hunter_credits", "not in sprint.yaml"),
        (["providers", "clearbit", "endpoints", "companies/find", "units"], -1, "must be a number >= 0"),
        (["ledger_ttl_days"], 0, "ledger_ttl_days"),
        (["providers", "neverbounce", "api_key_setting"], "", "api_key_setting"),
    ],
)
def test_config_errors_name_the_key(path, value, message):
    with pytest.raises(EnrichmentConfigError, match=message):
        parse_enrichment_config(_broken(path, value), prices_usd=PRICES, budget_usd=100.0, source="x.yaml")


def test_config_budget_override_and_numbers():
    raw = _broken(["budget_usd"], 25)
    cfg = parse_enrichment_config(raw, prices_usd=PRICES, budget_usd=100.0)
    assert cfg.budget_usd == 25.0
    raw = _broken(["providers", "neverbounce", "endpoints", "single/check", "unit_price"], 0.01)
    assert parse_enrichment_config(raw, prices_usd=PRICES, budget_usd=1.0).price("neverbounce", "single/check") == 0.01
