"""Collect one hour of any paged vendor: walk the hour's slices, land every page, buy only the unseen, store.

Every vendor body is landed (immutable) the moment it arrives, before it is parsed, so a
killed run replays its pages and purchases from the landing table instead of paying again.
Pages are stored as they arrive (one batch per page), so a person is in the lead store seconds
after the vendor returned them. The hour is its share of the search plan (`pipeline/search_plan.py`:
slice i in hour i mod 24) plus any slice an earlier hour left pending or failed. A slice over the
vendor's display cap splits; a failed part fails the whole slice, so a later hour takes it over.
What is vendor-specific (how to ask, read and buy) is the source adapter's (`sources/adapter.py`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from lead_assets.clients.errors import VendorAuthError, VendorError
from lead_assets.config.settings import SprintConfig
from lead_assets.core.titles import TitleMatcher
from lead_assets.pipeline.lead_batches import BatchOutcome
from lead_assets.pipeline.search_plan import Slice, assign_hours, plan_slices
from lead_assets.sources import paged_source
from lead_assets.sources.adapter import HourPurchases, PagedVendorSource
from lead_assets.sources.purchases import BudgetExhausted, ReplayMiss, flush_calls, handle_page
from lead_assets.sources.slice_walk import SliceWalk
from lead_assets.store.enrichment_ledger import total_spend


class ServiceErrors(Exception):
    """Some people of a slice were never answered within the retry budget: the slice is not complete."""


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

    source: PagedVendorSource
    store: Any
    index: Any
    matcher: TitleMatcher
    roles: tuple[tuple[str, tuple[str, ...]], ...]  # (role, title aliases)
    locations: tuple[str, ...]
    start: str
    hours: int
    client: Any = None  # the source's vendor client; None: replay only, never call the vendor
    price_per_credit: float = 0.0  # USD per paid unit, from sprint.yaml prices_usd[source.unit_price_key]
    budget_usd: float | None = None  # paid calls stop before spend would pass it
    spent_usd: float = 0.0  # all vendors' spend so far (cost ledger), kept current during the run
    per_page: int = 100
    max_pages: int = 500
    run_id: str | None = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("lead_sprint.collection"))
    on_batch: Callable[[HourReport], None] | None = None


def collection_context(cfg: SprintConfig, store, index, client=None, run_id=None,
                       log: logging.Logger | None = None, on_batch=None, source: str = "apollo") -> CollectionContext:
    """A collection context for one run of `source`; `client=None` means replay from the landing table only."""
    adapter = paged_source(source)
    coll = cfg.collection.get(source, {})
    return CollectionContext(
        source=adapter,
        price_per_credit=float(cfg.prices_usd.get(adapter.unit_price_key, 0.0)),
        budget_usd=float(cfg.targets.budget_usd),
        per_page=int(coll.get("per_page", 100)),
        max_pages=int(coll.get("max_pages", 500)),
        store=store,
        index=index,
        matcher=TitleMatcher.from_config(cfg),
        roles=tuple((r.role, r.aliases) for r in cfg.target_roles),
        locations=cfg.locations,
        start=cfg.start,
        hours=cfg.hours,
        client=client,
        run_id=run_id,
        log=log or logging.getLogger(f"lead_sprint.{source}"),
        on_batch=on_batch,
    )


def ensure_plan(ctx: CollectionContext, source: str) -> None:
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


def slices_for_hour(ctx: CollectionContext, hour_key: str, source: str) -> tuple[list[dict], int]:
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
    """Run (or, without a client, replay) one hour of the context's source.

    A `VendorAuthError` (credentials refused) or one of the source's `fatal_errors` (its allowance
    spent) marks the slice failed and stops the source, after storing what was paid for. Other
    vendor failures fail the slice and leave it for a later hour.
    """
    ctx.source.check_client(ctx.client)
    started = time.monotonic()
    source = ctx.source.name
    partition_key = f"{hour_key}|{source}"
    report = HourReport(partition_key=partition_key)
    ensure_plan(ctx, source)
    slice_rows, carried = slices_for_hour(ctx, hour_key, source)
    report.slices_carried_over = carried
    walk = _HourWalk(ctx, hour_key, partition_key, report,
                     HourPurchases(ctx.source.landed_purchases(ctx, partition_key)))
    ctx.spent_usd = total_spend(ctx.store)
    try:
        for row in slice_rows:
            walk.collect(Slice.from_query(row["slice_key"], row["query"], row.get("parent_key")))
    finally:
        flush_calls(ctx, partition_key, report)
        report.seconds = round(time.monotonic() - started, 3)
    return report


class _HourWalk(SliceWalk):
    """One hour's slices: each page landed then bought and stored; the plan row kept current."""

    def __init__(self, ctx: CollectionContext, hour_key: str, partition_key: str, report: HourReport,
                 hour: HourPurchases) -> None:
        self.ctx, self.hour_key, self.partition_key, self.report, self.hour = ctx, hour_key, partition_key, report, hour
        self.per_page, self.max_pages = ctx.source.paging(ctx.per_page, ctx.max_pages)
        self.live = ctx.client is not None

    def collect(self, s: Slice) -> None:
        """Walk one slice; its failure is recorded on it (and reported), never raised, unless fatal."""
        report, source = self.report, self.ctx.source
        report.slices += 1
        try:
            self.walk(s)
        except (VendorAuthError, *source.fatal_errors) as exc:
            if not isinstance(exc, VendorAuthError):
                report.slices_failed += 1
                report.errors.append(f"slice {s.key}: {exc}")
            self.save(s, "failed", error="authentication failed" if isinstance(exc, VendorAuthError) else str(exc))
            raise
        except (VendorError, ReplayMiss, ServiceErrors) as exc:
            report.slices_failed += 1
            report.budget_stopped = report.budget_stopped or isinstance(exc, BudgetExhausted)
            report.errors.append(f"slice {s.key}: {exc}")
            self.ctx.log.error("%s slice %s failed, left for a later hour: %s", source.name, s.key, exc)
            self.save(s, "failed", error=str(exc))

    def search(self, s: Slice, page: int) -> tuple[int, list]:
        body = search_page(self.ctx, s, page, self.per_page, self.partition_key, self.report)
        total, rows = self.ctx.source.read_page(body, s)
        return (total if isinstance(total, int) else 0), rows

    def on_empty(self, s: Slice) -> bool:
        error = self.ctx.source.empty_slice_error
        if error is None:
            return False
        msg = f"slice {s.key}: {error}"
        self.report.errors.append(msg)
        self.ctx.log.warning(msg)
        self.save(s, "empty", total=0, pages=0, coverage=0.0, error=error)
        return True

    def on_split(self, s: Slice, total: int, children: list[Slice]) -> None:
        self.report.slices_split += 1
        self.save(s, "split", total=total)
        failed_before = self.report.slices_failed
        for child in children:
            self.collect(child)
        if self.report.slices_failed > failed_before:
            # Only top-level slices are taken over by a later hour: a failed part fails the whole.
            self.save(s, "failed", total=total, error="a part of the split slice failed")

    def on_start(self, s: Slice, total: int, pages: int) -> None:
        self.deferred_before = set(self.hour.deferred)
        self.save(s, "in_progress", total=total, pages=pages)

    def on_rows(self, s: Slice, page: int, rows: list) -> None:
        ctx = self.ctx
        if self.live:  # a replay buys nothing anyway, and must not change sources
            ctx.source.before_purchase(ctx, rows, self.partition_key, self.hour)
        handle_page(ctx, ctx.source, rows, partition_key=self.partition_key, report=self.report, hour=self.hour)
        if self.hour.stop is not None:
            raise self.hour.stop

    def on_done(self, s: Slice, total: int, pages: int, fetched: int, coverage: float) -> None:
        unanswered = self.hour.deferred - self.deferred_before
        if unanswered:
            raise ServiceErrors(f"{len(unanswered)} people {self.ctx.source.unanswered}; "
                                "left unsettled for a later hour")
        report = self.report
        if coverage < 1.0:
            report.slices_capped += 1
            msg = f"slice {s.key}: {total} people but {self.ctx.source.label} shows {self.cap}; coverage {coverage:.0%}"
            report.errors.append(msg)
            self.ctx.log.warning(msg)
        else:
            report.slices_complete += 1
        report.min_coverage = coverage if report.min_coverage is None else min(report.min_coverage, coverage)
        self.save(s, "complete" if coverage == 1.0 else "capped", total=total, pages=pages, done=pages,
                  coverage=coverage)

    def save(self, s: Slice, status: str, *, total=None, pages=None, done=0, coverage=None, error=None) -> None:
        if not self.live:
            return  # a replay describes the store; it does not change the plan
        self.ctx.store.upsert_slices(
            [{"source": self.ctx.source.name, "slice_key": s.key, "hour_key": self.hour_key,
              "query": s.query_json(), "total_entries": total, "pages_total": pages, "pages_done": done,
              "status": status, "coverage": coverage, "parent_key": s.parent_key,
              "error": None if error is None else str(error)[:500]}]
        )


def slice_row(r: dict) -> dict:
    """A `search_slices` row with exactly the store's columns."""
    keys = ("source", "slice_key", "hour_key", "query", "total_entries", "pages_total", "pages_done",
            "status", "coverage", "parent_key", "error")
    return {k: r.get(k) for k in keys}


def search_page(ctx: CollectionContext, s: Slice, page: int, per_page: int, partition_key: str,
                report: HourReport) -> Any:
    """One search page of a slice: replayed from the landing table, or fetched (free) and landed first."""
    source = ctx.source.name
    request_key = f"{s.key}|page={page}"
    landed = ctx.store.get_landing(source, partition_key, "search_page", request_key)
    if landed is not None:
        report.pages_replayed += 1
        return json.loads(landed["payload"])
    if ctx.client is None:
        report.pages_missing += 1
        raise ReplayMiss(f"page {request_key} was never fetched")
    response = ctx.source.search(ctx.client, s, page, per_page)
    ctx.store.land_raw(source, partition_key, "search_page", request_key, response.text, response.status, ctx.run_id)
    report.pages_fetched += 1
    return response.data
