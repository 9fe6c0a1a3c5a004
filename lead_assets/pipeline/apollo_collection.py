"""Collect one hour of Apollo: search the hour's slices, buy only people never seen, store as we go.

Every vendor body is landed (immutable) the moment it arrives, before it is parsed, so a
killed run replays its pages and purchases from the landing table instead of paying
again. Pages are stored as they arrive (one batch per page of up to 100 people), so a
person is in the lead store seconds after the vendor returned them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from lead_assets.clients.apollo import BULK_MATCH_MAX, MAX_PAGES, PER_PAGE_MAX, ApolloClient
from lead_assets.clients.errors import UnreadablePaidResponse, VendorAuthError, VendorError
from lead_assets.core.titles import TitleMatcher
from lead_assets.core.vendor_records import apollo_person_record
from lead_assets.core.waterfall import can_spend
from lead_assets.pipeline.lead_batches import BatchOutcome, VendorRecord, store_batch
from lead_assets.pipeline.search_plan import Slice, assign_hours, plan_slices
from lead_assets.store.database import retry_transient
from lead_assets.store.enrichment_ledger import insert_costs, total_spend
from lead_assets.store.suppression import drop_suppressed_people

SOURCE = "apollo"
PURCHASE_WAIT_SECONDS = 120.0  # how long a page waits for people another run holds (see handle_page)


# Marks people whose paid answer came back unreadable: charged, unknown, never re-bought automatically.
UNREADABLE = object()
UNREADABLE_REASON = (
    "apollo bulk_match answer was unreadable after the vendor charged for it; "
    "not re-bought automatically (review and re-enrich by hand)"
)


class ReplayMiss(Exception):
    """Replay-only mode met a page that was never fetched."""


class BudgetExhausted(VendorError):
    """The budget guard refused a paid call; free steps (search) go on."""


@dataclass
class HourReport:
    """What one hour x source partition did: the numbers the asset metadata plots."""

    partition_key: str
    slices: int = 0
    slices_complete: int = 0
    slices_split: int = 0
    slices_capped: int = 0
    slices_failed: int = 0
    slices_carried_over: int = 0
    min_coverage: float | None = None
    pages_fetched: int = 0
    pages_replayed: int = 0
    pages_missing: int = 0
    people_seen: int = 0
    already_known: int = 0
    bought: int = 0
    matched: int = 0
    credits: float = 0.0
    vendor_calls: int = 0
    vendor_errors: int = 0
    budget_stopped: bool = False
    errors: list[str] = field(default_factory=list)
    batch: BatchOutcome = field(default_factory=BatchOutcome)
    seconds: float = 0.0

    def as_metadata(self) -> dict[str, Any]:
        d = asdict(self)
        batch = d.pop("batch")
        d.pop("errors")
        d.update(
            records=batch["records"],
            new_leads=batch["new_leads"],
            merged=batch["merged"],
            quarantined=batch["quarantined"],
            errors=len(self.errors),
        )
        return d


@dataclass
class CollectionContext:
    """Everything one partition's collection needs; built by the Dagster asset or the CLI."""

    store: Any
    index: Any
    matcher: TitleMatcher
    roles: tuple[tuple[str, tuple[str, ...]], ...]  # (role, title aliases)
    locations: tuple[str, ...]
    start: str
    hours: int
    client: ApolloClient | None = None  # None: replay only, never call the vendor
    price_per_credit: float = 0.0  # USD, from sprint.yaml prices_usd.apollo_credit
    budget_usd: float | None = None  # paid calls stop before spend would pass it
    spent_usd: float = 0.0  # all vendors' spend so far (cost ledger), kept current during the run
    per_page: int = PER_PAGE_MAX
    max_pages: int = MAX_PAGES  # Apollo shows 500 pages x 100 = 50,000 people per query at most
    run_id: str | None = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("lead_sprint.apollo"))
    on_batch: Callable[[HourReport], None] | None = None


def ensure_plan(ctx: CollectionContext, source: str = SOURCE) -> None:
    """Register every planned slice of `source` once (the plan is deterministic, so this is idempotent)."""
    planned = plan_slices(ctx.roles, ctx.locations)
    hours = assign_hours(planned, ctx.start, ctx.hours)
    have = {s["slice_key"] for s in ctx.store.slices(source)}
    new = [
        {"source": source, "slice_key": s.key, "hour_key": hours[s.key], "query": s.query_json(),
         "status": "pending", "parent_key": None}
        for s in planned
        if s.key not in have
    ]
    if new:
        ctx.store.upsert_slices(new)


def slices_for_hour(ctx: CollectionContext, hour_key: str, source: str = SOURCE) -> tuple[list[dict], int]:
    """This hour's top-level slices of `source` plus unfinished ones from earlier hours (taken over)."""
    rows = ctx.store.slices(source)
    mine = [r for r in rows if r["hour_key"] == hour_key and r["parent_key"] is None]
    carried = [
        r for r in rows
        if r["hour_key"] < hour_key and r["parent_key"] is None and r["status"] in ("pending", "in_progress", "failed")
    ]
    if carried and ctx.client is not None:
        for r in carried:
            r["hour_key"] = hour_key
        ctx.store.upsert_slices([slice_row(r) for r in carried])
    return mine + (carried if ctx.client is not None else []), len(carried)


def collect_hour(ctx: CollectionContext, hour_key: str) -> HourReport:
    """Run (or, without a client, replay) one hour of Apollo collection."""
    started = time.monotonic()
    partition_key = f"{hour_key}|{SOURCE}"
    report = HourReport(partition_key=partition_key)
    ensure_plan(ctx)
    slice_rows, carried = slices_for_hour(ctx, hour_key)
    report.slices_carried_over = carried
    bought = _landed_matches(ctx, partition_key)
    ctx.spent_usd = total_spend(ctx.store)
    try:
        for row in slice_rows:
            s = Slice.from_query(row["slice_key"], row["query"], row.get("parent_key"))
            _collect_slice(ctx, s, row, hour_key, partition_key, report, bought)
    finally:
        flush_calls(ctx, partition_key, report)
        report.seconds = round(time.monotonic() - started, 3)
    return report


def _collect_slice(ctx, s: Slice, row: dict, hour_key, partition_key, report: HourReport, bought) -> None:
    report.slices += 1
    live = ctx.client is not None
    cap = ctx.per_page * ctx.max_pages
    try:
        first = _search_page(ctx, s, 1, partition_key, report)
        total = first.get("total_entries") or 0
        if total > cap:
            children = s.split()
            if children:
                report.slices_split += 1
                _save_slice(ctx, s, hour_key, "split", total, None, 0, None, live)
                for child in children:
                    child_row = {"slice_key": child.key, "query": child.query_json(), "parent_key": s.key}
                    _collect_slice(ctx, child, child_row, hour_key, partition_key, report, bought)
                return
        pages = min(-(-total // ctx.per_page), ctx.max_pages)
        _save_slice(ctx, s, hour_key, "in_progress", total, pages, 0, None, live)
        for page in range(1, pages + 1):
            body = first if page == 1 else _search_page(ctx, s, page, partition_key, report)
            _handle_people(ctx, body.get("people") or [], partition_key, report, bought)
        coverage = 1.0 if total <= cap else cap / total
        status = "complete" if coverage == 1.0 else "capped"
        if status == "capped":
            report.slices_capped += 1
            msg = f"slice {s.key}: {total} people but Apollo shows {cap}; coverage {coverage:.0%}"
            report.errors.append(msg)
            ctx.log.warning(msg)
        else:
            report.slices_complete += 1
        report.min_coverage = coverage if report.min_coverage is None else min(report.min_coverage, coverage)
        _save_slice(ctx, s, hour_key, status, total, pages, pages, None, live, coverage)
    except VendorAuthError:
        _save_slice(ctx, s, hour_key, "failed", None, None, 0, "authentication failed", live)
        raise
    except BudgetExhausted as exc:
        report.slices_failed += 1
        report.budget_stopped = True
        report.errors.append(f"slice {s.key}: {exc}")
        ctx.log.error("slice %s: %s", s.key, exc)
        _save_slice(ctx, s, hour_key, "failed", None, None, 0, str(exc)[:500], live)
    except (VendorError, ReplayMiss) as exc:
        report.slices_failed += 1
        report.errors.append(f"slice {s.key}: {exc}")
        ctx.log.error("slice %s failed, left for a later hour: %s", s.key, exc)
        _save_slice(ctx, s, hour_key, "failed", None, None, 0, str(exc)[:500], live)


def _save_slice(ctx, s, hour_key, status, total, pages, done, error, live, coverage=None) -> None:
    if not live:
        return  # a replay describes the store; it does not change the plan
    ctx.store.upsert_slices(
        [{"source": SOURCE, "slice_key": s.key, "hour_key": hour_key, "query": s.query_json(),
          "total_entries": total, "pages_total": pages, "pages_done": done, "status": status,
          "coverage": coverage, "parent_key": s.parent_key, "error": error}]
    )


def slice_row(r: dict) -> dict:
    """A `search_slices` row with exactly the store's columns."""
    keys = ("source", "slice_key", "hour_key", "query", "total_entries", "pages_total", "pages_done",
            "status", "coverage", "parent_key", "error")
    return {k: r.get(k) for k in keys}


def search_page(ctx, source: str, s: Slice, page: int, partition_key, report: HourReport,
                fetch: Callable[[], Any]) -> dict:
    """One search page of a slice: replayed from the landing table, or fetched (free) and landed first."""
    request_key = f"{s.key}|page={page}"
    landed = ctx.store.get_landing(source, partition_key, "search_page", request_key)
    if landed is not None:
        report.pages_replayed += 1
        return json.loads(landed["payload"])
    if ctx.client is None:
        report.pages_missing += 1
        raise ReplayMiss(f"page {request_key} was never fetched")
    response = fetch()
    ctx.store.land_raw(source, partition_key, "search_page", request_key, response.text, response.status, ctx.run_id)
    report.pages_fetched += 1
    return response.data


def _search_page(ctx, s: Slice, page: int, partition_key, report: HourReport) -> dict:
    return search_page(ctx, SOURCE, s, page, partition_key, report,
                       lambda: ctx.client.search_people(s.query(), page, per_page=ctx.per_page).response)


def purchase_key(ids: list[str]) -> str:
    """Landing key of a purchase: the ids themselves, in the order sent, so a replay knows who came back empty."""
    return "ids=" + ",".join(ids)


def _landed_matches(ctx, partition_key) -> dict[str, Any]:
    """People this partition already looked up (a killed run's purchases), by Apollo id; None = no match."""
    found: dict[str, Any] = {}
    for landing in ctx.store.landings(SOURCE, partition_key, "enrichment"):
        ids = landing["request_key"].removeprefix("ids=").split(",")
        try:
            matches = json.loads(landing["payload"]).get("matches") or []
        except (ValueError, AttributeError):
            found.update(dict.fromkeys(ids, UNREADABLE))
            continue
        for pid, match in zip(ids, matches, strict=False):
            found[pid] = {**match, "id": match.get("id") or pid} if isinstance(match, dict) else None
    return found


def handle_page(ctx, source: str, people: list, *, partition_key: str, report: HourReport, bought: dict[str, Any],
                id_of: Callable[[Any], str | None], no_id_reason: str, chunk_size: int,
                buy: Callable[[list[str]], dict[str, Any]], to_record: Callable[[str, Any], VendorRecord | None],
                settled: Callable[[list[str]], set[str]] | None = None) -> None:
    """One search page of any vendor: buy only people never seen, then store the page as one batch.

    `bought` holds what this partition already bought (replays read it from the landing
    table); `settled` names unknown ids that need no purchase (e.g. quarantined by an
    earlier hour); `to_record` turns a bought answer (or None / UNREADABLE) into a record.
    """
    people = drop_suppressed_people(ctx.store, source, people)  # erased/suppressed: never bought again
    records: list[VendorRecord] = []
    ids: list[str] = []
    for person in people:
        pid = id_of(person)
        if pid is None:
            records.append(VendorRecord(payload=person, fields=None, problem=no_id_reason))
        else:
            ids.append(pid)
    report.people_seen += len(people)
    # Parallel runs meet the same people (a person in two slices, in two hours): each person is
    # held by one run from the lookup to the stored batch, so only one of them pays. A person
    # another run holds is looked at again once it lets go (stored by then: nothing to buy).
    pending = list(dict.fromkeys(ids))
    deadline = time.monotonic() + PURCHASE_WAIT_SECONDS
    while True:
        with ctx.store.claimed(pending, f"purchase:{source}") as held:
            if not held and pending and time.monotonic() > deadline:
                ctx.log.warning("%s: %d people still held by another run after %.0f s; going on without the hold",
                                source, len(pending), PURCHASE_WAIT_SECONDS)
                held = pending
            _buy_and_store(ctx, source, held, records, partition_key=partition_key, report=report, bought=bought,
                           chunk_size=chunk_size, buy=buy, to_record=to_record, settled=settled)
        records = []
        done = set(held)
        pending = [pid for pid in pending if pid not in done]
        if not pending:
            break
        time.sleep(0.2)
    flush_calls(ctx, partition_key, report)
    if ctx.on_batch is not None:
        ctx.on_batch(report)


def _buy_and_store(ctx, source: str, ids: list[str], records: list[VendorRecord], *, partition_key: str,
                   report: HourReport, bought: dict[str, Any], chunk_size: int,
                   buy: Callable[[list[str]], dict[str, Any]], to_record: Callable[[str, Any], VendorRecord | None],
                   settled: Callable[[list[str]], set[str]] | None) -> None:
    """Buy the people among `ids` never seen, then store them with `records` as one batch."""
    known = ctx.index.lookup([f"vid:{source}:{pid}" for pid in ids])
    unknown = [pid for pid in ids if f"vid:{source}:{pid}" not in known]
    if settled is not None:
        done = settled([pid for pid in unknown if pid not in bought])
        unknown = [pid for pid in unknown if pid not in done]
    report.already_known += len(ids) - len(unknown)
    to_buy = [pid for pid in unknown if pid not in bought]
    for i in range(0, len(to_buy), chunk_size):
        bought.update(buy(to_buy[i : i + chunk_size]))
    # Known to the index and bought by this partition, yet never stored: an older run that died
    # between registering keys and storing (before batches became one transaction). Store them now.
    stale = unstored_ids(ctx.store, source, [pid for pid in ids if pid in bought and f"vid:{source}:{pid}" in known])
    # `to_record` may answer None: the vendor said nothing about that person yet (ZoomInfo's
    # SERVICE_ERROR / LIMIT_EXCEEDED), so they stay unsettled and a later run asks again.
    found = (to_record(pid, bought.get(pid)) for pid in [*unknown, *stale])
    records = [*records, *(r for r in found if r is not None)]
    if records:
        outcome = store_batch(records, source=source, partition_key=partition_key, store=ctx.store,
                              index=ctx.index, matcher=ctx.matcher, now=datetime.now(UTC))
        report.batch.add(outcome)


def _ids_in(store, table: str, source: str, ids: list[str]) -> set[str]:
    """The vendor ids among `ids` that have a row of `source` in `table` (any partition)."""
    if not ids:
        return set()
    sql = f"SELECT DISTINCT vendor_person_id FROM {table} WHERE source = :source AND vendor_person_id {{in_clause}}"
    with store._read() as conn:
        return {str(r["vendor_person_id"]) for r in store._in_chunks(conn, sql, "ids", ids, {"source": source})}


def quarantined_elsewhere(store, source: str, ids: list[str]) -> set[str]:
    """Ids whose purchase (in any partition) already ended in quarantine: bought once, never again."""
    return _ids_in(store, "quarantine", source, ids)


def unstored_ids(store, source: str, ids: list[str]) -> list[str]:
    """Ids among `ids` that are neither a `lead_sources` row nor quarantined (any partition)."""
    done = _ids_in(store, "lead_sources", source, ids) | _ids_in(store, "quarantine", source, ids)
    return [pid for pid in ids if pid not in done]


def _apollo_id(person: Any) -> str | None:
    pid = person.get("id") if isinstance(person, dict) else None
    return pid if isinstance(pid, str) and pid else None


def _apollo_record(pid: str, match: Any) -> VendorRecord:
    if match is UNREADABLE:
        return VendorRecord(payload={"id": pid}, fields=None, problem=UNREADABLE_REASON)
    if match is None:
        return VendorRecord(payload={"id": pid}, fields=None, problem="apollo bulk_match returned no person for this id")
    fields, problem = apollo_person_record(match)
    return VendorRecord(payload=match, fields=fields, problem=problem)


def _handle_people(ctx, people: list, partition_key, report: HourReport, bought: dict[str, Any]) -> None:
    handle_page(ctx, SOURCE, people, partition_key=partition_key, report=report, bought=bought,
                id_of=_apollo_id, no_id_reason="search result without an Apollo id", chunk_size=BULK_MATCH_MAX,
                buy=lambda chunk: _bulk_match(ctx, chunk, partition_key, report), to_record=_apollo_record,
                settled=lambda ids: quarantined_elsewhere(ctx.store, SOURCE, ids))


def _bulk_match(ctx, chunk: list[str], partition_key, report: HourReport) -> dict[str, Any]:
    """Buy one chunk (<= 10 people); the body is landed before it is read."""
    request_key = purchase_key(chunk)
    if ctx.client is None:
        raise ReplayMiss(f"enrichment {request_key} was never bought")
    guard_purchase(ctx, SOURCE, len(chunk))
    try:
        result = ctx.client.bulk_match(chunk)
    except UnreadablePaidResponse as exc:
        # Charged but unreadable: land it so no later run buys these people again.
        # Book what it most likely cost (one credit a person) so spend is never under-stated.
        land_purchase(ctx, SOURCE, "people/bulk_match (unreadable, estimated)", len(chunk), partition_key,
                      request_key, exc.text, exc.status)
        report.errors.append(f"bulk_match answer unreadable for {len(chunk)} people (quarantined, not re-bought)")
        return dict.fromkeys(chunk, UNREADABLE)
    land_purchase(ctx, SOURCE, "people/bulk_match", result.credits_consumed, partition_key, request_key,
                  result.response.text, result.response.status)
    report.bought += len(chunk)
    report.credits += result.credits_consumed
    flush_calls(ctx, partition_key, report)  # the paid call's vendor_calls row must not die with the process
    got: dict[str, Any] = dict.fromkeys(chunk)
    for pid, match in zip(chunk, result.matches, strict=False):
        if isinstance(match, dict):
            got[pid] = {**match, "id": match.get("id") or pid}
            report.matched += 1
    return got


def guard_purchase(ctx, source: str, units: float) -> None:
    """Raise `BudgetExhausted` if buying `units` (at most one each per person) would pass the budget."""
    price = ctx.price_per_credit * units
    if not can_spend(ctx.spent_usd, price, ctx.budget_usd):
        raise BudgetExhausted(source, f"budget guard: buying {units:g} people (${price:.2f}) would take spend "
                              f"from ${ctx.spent_usd:.2f} past the ${ctx.budget_usd:,.2f} budget; paid calls stopped")


def record_purchase(ctx, source: str, endpoint: str, units: float, partition_key: str, *, conn=None) -> None:
    """Book a paid call in the cost ledger (every vendor's spend in one place) and in the running total."""
    if units:
        insert_costs(ctx.store, [{"vendor": source, "endpoint": endpoint, "units": units,
                                  "unit_price_usd": ctx.price_per_credit, "run_id": ctx.run_id,
                                  "partition_key": partition_key}], conn=conn)
        ctx.spent_usd += units * ctx.price_per_credit


def land_purchase(ctx, source: str, endpoint: str, units: float, partition_key: str, request_key: str,
                  body: str, status: int | None) -> None:
    """Land a paid answer and book its cost in one transaction: a process killed between the two
    would otherwise leave a landed answer (never re-bought) whose cost nobody booked."""
    def land() -> None:
        with ctx.store.transaction() as conn:
            ctx.store.land_raw(source, partition_key, "enrichment", request_key, body, status, ctx.run_id, conn=conn)
            record_purchase(ctx, source, endpoint, units, partition_key, conn=conn)

    # Paid for already: a dropped connection must not lose the answer (a re-run would buy it again).
    retry_transient(land, what=f"{source} purchase {partition_key}")


def flush_calls(ctx, partition_key, report: HourReport) -> None:
    """Persist the client's logged calls (every attempt counted) as `vendor_calls` rows."""
    if ctx.client is None:
        return
    calls = ctx.client.http.drain_calls()
    report.vendor_calls += len(calls)
    report.vendor_errors += sum(1 for c in calls if c.outcome == "failed")
    if calls:
        ctx.store.record_vendor_calls([c.as_row(partition_key, ctx.run_id) for c in calls])
