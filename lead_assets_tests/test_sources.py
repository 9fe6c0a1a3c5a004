"""The source registry: one adapter per source, read by partitions, resources, sensors and the CLI."""

from __future__ import annotations

import inspect

import pytest

from lead_assets.config.settings import sprint_config
from lead_assets.defs.partitions import ENABLED_SOURCES, enabled_sources, source_partitions
from lead_assets.pipeline.search_plan import Slice
from lead_assets.sources import SOURCES, ImportSource, PagedVendorSource, lead_source, paged_source
from lead_assets.sources.slice_walk import SliceWalk


def test_every_registered_adapter_is_complete_and_named_once():
    assert list(SOURCES)[:3] == ["apollo", "zoominfo", "sales_navigator"]
    for name, adapter in SOURCES.items():
        assert adapter.name == name and adapter.label
        assert isinstance(adapter, PagedVendorSource | ImportSource)
        assert not inspect.isabstract(type(adapter)), f"{name} leaves protocol methods unimplemented"
        if isinstance(adapter, PagedVendorSource):
            cfg = sprint_config()
            assert adapter.unit_price_key in cfg.prices_usd, f"{name}: no price for {adapter.unit_price_key}"
            assert adapter.purchase_chunk >= 1


def test_unknown_or_misused_sources_get_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown source 'linkedin_scraper' \(known: apollo, zoominfo"):
        lead_source("linkedin_scraper")
    with pytest.raises(ValueError, match="is an import source, not a paged vendor"):
        paged_source("sales_navigator")
    with pytest.raises(ValueError, match=r"sprint.yaml sprint.sources: unknown source 'nope'"):
        enabled_sources(("apollo", "nope"))
    with pytest.raises(ValueError, match="each source once"):
        enabled_sources(("apollo", "apollo"))
    with pytest.raises(ValueError, match="at least one"):
        enabled_sources(())


def test_partitions_follow_the_brief():
    assert ENABLED_SOURCES == sprint_config().sources
    assert source_partitions.get_partition_keys() == list(ENABLED_SOURCES)


class _Walk(SliceWalk):
    """A vendor whose slices hold `sizes[key]` people, 10 a page, 3 pages shown per query."""

    per_page, max_pages = 10, 3

    def __init__(self, sizes: dict[str, int]) -> None:
        self.sizes, self.seen, self.done = sizes, [], []

    def search(self, s, page):
        total = self.sizes.get(s.key, 0)
        self.seen.append((s.key, page))
        return total, [f"{s.key}#{i}" for i in range((page - 1) * 10, min(page * 10, total))]

    def on_done(self, s, total, pages, fetched, coverage):
        self.done.append((s.key, total, pages, fetched, coverage))


def test_the_slice_walk_reads_every_page_and_splits_over_the_cap():
    s = Slice(key="ppc-manager@austin-tx", titles=("ppc manager",), locations=("Austin, TX",))
    parts = s.split()
    walk = _Walk({s.key: 45, **{p.key: 12 for p in parts}})  # 45 > 3 pages x 10: split
    walk.walk(s)
    assert (s.key, 1) in walk.seen and (s.key, 2) not in walk.seen
    assert [d[0] for d in walk.done] == [p.key for p in parts]
    assert all(d[1:] == (12, 2, 2, 1.0) for d in walk.done)
    sampled = _Walk({s.key: 25})
    sampled.page_limit = 1
    sampled.walk(s)
    assert sampled.done == [(s.key, 25, 3, 1, 1.0)] and sampled.seen == [(s.key, 1)]
