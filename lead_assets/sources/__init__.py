"""Every lead source, by name: the one list that partitions, resources, sensors, the CLI, the forecast
and the reports read. Adding a source is a module in this package and a line here (docs/extending.md)."""

from __future__ import annotations

from lead_assets.sources.adapter import ImportSource, LeadSource, PagedVendorSource
from lead_assets.sources.apollo import ApolloSource
from lead_assets.sources.lead_list import LeadListSource
from lead_assets.sources.sales_navigator import SalesNavigatorSource
from lead_assets.sources.zoominfo import ZoomInfoSource

# In partition order. A sprint collects the ones its brief lists (sprint.yaml `sprint.sources`).
SOURCES: dict[str, LeadSource] = {s.name: s for s in (ApolloSource(), ZoomInfoSource(), SalesNavigatorSource(),
                                                       LeadListSource())}


def lead_source(name: str) -> LeadSource:
    """The adapter of source `name`; ValueError naming the known sources otherwise."""
    try:
        return SOURCES[name]
    except KeyError:
        raise ValueError(f"unknown source {name!r} (known: {', '.join(SOURCES)})") from None


def paged_source(name: str) -> PagedVendorSource:
    """The adapter of a paged vendor source (searched by slice, paid per person)."""
    adapter = lead_source(name)
    if not isinstance(adapter, PagedVendorSource):
        raise ValueError(f"source {name!r} is an {adapter.kind} source, not a paged vendor")
    return adapter


def import_sources() -> list[ImportSource]:
    return [s for s in SOURCES.values() if isinstance(s, ImportSource)]


__all__ = ["SOURCES", "ImportSource", "LeadSource", "PagedVendorSource", "import_sources", "lead_source",
           "paged_source"]
