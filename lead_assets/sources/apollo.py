"""Source `apollo`: Apollo.io People API Search (free) by plan slice, `people/bulk_match` (paid) for the unseen.

Search shows at most 500 pages x 100 people per query; bulk_match enriches <= 10 people a call
and charges a credit per matched person. An answer Apollo charged for but that came back
unreadable is landed and its people quarantined, never re-bought automatically.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from lead_assets.clients.apollo import BULK_MATCH_MAX, MAX_PAGES, PER_PAGE_MAX
from lead_assets.clients.errors import UnreadablePaidResponse, VendorCallFailed
from lead_assets.core.vendor_records import apollo_person_record
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

UNREADABLE_REASON = (
    "apollo bulk_match answer was unreadable after the vendor charged for it; "
    "not re-bought automatically (review and re-enrich by hand)"
)


class ApolloSource(PagedVendorSource):
    name: ClassVar[str] = "apollo"
    label: ClassVar[str] = "Apollo"
    unit_price_key: ClassVar[str] = "apollo_credit"
    purchase_chunk: ClassVar[int] = BULK_MATCH_MAX
    no_id_reason: ClassVar[str] = "search result without an Apollo id"

    def paging(self, per_page: int, max_pages: int) -> tuple[int, int]:
        return max(1, min(per_page, PER_PAGE_MAX)), max(1, min(max_pages, MAX_PAGES))

    def search(self, client: Any, s: Slice, page: int, per_page: int) -> Any:
        return client.search_people(s.query(), page, per_page=per_page).response

    def read_page(self, body: Any, s: Slice | None) -> tuple[int, list]:
        if not isinstance(body, dict):
            raise VendorCallFailed(self.name, f"unreadable search page {str(body)[:200]!r}")
        total = body.get("total_entries")
        return (total if isinstance(total, int) else 0), body.get("people") or []

    def person_id(self, row: Any) -> str | None:
        pid = row.get("id") if isinstance(row, dict) else None
        return pid if isinstance(pid, str) and pid else None

    def landed_purchases(self, ctx, partition_key: str) -> dict[str, Any]:
        """People this partition already looked up, by Apollo id; None = no match, UNREADABLE = charged, unknown."""
        found: dict[str, Any] = {}
        for landing in ctx.store.landings(self.name, partition_key, "enrichment"):
            ids = landing["request_key"].removeprefix("ids=").split(",")
            try:
                matches = json.loads(landing["payload"]).get("matches") or []
            except (ValueError, AttributeError):
                found.update(dict.fromkeys(ids, UNREADABLE))
                continue
            for pid, match in zip(ids, matches, strict=False):
                found[pid] = {**match, "id": match.get("id") or pid} if isinstance(match, dict) else None
        return found

    def buy(self, ctx, chunk: list[str], partition_key: str, report, hour: HourPurchases) -> dict[str, Any]:
        """Buy one chunk (<= 10 people); the body is landed before it is read."""
        request_key = purchase_key(chunk)
        if ctx.client is None:
            raise ReplayMiss(f"enrichment {request_key} was never bought")
        guard_purchase(ctx, self.name, len(chunk))
        try:
            result = ctx.client.bulk_match(chunk)
        except UnreadablePaidResponse as exc:
            # Charged but unreadable: land it so no later run buys these people again.
            # Book what it most likely cost (one credit a person) so spend is never under-stated.
            land_purchase(ctx, self.name, "people/bulk_match (unreadable, estimated)", len(chunk), partition_key,
                          request_key, exc.text, exc.status)
            report.errors.append(f"bulk_match answer unreadable for {len(chunk)} people (quarantined, not re-bought)")
            return dict.fromkeys(chunk, UNREADABLE)
        land_purchase(ctx, self.name, "people/bulk_match", result.credits_consumed, partition_key, request_key,
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

    def to_record(self, person_id: str, answer: Any) -> VendorRecord:
        if answer is UNREADABLE:
            return VendorRecord(payload={"id": person_id}, fields=None, problem=UNREADABLE_REASON)
        if answer is None:
            return VendorRecord(payload={"id": person_id}, fields=None,
                                problem="apollo bulk_match returned no person for this id")
        fields, problem = apollo_person_record(answer)
        return VendorRecord(payload=answer, fields=fields, problem=problem)
