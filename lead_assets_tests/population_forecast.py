"""What a full 24-hour sprint over every source should end with, computed from a sandbox population.

No server and no store: the sprint's 120 slices are searched with the sandbox's own search
semantics (Apollo's index, ZoomInfo's filters), the records each vendor would sell are rendered by
the sandbox's own renderers and read by the project's own parsers and normalisers, merged per
real person the way the store merges (`merge_people`: first non-null, best-verified email), the
enrichment waterfall is played from the sandbox's Hunter, NeverBounce and Clearbit truth, and the
leads are scored by `core.scoring`. Spend uses sprint.yaml's prices. Where the pipeline could go
either way the forecast takes the dearer side (ZoomInfo buys every contact it reaches; every lead
without an email gets a finder call), so the real figures should be at least as good.

The result also counts the calls per endpoint class, for `core.vendor_minimum`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from lead_assets.clients.zoominfo import DEFAULT_OUTPUT_FIELDS
from lead_assets.config.settings import SprintConfig, sprint_config
from lead_assets.core.normalise import normalise_leads, website_domain
from lead_assets.core.sales_navigator_csv import parse_export
from lead_assets.core.scoring import score_leads
from lead_assets.core.titles import TitleMatcher
from lead_assets.core.vendor_records import apollo_person_record
from lead_assets.core.waterfall import company_complete, email_available, email_status_for, work_needed
from lead_assets.core.zoominfo_records import zoominfo_contact_record
from lead_assets.pipeline.lead_batches import identity_problem, merge_people
from lead_assets.pipeline.search_plan import assign_hours, plan_slices
from lead_assets.sandbox import apollo as sb_apollo
from lead_assets.sandbox import clearbit as sb_clearbit
from lead_assets.sandbox import hunter as sb_hunter
from lead_assets.sandbox import zoominfo as sb_zoominfo
from lead_assets.sandbox.neverbounce import RESULTS as NEVERBOUNCE_RESULTS
from lead_assets.sandbox.population import Population
from lead_assets.sandbox.sales_navigator_export import export_csv_with_truth

APOLLO_PER_PAGE, BULK_MATCH_SIZE = 100, 10
ZOOMINFO_PER_PAGE, ZOOMINFO_ENRICH_SIZE = 100, 25
HUBSPOT_BATCH = 100
HUNTER_MIN_CONFIDENCE = 50  # enrichment.yaml


@dataclass
class SprintForecast:
    """Expected end-of-sprint figures (metrics keys as `store.metrics.sprint_metrics` names them)."""

    figures: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)  # endpoint class -> calls
    reach: dict[str, int] = field(default_factory=dict)  # source -> reachable records / people
    slice_totals: dict[str, int] = field(default_factory=dict)  # apollo slice key -> total_entries
    spend_by_vendor: dict[str, float] = field(default_factory=dict)


def _slices(cfg: SprintConfig, hours: Sequence[str] | None):
    planned = plan_slices(tuple((r.role, r.aliases) for r in cfg.target_roles), cfg.locations)
    hour_of = assign_hours(planned, cfg.start, cfg.hours)
    return [s for s in planned if hours is None or hour_of[s.key] in hours]


def _apollo_reach(pop: Population, cfg: SprintConfig, calls: dict[str, int], hours: Sequence[str] | None):
    index = sb_apollo.PeopleIndex(pop.apollo_people)
    seen: dict[str, object] = {}
    totals = {}
    for s in _slices(cfg, hours):
        found = index.find(sb_apollo.SearchFilters(titles=s.titles, locations=s.locations))
        totals[s.key] = len(found)
        pages = max(1, math.ceil(len(found) / APOLLO_PER_PAGE))
        calls["apollo.search"] += pages
        for page in range(pages):
            new = [p for p in found[page * APOLLO_PER_PAGE:(page + 1) * APOLLO_PER_PAGE] if p.id not in seen]
            calls["apollo.enrichment"] += math.ceil(len(new) / BULK_MATCH_SIZE)
            seen.update((p.id, p) for p in new)
    return list(seen.values()), totals


def _zoominfo_reach(pop: Population, cfg: SprintConfig, calls: dict[str, int], hours: Sequence[str] | None):
    world = sb_zoominfo.world_for(pop)
    seen: dict[int, object] = {}
    for s in _slices(cfg, hours):
        filters = dataclasses.replace(
            sb_zoominfo.ContactFilters(), titles=tuple(s.titles),
            places=tuple(sb_zoominfo.parse_place(loc) for loc in s.locations),
        )
        found = world.find(filters)
        pages = max(1, math.ceil(len(found) / ZOOMINFO_PER_PAGE))
        calls["zoominfo.api"] += pages
        for page in range(pages):
            new = [c for c in found[page * ZOOMINFO_PER_PAGE:(page + 1) * ZOOMINFO_PER_PAGE] if c.id not in seen]
            calls["zoominfo.api"] += math.ceil(len(new) / ZOOMINFO_ENRICH_SIZE)
            seen.update((c.id, c) for c in new)
    return list(seen.values())


def _records(pop: Population, apollo_people, contacts, sn_data: bytes, sn_truth: Mapping[int, str]) -> pd.DataFrame:
    rows = []
    for p in apollo_people:
        rec, _ = apollo_person_record(sb_apollo.person_object(p, pop.companies, 0, False))
        rows.append({**rec, "_real": p.real_id, "_source": "apollo", "_order": 0})
    for c in contacts:
        if c.opted_out or c.stale:
            continue  # OPT_OUT / NO_MATCH: nothing sold, nothing charged
        full = sb_zoominfo.enrich_object(c)
        rec, _ = zoominfo_contact_record({k: full.get(k) for k in ("id", *DEFAULT_OUTPUT_FIELDS)})
        rows.append({**rec, "_real": c.real_id, "_source": "zoominfo", "_order": 1})
    for line, rec in parse_export(sn_data, "sales_navigator_export.csv").records:
        if line in sn_truth:
            rows.append({**rec, "_real": sn_truth[line], "_source": "sales_navigator", "_order": 2})
    return pd.DataFrame(rows)


def _enrich(leads: pd.DataFrame, pop: Population, calls: dict[str, int], spend: dict[str, float],
            prices: Mapping[str, float]) -> pd.DataFrame:
    world = sb_hunter.world_of(pop)
    first_record = {real: recs[0] for real, recs in pop.by_real_id.items()}
    need = work_needed(leads)
    out = leads.copy()
    hunter_credits = neverbounce = 0
    for i in need.index[need["needs_email"].to_numpy()]:
        calls["hunter.search"] += 1
        person = first_record[out.at[i, "_real"]]
        kind = world.finder_outcome(person)
        if kind == "none":
            continue
        hunter_credits += 1  # charged when an address comes back
        if sb_hunter._score(world, person, kind) < HUNTER_MIN_CONFIDENCE:
            continue
        email = person.work_email if kind == "found" else world.wrong_guess(person)
        calls["neverbounce.single"] += 1
        neverbounce += 1
        status = email_status_for(NEVERBOUNCE_RESULTS.get(world.mailbox_status(email)))
        out.at[i, "email"], out.at[i, "email_status"] = email, status
    domains = need.loc[need["needs_company"].to_numpy() & need["domain"].notna().to_numpy(), "domain"]
    domains = domains.map(website_domain).dropna()
    answers = {}
    for domain in dict.fromkeys(domains):  # a domain is looked up once, whoever else works there
        calls["clearbit.find"] += 1
        known = sb_clearbit.indexed(world, domain)
        answers[domain] = sb_clearbit.company_object(world.seed, world.company_by_domain[domain]) if known else None
    for i, domain in domains.items():
        answer = answers[domain]
        if answer is None:
            continue
        if pd.isna(out.at[i, "company_website"]):
            out.at[i, "company_website"] = answer["domain"]
        if pd.isna(out.at[i, "company_industry"]) and answer["category"]["industry"]:
            out.at[i, "company_industry"] = answer["category"]["industry"]
        if pd.isna(out.at[i, "company_size"]) and answer["metrics"]["employees"]:
            out.at[i, "company_size"] = answer["metrics"]["employees"]
    spend["hunter"] = hunter_credits * prices["hunter_credit"]
    spend["neverbounce"] = neverbounce * prices["neverbounce_verification"]
    spend["clearbit"] = calls["clearbit.find"] * prices["clearbit_lookup"]
    return out


def forecast_sprint(pop: Population, cfg: SprintConfig | None = None, hours: Sequence[str] | None = None,
                    sales_navigator: bool = True) -> SprintForecast:
    """The expected figures of a sprint over ``pop``: every hour (or ``hours``), every source.

    ``sales_navigator=False`` leaves the team's lead list out.
    """
    cfg = cfg or sprint_config()
    matcher = TitleMatcher(cfg.target_roles)
    calls = dict.fromkeys(("apollo.search", "apollo.enrichment", "zoominfo.api", "hunter.search",
                           "neverbounce.single", "clearbit.find", "hubspot.api"), 0)
    apollo_people, totals = _apollo_reach(pop, cfg, calls, hours)
    contacts = _zoominfo_reach(pop, cfg, calls, hours)
    sn_data, sn_truth = export_csv_with_truth(pop) if sales_navigator else (b"First Name,Last Name\n", {})
    raw = _records(pop, apollo_people, contacts, sn_data, sn_truth)
    norm = normalise_leads(raw, matcher)
    problem = identity_problem(norm).to_numpy() != ""
    ok = norm[~problem]
    leads_of = set(ok["_real"])
    # A Sales Navigator row that cannot stand alone is matched again every hour (name at employer):
    # it becomes a source once its person is a lead from another source.
    rematched = norm[problem & (norm["_source"] == "sales_navigator").to_numpy() & norm["_real"].isin(leads_of)]
    collected = len(ok) + len(rematched)
    rows = ok.sort_values("_order", kind="stable").assign(lead_id=lambda d: d["_real"])
    merged = merge_people(rows.iloc[0:0], rows)
    derived = normalise_leads(merged, matcher)
    for col in ("target_role", "validation_errors", "needs_enrichment"):
        merged[col] = derived[col].to_numpy()
    spend = {
        "apollo": len(apollo_people) * cfg.prices_usd["apollo_credit"],
        "zoominfo": int((raw["_source"] == "zoominfo").sum()) * cfg.prices_usd["zoominfo_record"],
    }
    enriched = _enrich(merged, pop, calls, spend, cfg.prices_usd)
    scored = score_leads(normalise_leads(enriched, matcher).assign(_real=enriched["_real"].to_numpy()))
    unique = len(scored)
    qualified = int(scored["is_qualified"].sum())
    calls["hubspot.api"] = math.ceil(qualified / HUBSPOT_BATCH)
    total = sum(spend.values())
    return SprintForecast(
        figures={
            "collected": collected,
            "unique": unique,
            "duplicate_rate": (collected - unique) / collected,
            "quarantined": int(problem.sum()) - len(rematched),
            "avg_quality_score": float(scored["data_quality_score"].mean()),
            "email_availability": float(email_available(scored).mean()),
            "company_completeness": float(company_complete(scored).mean()),
            "validation_rate": float((scored["validation_errors"] == "").mean()),
            "qualified": qualified,
            "spend_usd": round(total, 2),
            "cost_per_qualified_lead": total / qualified,
            "leads_without_email_after_collection": calls["hunter.search"],
        },
        calls=calls,
        reach={
            "apollo_records": len(apollo_people),
            "apollo_people": len({p.real_id for p in apollo_people}),
            "zoominfo_contacts": len(contacts),
            "zoominfo_people_apollo_also_reaches": len({c.real_id for c in contacts}
                                                       & {p.real_id for p in apollo_people}),
            "sales_navigator_rows": len(sn_truth),
            "sales_navigator_people_apollo_also_reaches": len(set(sn_truth.values())
                                                              & {p.real_id for p in apollo_people}),
            "sales_navigator_people_zoominfo_also_reaches": len(set(sn_truth.values())
                                                                & {c.real_id for c in contacts}),
        },
        slice_totals=totals,
        spend_by_vendor={k: round(v, 2) for k, v in spend.items()},
    )
