"""What a lead source is: the two shapes every source adapter takes, with nothing of Dagster in them.

A *paged vendor* (Apollo, ZoomInfo) is searched slice by slice for free, then pays for the people
it has never seen; `sources/collector.py` walks, lands, buys and stores for every one of them, and
the adapter only says how its vendor is asked and read (`PagedVendorSource`).

An *import* source (Sales Navigator lead lists, any vendor's CSV export) reads files dropped in
a folder; `sources/file_imports.py` lands each new file once under the hour it arrived in, and the
adapter only says how one file becomes records (`ImportSource`).

The registry (`lead_assets.sources`) lists every adapter; partitions, resources, sensors, the CLI,
the forecast and the reports read it, so adding a source is one module and one registry line.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # the adapters import these; the protocol only names them
    from lead_assets.pipeline.lead_batches import VendorRecord
    from lead_assets.pipeline.search_plan import Slice
    from lead_assets.sources.collector import CollectionContext, HourReport
    from lead_assets.sources.file_imports import ImportContext, ImportReport


class LeadSource(ABC):
    """One source of people: its partition name, what it is, and how its hour runs."""

    name: ClassVar[str]  # partition key, `lead_sources.source`, dedup key prefix `vid:<name>:`
    label: ClassVar[str]  # how people call it ("Apollo")
    kind: ClassVar[str]  # "vendor" (paged search + purchases) | "import" (files dropped in a folder)
    # Vendor failures a retry cannot help (credentials refused, allowance spent): the run stops with the reason.
    fatal_errors: ClassVar[tuple[type[BaseException], ...]] = ()

    @property
    def resource_key(self) -> str:
        """The Dagster resource that holds this source's client or folder (its name)."""
        return self.name


class PagedVendorSource(LeadSource):
    """A vendor searched for free by plan slice and paid per person (`sources/collector.py` runs it).

    The adapter says how to ask and read its vendor; the collector decides what to ask, lands every
    answer before reading it, buys only people no dedup key knows and stores each page as one batch.
    """

    kind: ClassVar[str] = "vendor"
    unit_price_key: ClassVar[str]  # key in sprint.yaml `prices_usd` of one paid unit (a credit, a record)
    purchase_chunk: ClassVar[int]  # people per purchase call (the vendor's maximum)
    no_id_reason: ClassVar[str]  # quarantine reason of a search row without a vendor id
    # A top-level plan slice with nobody in it: None = an empty market; text = the vendor's way of
    # saying "I did not understand the filter" (the slice is marked `empty` and reported, never complete).
    empty_slice_error: ClassVar[str | None] = None
    # How a purchase left people unanswered (`HourPurchases.deferred`): the failed slice's reason says it.
    unanswered: ClassVar[str] = "were never answered within the retry budget"

    def check_client(self, client: Any) -> None:
        """Refuse, before any call, a client of another vendor (None: replay, always accepted)."""

    def paging(self, per_page: int, max_pages: int) -> tuple[int, int]:
        """(rows per page, pages shown per query) within the vendor's own caps."""
        return per_page, max_pages

    @abstractmethod
    def search(self, client: Any, s: Slice, page: int, per_page: int) -> Any:
        """Ask one free search page of slice `s`; returns the transport `Response` (landed before it is read)."""

    @abstractmethod
    def read_page(self, body: Any, s: Slice) -> tuple[int, list]:
        """(total matching people, rows) of a search answer, live or landed."""

    @abstractmethod
    def person_id(self, row: Any) -> str | None:
        """The vendor's id of a search row (None: the row cannot be bought)."""

    @abstractmethod
    def landed_purchases(self, ctx: CollectionContext, partition_key: str) -> dict[str, Any]:
        """What this partition already bought (a killed run's purchases), by vendor id."""

    @abstractmethod
    def buy(self, ctx: CollectionContext, chunk: list[str], partition_key: str, report: HourReport,
            hour: HourPurchases) -> dict[str, Any]:
        """Buy one chunk (<= purchase_chunk people); land the answer and book its cost before reading it."""

    @abstractmethod
    def to_record(self, person_id: str, answer: Any) -> VendorRecord | None:
        """A bought answer (or None / UNREADABLE) as a record; None = the vendor has not answered yet."""

    def before_purchase(self, ctx: CollectionContext, rows: list, partition_key: str, hour: HourPurchases) -> None:
        """Settle people of a page without buying them (e.g. match people another source brought in)."""


@dataclass
class HourPurchases:
    """What one hour's purchases know beyond the landings: who is unanswered, and whether to stop."""

    bought: dict[str, Any]  # vendor id -> answer (settled) or UNREADABLE
    deferred: set[str] = field(default_factory=set)  # asked, never answered within the retry budget: a later hour asks again
    stop: BaseException | None = None  # set when the vendor said "no more" (allowance spent): nobody else is bought


class ImportSource(LeadSource):
    """Files dropped in a folder (never scraped): each new file is landed once, then parsed into records."""

    kind: ClassVar[str] = "import"
    patterns: ClassVar[tuple[str, ...]] = ("*.csv", "*.CSV", "*.txt", "*.tsv")

    @property
    def folder_setting(self) -> str:
        """The environment setting that points at its folder (default `imports/<name>/` of the storage)."""
        return f"{self.name.upper()}_IMPORT_DIR"

    def sandbox_file(self, population: Any) -> tuple[str, bytes] | None:
        """(file name, bytes) of a file the sandbox's population would export, for the demo to drop."""
        return None

    @abstractmethod
    def import_hour(self, ctx: ImportContext, hour_key: str) -> ImportReport:
        """Land the folder's new files under this hour, then store every file this hour owns."""

