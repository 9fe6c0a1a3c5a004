"""Collect one hour of ZoomInfo: search the hour's slices, enrich only people never seen, store as we go.

The same rules as `apollo_collection` (whose context, report and generic helpers this module
reuses): the search plan defines the hour (same roles x metros, slice i in hour i mod 24, split
by company size over the display cap, pending and failed slices taken over by a later hour);
every vendor body is landed (`search_page` / `enrichment`) the moment it arrives, before it is
read, so a re-run replays pages and purchases instead of paying again; a person is bought only
when no dedup key `vid:zoominfo:<id>` says we hold them and no earlier purchase of them ended in
quarantine; an enrich answer that came back unreadable after the vendor billed it is landed and
its people quarantined, never re-bought automatically.

ZoomInfo specifics: search is `/search/contact` (free, `rpp` <= 100), purchases are
`/enrich/contact` (<= 25 people a call, by person id). `NO_MATCH` and `OPT_OUT` answers go to
quarantine with their reason (an opted-out person is never stored as a lead). Credits count the
records ZoomInfo may bill (each FULL_MATCH); price them as `prices_usd.zoominfo_record`.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pandas as pd
import us

from lead_assets.clients.errors import UnreadablePaidResponse, VendorAuthError, VendorError
from lead_assets.clients.zoominfo import ENRICH_MAX, MAX_RESULTS, RPP_MAX, enrich_outcomes, person_id_text
from lead_assets.core.normalise import us_state_code
from lead_assets.core.sales_navigator_csv import normalise_person_name
from lead_assets.core.titles import title_words
from lead_assets.core.zoominfo_records import zoominfo_contact_record
from lead_assets.pipeline.apollo_collection import (
    UNREADABLE,
    CollectionContext,
    HourReport,
    ReplayMiss,
    ensure_plan,
    flush_calls,
    guard_purchase,
    handle_page,
    land_purchase,
    purchase_key,
    quarantined_elsewhere,
    search_page,
    slices_for_hour,
)
from lead_assets.pipeline.lead_batches import VendorRecord
from lead_assets.pipeline.search_plan import Slice
from lead_assets.store.enrichment_ledger import total_spend

SOURCE = "zoominfo"

UNREADABLE_REASON = (
    "zoominfo enrich answer was unreadable after the vendor may have billed it; "
    "not re-bought automatically (review and re-enrich by hand)"
)
NO_MATCH_REASON = "zoominfo enrich returned NO_MATCH for this id (listed by search, not sold by enrich)"
OPT_OUT_REASON = "zoominfo enrich returned OPT_OUT: the person opted out; not stored as a lead"
NO_ID_REASON = "search result without a ZoomInfo id"

_US = frozenset({"us", "usa", "united states", "united states of america"})


# --------------------------------------------------------------------------------------------
# The plan, in ZoomInfo's filter names.
# --------------------------------------------------------------------------------------------


def _metro_region(city: str, state: str) -> str | None:
    """"Austin", "Texas" -> "usa.texas.austin" (ZoomInfo's lookup form; UNCONFIRMED), None if not a US state."""
    code = us_state_code(state)
    found = us.states.lookup(code) if code else None
    if found is None:
        return None
    return f"usa.{_squash(found.name)}.{_squash(city)}"


def _squash(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def zoominfo_query(s: Slice) -> dict[str, Any]:
    """The `/search/contact` filters for one plan slice (titles match any; one location kind per slice)."""
    titles = list(s.titles)
    query: dict[str, Any] = {
        # A comma-separated string is ZoomInfo's usual "any of"; a title holding a comma goes as a list.
        "jobTitle": titles if any("," in t for t in titles) else ",".join(titles),
        "locationSearchType": "Person",
    }
    metros, states, countries = [], [], []
    for loc in s.locations:
        parts = [p.strip() for p in loc.split(",") if p.strip()]
        metro = _metro_region(parts[0], parts[1]) if len(parts) >= 2 else None
        if metro is not None:
            metros.append(metro)
        elif len(parts) == 1 and us_state_code(parts[0]):
            states.append(parts[0])
        elif len(parts) == 1 and parts[0].lower() in _US:
            countries.append("United States")
        else:
            raise ValueError(f"location {loc!r} has no ZoomInfo filter (expected 'City, State', a state or a country)")
    if sum(bool(x) for x in (metros, states, countries)) > 1:
        raise ValueError(f"slice {s.key} mixes location kinds; ZoomInfo would AND them")
    for name, values in (("metroRegion", metros), ("state", states), ("country", countries)):
        if values:
            query[name] = values[0] if len(values) == 1 else values
    if s.employee_ranges:
        bounds = [tuple(int(x) for x in r.split(",")) for r in s.employee_ranges]
        query["employeeRangeMin"] = str(min(lo for lo, _ in bounds))
        query["employeeRangeMax"] = str(max(hi for _, hi in bounds))
    return query


def _paging(ctx: CollectionContext) -> tuple[int, int]:
    """(rpp, max pages): the context's view of the cap, within ZoomInfo's own limits."""
    rpp = max(1, min(ctx.per_page, RPP_MAX))
    return rpp, max(1, min(ctx.max_pages, -(-MAX_RESULTS // rpp)))


# --------------------------------------------------------------------------------------------
# One hour.
# --------------------------------------------------------------------------------------------


def collect_hour(ctx: CollectionContext, hour_key: str) -> HourReport:
    """Run (or, without a client, replay) one hour of ZoomInfo collection.

    `ctx.client` is a `ZoomInfoClient` (or None: replay from the landing table only).
    A `VendorAuthError` (wrong or expired credentials) marks the slice failed and stops the
    source; other vendor failures fail the slice and leave it for a later hour.
    """
    if ctx.client is not None and not hasattr(ctx.client, "search_contacts"):
        raise TypeError(f"zoominfo collection needs a ZoomInfoClient, not {type(ctx.client).__name__}")
    started = time.monotonic()
    partition_key = f"{hour_key}|{SOURCE}"
    report = HourReport(partition_key=partition_key)
    ensure_plan(ctx, SOURCE)
    slice_rows, carried = slices_for_hour(ctx, hour_key, SOURCE)
    report.slices_carried_over = carried
    bought = _landed_enrichments(ctx, partition_key)
    ctx.spent_usd = total_spend(ctx.store)
    try:
        for row in slice_rows:
            s = Slice.from_query(row["slice_key"], row["query"], row.get("parent_key"))
            _collect_slice(ctx, s, hour_key, partition_key, report, bought)
    finally:
        flush_calls(ctx, partition_key, report)
        report.seconds = round(time.monotonic() - started, 3)
    return report


def _collect_slice(ctx, s: Slice, hour_key, partition_key, report: HourReport, bought) -> None:
    report.slices += 1
    live = ctx.client is not None
    rpp, max_pages = _paging(ctx)
    cap = rpp * max_pages
    try:
        first = _search_page(ctx, s, 1, rpp, partition_key, report)
        total = _total(first)
        if total > cap:
            children = s.split()
            if children:
                report.slices_split += 1
                _save_slice(ctx, s, hour_key, "split", total, None, 0, None, live)
                for child in children:
                    _collect_slice(ctx, child, hour_key, partition_key, report, bought)
                return
        pages = min(-(-total // rpp), max_pages)
        _save_slice(ctx, s, hour_key, "in_progress", total, pages, 0, None, live)
        for page in range(1, pages + 1):
            body = first if page == 1 else _search_page(ctx, s, page, rpp, partition_key, report)
            contacts = body.get("data") if isinstance(body, dict) else None
            _handle_contacts(ctx, contacts if isinstance(contacts, list) else [], partition_key, report, bought)
        coverage = 1.0 if total <= cap else cap / total
        status = "complete" if coverage == 1.0 else "capped"
        if status == "capped":
            report.slices_capped += 1
            msg = f"slice {s.key}: {total} people but ZoomInfo pages through {cap}; coverage {coverage:.0%}"
            report.errors.append(msg)
            ctx.log.warning(msg)
        else:
            report.slices_complete += 1
        report.min_coverage = coverage if report.min_coverage is None else min(report.min_coverage, coverage)
        _save_slice(ctx, s, hour_key, status, total, pages, pages, None, live, coverage)
    except VendorAuthError:
        _save_slice(ctx, s, hour_key, "failed", None, None, 0, "authentication failed", live)
        raise
    except (VendorError, ReplayMiss) as exc:
        report.slices_failed += 1
        report.errors.append(f"slice {s.key}: {exc}")
        ctx.log.error("zoominfo slice %s failed, left for a later hour: %s", s.key, exc)
        _save_slice(ctx, s, hour_key, "failed", None, None, 0, str(exc)[:500], live)


def _total(body: Any) -> int:
    total = body.get("totalResults") if isinstance(body, dict) else None
    if isinstance(total, str) and total.strip().isdigit():
        return int(total.strip())
    return total if isinstance(total, int) and not isinstance(total, bool) else 0


def _save_slice(ctx, s, hour_key, status, total, pages, done, error, live, coverage=None) -> None:
    if not live:
        return  # a replay describes the store; it does not change the plan
    ctx.store.upsert_slices(
        [{"source": SOURCE, "slice_key": s.key, "hour_key": hour_key, "query": s.query_json(),
          "total_entries": total, "pages_total": pages, "pages_done": done, "status": status,
          "coverage": coverage, "parent_key": s.parent_key, "error": error}]
    )


def _search_page(ctx, s: Slice, page: int, rpp: int, partition_key, report: HourReport) -> dict:
    return search_page(ctx, SOURCE, s, page, partition_key, report,
                       lambda: ctx.client.search_contacts(zoominfo_query(s), page, rpp=rpp).response)


# --------------------------------------------------------------------------------------------
# Purchases.
# --------------------------------------------------------------------------------------------


def _landed_enrichments(ctx, partition_key) -> dict[str, Any]:
    """People this partition already bought (a killed run's purchases): contact dict, a status, or UNREADABLE."""
    found: dict[str, Any] = {}
    for landing in ctx.store.landings(SOURCE, partition_key, "enrichment"):
        ids = landing["request_key"].removeprefix("ids=").split(",")
        try:
            outcomes = enrich_outcomes(json.loads(landing["payload"]), ids)
        except ValueError:
            outcomes = None
        if outcomes is None:
            found.update(dict.fromkeys(ids, UNREADABLE))
            continue
        found.update({pid: o.contact if o.status == "FULL_MATCH" else o.status for pid, o in outcomes.items()})
    return found


def _zoominfo_record(pid: str, outcome: Any) -> VendorRecord:
    if outcome is UNREADABLE:
        return VendorRecord(payload={"id": pid}, fields=None, problem=UNREADABLE_REASON)
    if outcome == "OPT_OUT":
        return VendorRecord(payload={"id": pid}, fields=None, problem=OPT_OUT_REASON)
    if not isinstance(outcome, dict):
        return VendorRecord(payload={"id": pid}, fields=None, problem=NO_MATCH_REASON)
    fields, problem = zoominfo_contact_record(outcome)
    return VendorRecord(payload=outcome, fields=fields, problem=problem)


def name_company_key(first: Any, last: Any, company: Any, title: Any) -> str | None:
    """casefolded, accent-free 'first last|company|title words' (None when a part is missing)."""
    parts = [normalise_person_name(f"{first or ''} {last or ''}"), normalise_person_name(company),
             title_words(title) if isinstance(title, str) else None]
    return "|".join(parts) if all(parts) else None


def match_existing_leads(ctx, contacts: list) -> dict[str, str]:
    """ZoomInfo id -> lead id for search rows whose person another source already brought in.

    ZoomInfo's search rows carry no email or LinkedIn URL, so without this the only way
    to learn that a contact is a lead we already hold is to buy them. Matching on the
    exact name, employer and title before buying saves paying twice for the same person.
    The title is part of it because two namesakes at one employer do exist: when only one
    of them is stored yet (parallel runs), name and employer alone would hand the other's
    record to them. A title that differs (a promotion, a vendor's spelling) costs a purchase,
    and the bought record's LinkedIn URL or email then finds the lead.
    """
    wanted: dict[str, str] = {}
    companies: set[str] = set()
    for c in contacts:
        if not isinstance(c, dict):
            continue
        pid = person_id_text(c.get("id"))
        company = (c.get("company") or {}).get("name") if isinstance(c.get("company"), dict) else None
        key = name_company_key(c.get("firstName"), c.get("lastName"), company, c.get("jobTitle"))
        if pid and key:
            wanted[pid] = key
            companies.add(str(company))
    if not wanted:
        return {}
    names = [f"c{n}" for n in range(len(companies))]
    leads = ctx.store.read_sql(
        "SELECT lead_id, first_name, last_name, company_name, job_title FROM leads WHERE company_name IN ("
        + ", ".join(f":{n}" for n in names) + ")",
        dict(zip(names, sorted(companies), strict=True)),
    )
    by_key: dict[str, set[str]] = {}
    for lead_id, first, last, company, title in leads.itertuples(index=False):
        key = name_company_key(first, last, company, title)
        if key:
            by_key.setdefault(key, set()).add(lead_id)
    # Two leads with the same name at one employer: ambiguous, so buy rather than guess.
    return {pid: next(iter(by_key[key])) for pid, key in wanted.items() if len(by_key.get(key, ())) == 1}


def _record_matches(ctx, matches: dict[str, str], partition_key: str) -> None:
    """Record pre-purchase matches as sources of their leads, and teach the index their ids."""
    if not matches:
        return
    with ctx.store.transaction() as conn:
        ctx.index.register({f"vid:{SOURCE}:{pid}": lead for pid, lead in matches.items()}, conn=conn)
        ctx.store.record_sources(pd.DataFrame({
            "source": SOURCE, "vendor_person_id": list(matches), "lead_id": list(matches.values()),
            "partition_key": partition_key, "match_method": "name_company",
        }), conn=conn)
    ctx.index.publish({f"vid:{SOURCE}:{pid}": lead for pid, lead in matches.items()})


def _handle_contacts(ctx, contacts: list, partition_key, report: HourReport, bought: dict[str, Any]) -> None:
    if ctx.client is not None:  # a replay buys nothing anyway, and must not change sources
        matches = match_existing_leads(ctx, [c for c in contacts if not (
            isinstance(c, dict) and person_id_text(c.get("id")) in bought)])
        _record_matches(ctx, matches, partition_key)
    handle_page(ctx, SOURCE, contacts, partition_key=partition_key, report=report, bought=bought,
                id_of=lambda c: person_id_text(c.get("id")) if isinstance(c, dict) else None,
                no_id_reason=NO_ID_REASON, chunk_size=ENRICH_MAX,
                buy=lambda chunk: _enrich(ctx, chunk, partition_key, report), to_record=_zoominfo_record,
                settled=lambda ids: quarantined_elsewhere(ctx.store, SOURCE, ids))


def _enrich(ctx, chunk: list[str], partition_key, report: HourReport) -> dict[str, Any]:
    """Buy one chunk (<= 25 people); the body is landed before it is read."""
    request_key = purchase_key(chunk)
    if ctx.client is None:
        raise ReplayMiss(f"enrichment {request_key} was never bought")
    guard_purchase(ctx, SOURCE, len(chunk))
    try:
        result = ctx.client.enrich_contacts(chunk)
    except UnreadablePaidResponse as exc:
        # Possibly billed but unreadable: land it so no later run buys these people again.
        ctx.store.land_raw(SOURCE, partition_key, "enrichment", request_key, exc.text, exc.status, ctx.run_id)
        report.errors.append(f"enrich answer unreadable for {len(chunk)} people (quarantined, not re-bought)")
        return dict.fromkeys(chunk, UNREADABLE)
    land_purchase(ctx, SOURCE, "enrich/contact", result.credits, partition_key, request_key,
                  result.response.text, result.response.status)
    report.bought += len(chunk)
    report.matched += result.matched
    report.credits += result.credits
    flush_calls(ctx, partition_key, report)  # the paid call's vendor_calls row must not die with the process
    return {pid: o.contact if o.status == "FULL_MATCH" else o.status for pid, o in result.outcomes.items()}
