"""Named sandbox populations: the full sprint's world (shape, overlap, flaws, expected figures),
the settings that select it, Apollo's search index and Apollo's own share of the people."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from lead_assets.config.settings import sprint_config
from lead_assets.core.vendor_minimum import minimum_by_class, minimum_seconds, windows_by_class
from lead_assets.pipeline.search_plan import plan_slices
from lead_assets.sandbox import SandboxConfig, clearbit, hubspot, hunter, neverbounce, start_sandbox, zoominfo
from lead_assets.sandbox import apollo as sb_apollo
from lead_assets.sandbox.launcher import ensure_sandbox, health, stop_sandbox
from lead_assets.sandbox.population import (
    FLAW_DEFAULTS,
    POPULATION_PROFILES,
    Population,
    population_setting,
    population_spec,
)
from lead_assets_tests.population_forecast import forecast_sprint

APOLLO = {"x-api-key": "sandbox-apollo-key"}
DEMO_MINUTES = 15
# What the vendors allow (the sandbox keeps their windows): the demo is measured against this.
SANDBOX_WINDOWS = windows_by_class({
    "apollo": sb_apollo.DEFAULT_LIMITS, "zoominfo": zoominfo.DEFAULT_LIMITS, "hunter": hunter.DEFAULT_LIMITS,
    "neverbounce": neverbounce.DEFAULT_LIMITS, "clearbit": clearbit.DEFAULT_LIMITS, "hubspot": hubspot.DEFAULT_LIMITS,
})


@pytest.fixture(scope="module")
def full() -> Population:
    return Population.for_setting("full")


@pytest.fixture(scope="module")
def forecast(full):
    return forecast_sprint(full)


def test_the_full_population_has_25000_real_people_and_the_default_flaw_rates(full):
    summary = full.summary()
    assert summary["real_people"] >= 25_000
    rates = summary["rates"]
    # The flaws keep their default rates (shares of records, within sampling error; a duplicate
    # record found by email has no LinkedIn URL and spells the state the other way).
    for key, flaw, tolerance in (
        ("email_malformed", "email_malformed", 0.005),
        ("email_placeholder", "email_placeholder", 0.005),
        ("duplicate_record", "duplicate", 0.002),
        ("odd_case", "odd_case", 0.003),
        ("company_gap", "company_gap", 0.01),
        ("title_none", "missing_title", 0.003),
        ("state_code", "state_code", 0.015),
        ("location_metro", "metro", 0.01),
        ("location_non_us", "non_us", 0.005),
    ):
        assert abs(rates[key] - FLAW_DEFAULTS[flaw]) <= tolerance, (key, rates[key])
    assert FLAW_DEFAULTS["missing_linkedin"] <= rates["missing_linkedin"] <= 2 * FLAW_DEFAULTS["missing_linkedin"]
    assert 0.0015 <= rates["hostile_string"] <= 0.008
    # What the profile changes is the mix: Apollo shows an address for 85 % of its records.
    assert abs(1 - rates["email_missing"] - 0.85) <= 0.01


def test_sources_overlap_as_the_profile_says(full, forecast):
    people = len(full.by_real_id)
    apollo_people = {p.real_id for p in full.apollo_people}
    assert abs(len(apollo_people) / people - 0.95) <= 0.01
    world = zoominfo.world_for(full)
    zi = {c.real_id for c in world.contacts}
    shared = zi & apollo_people
    assert abs(len(shared) / len(apollo_people) - 0.04) <= 0.005  # ZoomInfo knows 4 % of Apollo's people
    assert abs(len(zi - apollo_people) / (people - len(apollo_people)) - 0.5) <= 0.05  # and half of the rest
    reach = forecast.reach
    # Apollo reaches most people the sprint collects; ZoomInfo and the list overlap it and each other.
    assert reach["apollo_people"] / forecast.figures["unique"] >= 0.9
    assert 0.4 <= reach["zoominfo_people_apollo_also_reaches"] / reach["zoominfo_contacts"] <= 0.8
    assert 0.5 <= reach["sales_navigator_people_apollo_also_reaches"] / reach["sales_navigator_rows"] <= 0.9
    assert reach["sales_navigator_people_zoominfo_also_reaches"] > 0


def test_a_full_sprint_meets_every_target_of_the_brief_with_margin(forecast):
    t = sprint_config().targets
    f = forecast.figures
    assert f["collected"] >= 1.1 * t.collected
    assert f["unique"] >= 1.1 * t.unique
    assert f["duplicate_rate"] <= 0.85 * t.max_duplicate_rate
    assert f["avg_quality_score"] >= t.avg_quality_score + 10
    assert f["email_availability"] >= 2 * t.email_availability
    assert f["company_completeness"] >= t.company_completeness + 0.1
    assert f["validation_rate"] >= t.validation_rate + 0.1
    assert f["cost_per_qualified_lead"] <= 0.75 * t.max_cost_per_qualified_lead
    assert f["spend_usd"] <= 0.75 * t.budget_usd


def test_the_plan_spreads_people_over_every_slice_and_none_is_capped(full, forecast):
    totals = forecast.slice_totals
    cfg = sprint_config()
    assert len(totals) == len(plan_slices(tuple((r.role, r.aliases) for r in cfg.target_roles), cfg.locations))
    assert min(totals.values()) >= 20  # every slice of every hour has people
    assert max(totals.values()) < cfg.collection["apollo"]["max_pages"] * cfg.collection["apollo"]["per_page"]
    assert forecast.calls["apollo.search"] <= cfg.rate_limits["apollo"]["search"]["hour"]  # one hour's window


def test_the_full_demo_workload_fits_fifteen_minutes_under_the_vendor_windows(forecast):
    by_class = minimum_by_class(forecast.calls, SANDBOX_WINDOWS)
    floor = minimum_seconds(forecast.calls, SANDBOX_WINDOWS)
    # Hunter's finder (500 a minute) binds: the leads collected without an email must fit, with
    # room for a run at 1.5x the vendor minimum.
    assert floor == by_class["hunter.search"]
    assert 1.5 * floor <= DEMO_MINUTES * 60, by_class


def test_profiles_and_settings():
    assert population_spec(6000) == (6000, {})
    assert population_spec("default") == (6000, {})
    size, rates = population_spec(" Full ")
    assert size == POPULATION_PROFILES["full"].size and rates["apollo_coverage"] == 0.95
    assert population_setting("FULL") == "full" and population_setting("300") == 300
    for bad in ("huge", True, ""):
        with pytest.raises(ValueError, match="full"):
            population_spec(bad)
    # The default world is the one every test and ground truth was built on: same object, all Apollo's.
    default = Population.for_setting("default")
    assert default is Population.generate(7, 6000) and default.apollo_people is default.people
    out = subprocess.run([sys.executable, "-m", "lead_assets.sandbox", "--population", "huge"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "unknown sandbox population 'huge'" in out.stderr


def test_the_environment_selects_the_population(monkeypatch):
    from lead_assets.config.environment import sandbox_population

    monkeypatch.delenv("LEAD_SPRINT_SANDBOX_POPULATION", raising=False)
    assert sandbox_population() is None
    monkeypatch.setenv("LEAD_SPRINT_SANDBOX_POPULATION", "Full")
    assert sandbox_population() == "full"
    monkeypatch.setenv("LEAD_SPRINT_SANDBOX_POPULATION", "12000")
    assert sandbox_population() == 12000
    monkeypatch.setenv("LEAD_SPRINT_SANDBOX_POPULATION", "everyone")
    with pytest.raises(ValueError, match="everyone"):
        sandbox_population()


def test_ensure_sandbox_starts_a_named_population_and_refuses_another(tmp_path: Path):
    state = tmp_path / "sandbox.json"
    try:
        url = ensure_sandbox(state, population="Default")
        assert health(url)["population"] == "default"
        assert ensure_sandbox(state, population="default") == url
        summary = requests.get(f"{url}/__sandbox/population", timeout=10).json()
        assert summary["records"] == 6000
        with pytest.raises(RuntimeError, match="population=default, not 300"):
            ensure_sandbox(state, population=300)
        with pytest.raises(ValueError, match="unknown sandbox population"):
            ensure_sandbox(tmp_path / "other.json", population="huge")
    finally:
        stop_sandbox(state)


def test_apollo_sells_only_the_people_it_knows():
    with start_sandbox(SandboxConfig(population=400, flaws={"apollo_coverage": 0.5})) as sb:
        pop = sb.population
        known = {p.real_id for p in pop.apollo_people}
        assert 0.35 <= len(known) / len(pop.by_real_id) <= 0.65
        stranger = next(p for p in pop.people if p.real_id not in known)
        friend = pop.apollo_people[0]
        s = requests.Session()
        found = s.post(sb.url("apollo") + "/api/v1/mixed_people/api_search", headers=APOLLO,
                       json={"per_page": 100, "person_locations": ["United States", "London"]}).json()
        pages = math.ceil(found["total_entries"] / 100)
        ids = {row["id"] for page in range(1, pages + 1) for row in s.post(
            sb.url("apollo") + "/api/v1/mixed_people/api_search", headers=APOLLO,
            json={"per_page": 100, "page": page, "person_locations": ["United States"]}).json()["people"]}
        assert ids and ids <= {p.id for p in pop.apollo_people}
        r = s.post(sb.url("apollo") + "/api/v1/people/bulk_match", headers=APOLLO,
                   json={"details": [{"id": stranger.id}, {"first_name": stranger.first_name,
                                      "last_name": stranger.last_name, "domain": stranger.company.domain},
                                     {"id": friend.id}]}).json()
        assert r["matches"][0] is None and r["matches"][1] is None and r["matches"][2]["id"] == friend.id
        assert r["credits_consumed"] == 1
        # ZoomInfo knows some of the people Apollo does not (the population's zoominfo_only_coverage).
        assert any(c.real_id not in known for c in zoominfo.world_for(pop).contacts)


@pytest.mark.parametrize("setting", ["default", "full"])
def test_the_search_index_answers_exactly_what_a_scan_does(setting):
    pop = Population.for_setting(setting)
    index = sb_apollo.PeopleIndex(pop.apollo_people)
    cfg = sprint_config()
    slices = plan_slices(tuple((r.role, r.aliases) for r in cfg.target_roles), cfg.locations)
    cases = [sb_apollo.SearchFilters(titles=s.titles, locations=s.locations)
             for s in slices[:: 7 if setting == "default" else 20]]
    cases += [
        sb_apollo.SearchFilters(titles=("Media Buyer", "ppc manager"), include_similar_titles=False),
        sb_apollo.SearchFilters(titles=("Marketing Manager",), locations=("texas", "United States")),
        sb_apollo.SearchFilters(titles=("",), locations=("Austin, Texas",)),
        sb_apollo.SearchFilters(titles=("PPC Manager",), employee_ranges=((1, 50),)),
        sb_apollo.SearchFilters(locations=("London",)),
    ]
    for filters in cases:
        assert index.find(filters) == [p for p in pop.apollo_people if filters.matches(p)], filters


@pytest.mark.parametrize("setting", ["default", "full"])
def test_zoominfo_title_search_answers_exactly_what_a_scan_does(setting):
    world = zoominfo.world_for(Population.for_setting(setting))
    cfg = sprint_config()
    slices = plan_slices(tuple((r.role, r.aliases) for r in cfg.target_roles), cfg.locations)
    cases = [zoominfo.parse_filters({"jobTitle": ",".join(s.titles), "metroRegion": s.locations[0]})
             for s in slices[::9]]
    cases += [zoominfo.parse_filters(body) for body in (
        {"jobTitle": "Marketing Manager", "state": "TX"}, {"jobTitle": ["", "PPC"]}, {"country": "Canada"},
    )]
    for filters in cases:
        assert world.find(filters) == [c for c in world.contacts if filters.matches(c)], filters


def test_zoominfo_ground_truth_lists_no_apollo_record_of_its_own_people():
    with start_sandbox(SandboxConfig(population=400, flaws={"apollo_coverage": 0.5})) as sb:
        truth = requests.post(f"{sb.base_url}/__sandbox/ground_truth?vendor=zoominfo",
                              json={"locations": ["United States"]}, timeout=30).json()["people"]
        known = {p.real_id for p in sb.population.apollo_people}
        own = [p for p in truth if p["real_id"] not in known]
        assert own and all(p["apollo_ids"] == [] for p in own)
        assert all(p["apollo_ids"] for p in truth if p["real_id"] in known)
