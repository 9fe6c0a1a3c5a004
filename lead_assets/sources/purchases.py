"""Buying people a search listed: only the unseen, each once, landed and booked before it is read.

Shared by every paged vendor (`sources/collector.py`). Parallel runs meet the same people (a person
in two slices, in two hours): each person is held by one run from the lookup to the stored batch, so
only one of them pays. A paid answer is landed and its cost booked in one transaction, so a killed
run replays the purchase instead of paying again.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from lead_assets.clients.errors import VendorError
from lead_assets.core.waterfall import can_spend
from lead_assets.pipeline.lead_batches import VendorRecord, store_batch
from lead_assets.store.database import retry_transient
from lead_assets.store.enrichment_ledger import insert_costs
from lead_assets.store.suppression import drop_suppressed_people

if TYPE_CHECKING:
    from lead_assets.sources.adapter import HourPurchases, PagedVendorSource
    from lead_assets.sources.collector import CollectionContext, HourReport

PURCHASE_WAIT_SECONDS = 120.0  # how long a page waits for people another run holds (see handle_page)

# Marks people whose paid answer came back unreadable: charged, unknown, never re-bought automatically.
UNREADABLE = object()


class ReplayMiss(Exception):
    """Replay-only mode met a page or purchase that was never fetched."""


class BudgetExhausted(VendorError):
    """The budget guard refused a paid call; free steps (search) go on."""


def purchase_key(ids: list[str]) -> str:
    """Landing key of a purchase: the ids themselves, in the order sent, so a replay knows who came back empty."""
    return "ids=" + ",".join(ids)


def handle_page(ctx: CollectionContext, source: PagedVendorSource, rows: list, *, partition_key: str,
                report: HourReport, hour: HourPurchases) -> None:
    """One search page of any vendor: buy only people never seen, then store the page as one batch.

    `hour.bought` holds what this partition already bought (replays read it from the landing
    table); ids whose purchase already ended in quarantine (any partition) are never bought again.
    """
    people = drop_suppressed_people(ctx.store, source.name, rows)  # erased/suppressed: never bought again
    records: list[VendorRecord] = []
    ids: list[str] = []
    for person in people:
        pid = source.person_id(person)
        if pid is None:
            records.append(VendorRecord(payload=person, fields=None, problem=source.no_id_reason))
        else:
            ids.append(pid)
    report.people_seen += len(people)
    # A person another run holds is looked at again once it lets go (stored by then: nothing to buy).
    pending = list(dict.fromkeys(ids))
    deadline = time.monotonic() + PURCHASE_WAIT_SECONDS
    while True:
        with ctx.store.claimed(pending, f"purchase:{source.name}") as held:
            if not held and pending and time.monotonic() > deadline:
                ctx.log.warning("%s: %d people still held by another run after %.0f s; going on without the hold",
                                source.name, len(pending), PURCHASE_WAIT_SECONDS)
                held = pending
            _buy_and_store(ctx, source, held, records, partition_key=partition_key, report=report, hour=hour)
        records = []
        done = set(held)
        pending = [pid for pid in pending if pid not in done]
        if not pending:
            break
        time.sleep(0.2)
    flush_calls(ctx, partition_key, report)
    if ctx.on_batch is not None:
        ctx.on_batch(report)


def _buy_and_store(ctx: CollectionContext, source: PagedVendorSource, ids: list[str], records: list[VendorRecord],
                   *, partition_key: str, report: HourReport, hour: HourPurchases) -> None:
    """Buy the people among `ids` never seen, then store them with `records` as one batch."""
    name, bought = source.name, hour.bought
    known = ctx.index.lookup([f"vid:{name}:{pid}" for pid in ids])
    unknown = [pid for pid in ids if f"vid:{name}:{pid}" not in known]
    done = quarantined_elsewhere(ctx.store, name, [pid for pid in unknown if pid not in bought])
    unknown = [pid for pid in unknown if pid not in done]
    report.already_known += len(ids) - len(unknown)
    to_buy = [pid for pid in unknown if pid not in bought]
    for i in range(0, len(to_buy), source.purchase_chunk):
        bought.update(source.buy(ctx, to_buy[i : i + source.purchase_chunk], partition_key, report, hour))
    # Known to the index and bought by this partition, yet never stored: an older run that died
    # between registering keys and storing (before batches became one transaction). Store them now.
    stale = unstored_ids(ctx.store, name, [pid for pid in ids if pid in bought and f"vid:{name}:{pid}" in known])
    # `to_record` may answer None: the vendor said nothing about that person yet (ZoomInfo's
    # SERVICE_ERROR / LIMIT_EXCEEDED), so they stay unsettled and a later run asks again.
    found = (source.to_record(pid, bought.get(pid)) for pid in [*unknown, *stale])
    records = [*records, *(r for r in found if r is not None)]
    if records:
        outcome = store_batch(records, source=name, partition_key=partition_key, store=ctx.store,
                              index=ctx.index, matcher=ctx.matcher, now=datetime.now(UTC))
        report.batch.add(outcome)


def quarantined_elsewhere(store, source: str, ids: list[str]) -> set[str]:
    """Ids whose purchase (in any partition) already ended in quarantine: bought once, never again."""
    return store.known_vendor_ids("quarantine", source, ids)


def unstored_ids(store, source: str, ids: list[str]) -> list[str]:
    """Ids among `ids` that are neither a `lead_sources` row nor quarantined (any partition)."""
    done = store.known_vendor_ids("lead_sources", source, ids) | store.known_vendor_ids("quarantine", source, ids)
    return [pid for pid in ids if pid not in done]


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
