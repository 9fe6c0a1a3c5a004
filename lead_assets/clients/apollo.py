"""Apollo.io client: People API Search (free, capped) and Bulk People Enrichment (paid).

Contract: shared/vendor-apis.md section 1. Base URL and key come from configuration
(`APOLLO_BASE_URL`, `APOLLO_API_KEY`), so the same code talks to Apollo, the sandbox,
or any compatible endpoint.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lead_assets.clients.errors import VendorCallFailed
from lead_assets.clients.http import VendorHttp, VendorResponse
from lead_assets.clients.rate_limit import make_limiter

SEARCH_PATH = "/api/v1/mixed_people/api_search"
BULK_MATCH_PATH = "/api/v1/people/bulk_match"
PER_PAGE_MAX = 100
MAX_PAGES = 500  # Apollo displays at most 500 pages x 100 = 50,000 people per query
BULK_MATCH_MAX = 10

# Apollo's documented header names and the names seen in live traffic for the daily window.
_REMAINING_HEADERS = {
    "minute": ("x-minute-requests-left",),
    "hour": ("x-hourly-requests-left",),
    "day": ("x-daily-requests-left", "x-24-hour-requests-left"),
}


def remaining_from_headers(headers: Mapping[str, str]) -> dict[str, int]:
    """Calls left per window as Apollo reports them (either spelling of the daily headers)."""
    remaining: dict[str, int] = {}
    for window, names in _REMAINING_HEADERS.items():
        for name in names:
            value = headers.get(name)
            if value is not None and str(value).strip().lstrip("-").isdigit():
                remaining[window] = int(value)
                break
    return remaining


@dataclass
class SearchPage:
    """One page of api_search: what the vendor said, and the raw body for the landing table."""

    total_entries: int | None
    people: list[Any]
    response: VendorResponse

    @property
    def pages_available(self) -> int:
        """Pages Apollo will show for this query: it never pages past 500 x 100."""
        if not self.total_entries:
            return 0
        return min(math.ceil(self.total_entries / PER_PAGE_MAX), MAX_PAGES)


@dataclass
class MatchBatch:
    """One bulk_match answer: matches in input order (None = nobody matched) and credits spent."""

    matches: list[Any]
    credits_consumed: float
    response: VendorResponse


class ApolloClient:
    """Plain `requests` client for the two Apollo endpoints the sprint needs."""

    vendor = "apollo"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        limits: Mapping[str, Mapping[str, int | None]] | None = None,
        window_seconds: Mapping[str, float] | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
        max_attempts: int = 3,
        backoff_base: float = 0.5,
        max_wait: float = 90.0,
        logger: logging.Logger | None = None,
        sleep=None,
    ):
        # Shared through Redis when REDIS_URL answers, so parallel runs stay inside the vendor's limits together.
        # One budget per API key (not per sprint): the bucket is named by a hash of the key.
        limiter = make_limiter(self.vendor, limits, credential=api_key, window_seconds=window_seconds)
        extra = {"sleep": sleep} if sleep is not None else {}
        self.http = VendorHttp(
            self.vendor,
            base_url,
            headers={
                "x-api-key": api_key,
                "Content-Type": "application/json",
                "Cache-Control": "no-cache",
                "Accept": "application/json",
            },
            credential_setting="APOLLO_API_KEY",
            limiter=limiter,
            timeout=timeout,
            max_attempts=max_attempts,
            backoff_base=backoff_base,
            max_wait=max_wait,
            logger=logger,
            **extra,
        )

    def search_people(self, query: Mapping[str, Any], page: int, per_page: int = PER_PAGE_MAX) -> SearchPage:
        """One page of People API Search (free). `query` holds Apollo filter names."""
        body = {**query, "page": page, "per_page": min(per_page, PER_PAGE_MAX)}
        resp = self.http.request(
            "POST", SEARCH_PATH, endpoint_class="search", json_body=body, observe_headers=remaining_from_headers
        )
        data = resp.data if isinstance(resp.data, dict) else {}
        total = data.get("total_entries")
        if total is None and isinstance(data.get("pagination"), dict):
            total = data["pagination"].get("total_entries")
        people = data.get("people")
        if not isinstance(people, list) or not isinstance(total, int | None):
            raise VendorCallFailed(self.vendor, f"{SEARCH_PATH}: unexpected body shape {resp.text[:200]!r}")
        return SearchPage(total_entries=total, people=people, response=resp)

    def bulk_match(self, person_ids: Sequence[str]) -> MatchBatch:
        """Enrich up to 10 people by Apollo id (1 credit per person matched)."""
        if not 1 <= len(person_ids) <= BULK_MATCH_MAX:
            raise ValueError(f"bulk_match takes 1..{BULK_MATCH_MAX} ids, got {len(person_ids)}")
        body = {
            "details": [{"id": pid} for pid in person_ids],
            "reveal_personal_emails": False,
            "reveal_phone_number": False,
        }
        resp = self.http.request(
            "POST",
            BULK_MATCH_PATH,
            endpoint_class="enrichment",
            json_body=body,
            observe_headers=remaining_from_headers,
            paid=True,
        )
        data = resp.data if isinstance(resp.data, dict) else {}
        matches = data.get("matches")
        if not isinstance(matches, list):
            raise VendorCallFailed(self.vendor, f"{BULK_MATCH_PATH}: no matches list in {resp.text[:200]!r}")
        credits = data.get("credits_consumed")
        credits = float(credits) if isinstance(credits, int | float) else 0.0
        if self.http.calls:
            self.http.calls[-1].credits = credits
        return MatchBatch(matches=matches, credits_consumed=credits, response=resp)
