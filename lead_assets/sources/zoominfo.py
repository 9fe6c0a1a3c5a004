"""Source `zoominfo`: contact search (free) by plan slice, contact enrich (paid) for the unseen.

The collector's rules (`sources/collector.py`) apply: the search plan defines the hour (same roles x metros, slice i in hour i mod 24, split
by company size over the display cap, pending and failed slices taken over by a later hour);
every vendor body is landed (`search_page` / `enrichment`) the moment it arrives, before it is
read, so a re-run replays pages and purchases instead of paying again; a person is bought only
when no dedup key `vid:zoominfo:<id>` says we hold them and no earlier purchase of them ended in
quarantine; an enrich answer that came back unreadable after the vendor billed it is landed and
its people quarantined, never re-bought automatically.

ZoomInfo specifics: search is free (<= 100 rows a page), purchases enrich <= 25 people a call by
person id, through either API (`clients/zoominfo.py`: legacy or GTM, one interface; landed bodies of
both are read alike). Each person's `matchStatus` decides: FULL_MATCH and CONTACT_ONLY_MATCH are
leads; COMPANY_ONLY_MATCH, OPT_OUT, NO_MATCH, INVALID_INPUT and NON_MATCH_BY_* go to quarantine with
their own reason (an opted-out person is never stored as a lead); SERVICE_ERROR is asked again
within the retry budget (3 attempts), and a person still unanswered is left unsettled with their
slice failed, so a later hour asks again; LIMIT_EXCEEDED stores what was paid for, leaves the rest
unsettled and stops the source with `ZoomInfoLimitExceeded`. Credits count the records ZoomInfo
bills (FULL_MATCH, CONTACT_ONLY_MATCH); price them as `prices_usd.zoominfo_record`.

Filters (vendor-apis.md Corrections 2): several job titles are joined with ` OR `; `metroRegion`,
`state` and `country` are comma-separated strings. ZoomInfo answers a malformed filter with (almost)
nothing rather than an error, so a plan slice that finds nobody is marked `empty` and reported,
never settled as complete.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pandas as pd
import us

from lead_assets.clients.errors import UnreadablePaidResponse, VendorCallFailed
from lead_assets.clients.zoominfo import (
    ENRICH_MAX,
    LIMIT_EXCEEDED,
    MAX_RESULTS,
    RPP_MAX,
    SERVICE_ERROR,
    EnrichOutcome,
    ZoomInfoLimitExceeded,
    enrich_outcomes,
    person_id_text,
    search_results,
)
from lead_assets.core.normalise import us_state_code
from lead_assets.core.sales_navigator_csv import normalise_person_name
from lead_assets.core.titles import title_words
from lead_assets.core.zoominfo_records import (
    COMPANY_ONLY_REASON,
    INVALID_INPUT_REASON,
    NO_MATCH_REASON,
    OPT_OUT_REASON,
    zoominfo_outcome_record,
)
from lead_assets.pipeline.lead_batches import VendorRecord
from lead_assets.pipeline.search_plan import Slice
from lead_assets.sources.adapter import HourPurchases, PagedVendorSource
from lead_assets.sources.purchases import (
    UNREADABLE,
    ReplayMiss,
    flush_calls,
    guard_purchase,
    land_purchase,
    purchase_key,
)

SOURCE = "zoominfo"
UNREADABLE_REASON = (
    "zoominfo enrich answer was unreadable after the vendor may have billed it; "
    "not re-bought automatically (review and re-enrich by hand)"
)
NO_ID_REASON = "search result without a ZoomInfo id"
EMPTY_SLICE_ERROR = (
    "0 results where the plan expected people: ZoomInfo answers a malformed filter with nothing, not an "
    "error (check the filter); slice marked empty, not complete"
)
__all__ = ["COMPANY_ONLY_REASON", "INVALID_INPUT_REASON", "NO_MATCH_REASON", "OPT_OUT_REASON", "UNREADABLE_REASON",
           "ZoomInfoSource", "zoominfo_query"]

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


def zoominfo_query(s: Slice) -> dict[str, str]:
    """The contact-search filters for one plan slice (titles match any; one location kind per slice).

    Every value is a string, as ZoomInfo's filters are: titles joined with " OR " ("Use OR to input
    multiple job titles": a comma is part of a title), locations comma-separated.
    """
    query: dict[str, str] = {"jobTitle": " OR ".join(t.strip() for t in s.titles), "locationSearchType": "Person"}
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
            query[name] = ",".join(values)
    if s.employee_ranges:
        bounds = [tuple(int(x) for x in r.split(",")) for r in s.employee_ranges]
        query["employeeRangeMin"] = str(min(lo for lo, _ in bounds))
        query["employeeRangeMax"] = str(max(hi for _, hi in bounds))
    return query


class ZoomInfoSource(PagedVendorSource):
    name: ClassVar[str] = SOURCE
    label: ClassVar[str] = "ZoomInfo"
    unit_price_key: ClassVar[str] = "zoominfo_record"
    purchase_chunk: ClassVar[int] = ENRICH_MAX
    no_id_reason: ClassVar[str] = NO_ID_REASON
    empty_slice_error: ClassVar[str | None] = EMPTY_SLICE_ERROR
    unanswered: ClassVar[str] = f"answered {SERVICE_ERROR} on every attempt"
    fatal_errors: ClassVar[tuple[type[BaseException], ...]] = (ZoomInfoLimitExceeded,)

    def check_client(self, client: Any) -> None:
        if client is not None and not hasattr(client, "search_contacts"):
            raise TypeError(f"zoominfo collection needs a ZoomInfoClient, not {type(client).__name__}")

    def paging(self, per_page: int, max_pages: int) -> tuple[int, int]:
        rpp = max(1, min(per_page, RPP_MAX))
        return rpp, max(1, min(max_pages, -(-MAX_RESULTS // rpp)))

    def search(self, client: Any, s: Slice, page: int, per_page: int) -> Any:
        return client.search_contacts(zoominfo_query(s), page, rpp=per_page).response

    def read_page(self, body: Any, s: Slice | None) -> tuple[int, list]:
        read = search_results(body)
        if read is None:
            where = f"slice {s.key}: " if s is not None else ""
            raise VendorCallFailed(SOURCE, f"{where}unreadable search page {str(body)[:200]!r}")
        total, rows = read
        return (total if isinstance(total, int) else 0), rows

    def person_id(self, row: Any) -> str | None:
        return person_id_text(row.get("id")) if isinstance(row, dict) else None

    def landed_purchases(self, ctx, partition_key: str) -> dict[str, Any]:
        """People this partition already bought (a killed run's purchases): EnrichOutcome, or UNREADABLE.

        A SERVICE_ERROR or LIMIT_EXCEEDED answer settles nobody: those people are left out, so they
        are asked again.
        """
        found: dict[str, Any] = {}
        for landing in ctx.store.landings(SOURCE, partition_key, "enrichment"):
            ids = _ids_of(landing["request_key"])
            try:
                outcomes = enrich_outcomes(json.loads(landing["payload"]), ids)
            except ValueError:
                outcomes = None
            if outcomes is None:
                found.update(dict.fromkeys(ids, UNREADABLE))
                continue
            found.update({pid: o for pid, o in outcomes.items() if o.settled})
        return found

    def before_purchase(self, ctx, rows: list, partition_key: str, hour: HourPurchases) -> None:
        """Search rows carry no email or LinkedIn URL: match people another source brought in before buying."""
        matches = match_existing_leads(ctx, [c for c in rows if not (
            isinstance(c, dict) and person_id_text(c.get("id")) in hour.bought)])
        _record_matches(ctx, matches, partition_key)

    def buy(self, ctx, chunk: list[str], partition_key: str, report, hour: HourPurchases) -> dict[str, Any]:
        """Buy one chunk (<= 25 people); every answer is landed before it is read.

        People answered SERVICE_ERROR are asked again (one call for all of them) within the
        transport's attempt budget; those still unanswered, and everyone once an answer said
        LIMIT_EXCEEDED, are left out of the result: unsettled, asked again by a later run.
        """
        if ctx.client is None:
            raise ReplayMiss(f"enrichment {purchase_key(chunk)} was never bought")
        if hour.stop is not None:
            return {}  # the allowance is spent: buying more would only repeat LIMIT_EXCEEDED
        got: dict[str, Any] = {}
        pending = list(chunk)
        attempts = max(1, int(getattr(ctx.client.http, "max_attempts", 3)))
        for attempt in range(1, attempts + 1):
            guard_purchase(ctx, SOURCE, len(pending))
            request_key = _free_purchase_key(ctx, partition_key, pending, attempt)
            try:
                result = ctx.client.enrich_contacts(pending)
            except UnreadablePaidResponse as exc:
                # Possibly billed but unreadable: land it so no later run buys these people again.
                ctx.store.land_raw(SOURCE, partition_key, "enrichment", request_key, exc.text, exc.status, ctx.run_id)
                report.errors.append(f"enrich answer unreadable for {len(pending)} people (quarantined, not re-bought)")
                got.update(dict.fromkeys(pending, UNREADABLE))
                return got
            land_purchase(ctx, SOURCE, "enrich/contact", result.credits, partition_key, request_key,
                          result.response.text, result.response.status)
            report.bought += len(pending)
            report.matched += result.matched
            report.credits += result.credits
            flush_calls(ctx, partition_key, report)  # the paid call's vendor_calls row must not die with the process
            got.update({pid: o for pid, o in result.outcomes.items() if o.settled})
            limited = result.ids_with(LIMIT_EXCEEDED)
            pending = result.ids_with(SERVICE_ERROR)
            if limited:
                message = (
                    f"enrich answered {LIMIT_EXCEEDED} for {len(limited)} people: the account's ZoomInfo allowance is "
                    "spent. Collection stopped; everything paid for is stored, the people not bought are left for a "
                    "run after the allowance resets (or is raised)")
                ctx.log.error("zoominfo: %s", message)
                hour.stop = ZoomInfoLimitExceeded(SOURCE, message)
                return got
            if not pending:
                return got
            if attempt < attempts:
                ctx.log.warning("zoominfo enrich: %d people answered %s (attempt %d/%d); asking again",
                                len(pending), SERVICE_ERROR, attempt, attempts)
                ctx.client.pause_before_retry(attempt)
        hour.deferred.update(pending)
        return got

    def to_record(self, person_id: str, answer: Any) -> VendorRecord | None:
        if answer is None:
            return None  # ZoomInfo has not answered for this person yet (SERVICE_ERROR, LIMIT_EXCEEDED)
        if answer is UNREADABLE:
            return VendorRecord(payload={"id": person_id}, fields=None, problem=UNREADABLE_REASON)
        status, data = (answer.status, answer.contact) if isinstance(answer, EnrichOutcome) else (None, None)
        if status is None:
            return VendorRecord(payload={"id": person_id}, fields=None, problem=NO_MATCH_REASON)
        fields, problem = zoominfo_outcome_record(status, data)
        payload = data if fields is not None else {"id": person_id, "matchStatus": status, **({"data": data} if data else {})}
        return VendorRecord(payload=payload, fields=fields, problem=problem)


def _ids_of(request_key: str) -> list[str]:
    """The person ids of a purchase's landing key (`ids=1,2` or, for a repeated ask, `ids=1,2|ask=2`)."""
    return request_key.split("|", 1)[0].removeprefix("ids=").split(",")


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
        company = company or c.get("companyName")
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


def _free_purchase_key(ctx, partition_key, ids: list[str], attempt: int) -> str:
    """The landing key for buying `ids`: `ids=...` for a first ask, `ids=...|ask=N` when they are asked
    again (after SERVICE_ERROR, in this run or an earlier one): landings are immutable, and every paid
    answer is kept."""
    key, ask = purchase_key(ids), attempt
    while ctx.store.get_landing(SOURCE, partition_key, "enrichment", key if ask == 1 else f"{key}|ask={ask}"):
        ask += 1
    return key if ask == 1 else f"{key}|ask={ask}"
