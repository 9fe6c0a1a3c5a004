"""The one walk over a plan slice that the collection and the forecast share.

A slice's first search page says how many people match. Over the vendor's display cap the slice
splits (by company size, then further: `Slice.split`) and each part is walked instead; otherwise
its pages are read in order (all of them, or the first `page_limit` when sampling). What happens
at each step (landing, buying, counting) is the caller's: it subclasses `SliceWalk`.
"""

from __future__ import annotations

from typing import Any

from lead_assets.pipeline.search_plan import Slice


class SliceWalk:
    """Walk plan slices page by page; subclasses say how to search and what to do with what they see."""

    per_page: int
    max_pages: int
    page_limit: int | None = None  # read at most this many pages of a slice (a sampled forecast)

    @property
    def cap(self) -> int:
        """How many people one query can show (pages x rows per page)."""
        return self.per_page * self.max_pages

    def search(self, s: Slice, page: int) -> tuple[int, list]:
        """(total matching people, rows) of one search page."""
        raise NotImplementedError

    def walk(self, s: Slice) -> None:
        total, first = self.search(s, 1)
        if total == 0 and s.parent_key is None and self.on_empty(s):
            return
        if total > self.cap:
            children = s.split()
            if children:
                self.on_split(s, total, children)
                return
        pages = min(-(-total // self.per_page), self.max_pages)
        fetch = pages if self.page_limit is None else min(pages, self.page_limit)
        self.on_start(s, total, pages)
        for page in range(1, fetch + 1):
            rows = first if page == 1 else self.search(s, page)[1]
            self.on_rows(s, page, rows)
        self.on_done(s, total, pages, fetch, 1.0 if total <= self.cap else self.cap / total)

    # -- what the caller does at each step (defaults: nothing) --

    def on_empty(self, s: Slice) -> bool:
        """A top-level slice with nobody in it; True stops the walk of it here."""
        return False

    def on_split(self, s: Slice, total: int, children: list[Slice]) -> None:
        """Over the cap: walk the parts instead (the caller may wrap each part in its own error handling)."""
        for child in children:
            self.walk(child)

    def on_start(self, s: Slice, total: int, pages: int) -> None:
        """The slice will be read: `pages` pages of `total` people."""

    def on_rows(self, s: Slice, page: int, rows: list[Any]) -> None:
        """One page's rows."""

    def on_done(self, s: Slice, total: int, pages: int, fetched: int, coverage: float) -> None:
        """Every page read (or sampled); `coverage` is the share of `total` the cap lets anyone see."""
