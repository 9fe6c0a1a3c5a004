"""Clearbit (legacy Company API) emulator: ``GET /v2/companies/find?domain=``.

Contract (vendor-apis.md §6 and §10):

* Auth: HTTP Basic with the key as user name (empty password) or ``Authorization: Bearer``;
  401 ``{"error": {"type": "auth_required", ...}}``.
* The first call for a domain Clearbit can resolve answers **202** with an empty body (the
  lookup is queued); later calls answer **200** with the company. A domain it does not know:
  **404** ``unknown_record``. A missing or malformed domain: 422.
* 1 credit per answered lookup (200 or 404); a 202 is free here (its later 200 carries the
  charge), so one lookup costs one credit. Every answer is charged, so ``rebought`` shows a
  client that asks for a domain it already has.
* Rate window per key (``limits.clearbit.find``, 600/min by default: the commonly cited figure,
  UNCONFIRMED), 429 with ``Retry-After`` (``send_retry_after``).

The companies are the population's employers, with Clearbit's own view: it knows the industry
and size even where Apollo has a gap (seeded, per company), misses a few domains entirely and
lacks metrics or a category for some.
"""

from __future__ import annotations

import base64
import math
import random
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

from .hunter import clean_domain, draw, first_param, world_of
from .population import INDUSTRIES, STATE_CODES, Company, stable_hash
from .server import Request, Response, SandboxContext, VendorApp

FIND_PATH = "/v2/companies/find"
DEFAULT_LIMITS = {"find": {"minute": 600}}
DEFAULT_KEYS = {"valid": ["sk_sandbox-clearbit-key"]}

UNKNOWN_DOMAIN_RATE = 0.06  # employers Clearbit has never indexed (404)
NO_METRICS_RATE = 0.05  # ... indexed without an employee count
NO_CATEGORY_RATE = 0.04  # ... indexed without an industry

EMPLOYEE_RANGES: tuple[tuple[int, str], ...] = (
    (10, "1-10"),
    (50, "11-50"),
    (250, "51-250"),
    (1000, "251-1K"),
    (5000, "1K-5K"),
    (10000, "5K-10K"),
    (50000, "10K-50K"),
    (100000, "50K-100K"),
)

# Clearbit's sector for the population's (LinkedIn-style) industries.
SECTORS = {
    "marketing & advertising": "Consumer Discretionary",
    "internet": "Information Technology",
    "computer software": "Information Technology",
    "information technology & services": "Information Technology",
    "financial services": "Financials",
    "hospital & health care": "Health Care",
}


def employees_range(n: int | None) -> str | None:
    """Clearbit's bucket for an employee count (``251-1K``...)."""
    if n is None:
        return None
    for upper, label in EMPLOYEE_RANGES:
        if n <= upper:
            return label
    return "100K+"


def _error(status: int, kind: str, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return Response.json(status, {"error": {"type": kind, "message": message}}, headers)


def company_object(seed: int, c: Company) -> dict:
    """The company as Clearbit knows it (Apollo's gaps filled from Clearbit's own, seeded, data)."""
    rng = random.Random(stable_hash(seed, "clearbit", c.id))
    industry = c.industry or rng.choices([i for i, _ in INDUSTRIES], weights=[w for _, w in INDUSTRIES])[0]
    employees = c.estimated_num_employees or int(10 ** rng.uniform(0.5, 4.7))
    if draw(seed, "clearbit_no_category", c.domain) < NO_CATEGORY_RATE:
        industry = None
    if draw(seed, "clearbit_no_metrics", c.domain) < NO_METRICS_RATE:
        employees = None
    state_code = STATE_CODES.get(c.state, c.state)
    return {
        "id": f"{stable_hash(seed, 'cb', c.id):032x}"[:32],
        "name": c.name,
        "legalName": None,
        "domain": c.domain,
        "domainAliases": [],
        "site": {"phoneNumbers": [c.phone] if c.phone else [], "emailAddresses": []},
        "category": {
            "sector": SECTORS.get(industry or "", "Consumer Discretionary") if industry else None,
            "industryGroup": None,
            "industry": industry,
            "subIndustry": None,
            "sicCode": None,
            "naicsCode": None,
        },
        "tags": [],
        "description": f"{c.name} ({industry})." if industry else None,
        "foundedYear": c.founded_year,
        "location": f"{c.street_address}, {c.city}, {state_code} {c.postal_code}".strip(),
        "geo": {
            "streetNumber": c.street_address.split(" ", 1)[0],
            "streetName": c.street_address.split(" ", 1)[-1],
            "city": c.city,
            "postalCode": c.postal_code or None,
            "state": c.state,
            "stateCode": state_code,
            "country": c.country,
            "countryCode": "US" if c.country == "United States" else None,
            "lat": None,
            "lng": None,
        },
        "logo": None,  # the Logo API was retired in 2025
        "linkedin": {"handle": c.linkedin_url.split("linkedin.com/", 1)[-1] if c.linkedin_url else None},
        "twitter": {"handle": None},
        "facebook": {"handle": None},
        "crunchbase": {"handle": None},
        "emailProvider": False,
        "type": "private",
        "ticker": None,
        "identifiers": {"usEIN": None},
        "phone": c.phone,
        "metrics": {
            "alexaUsRank": None,
            "alexaGlobalRank": None,
            "trafficRank": None,
            "employees": employees,
            "employeesRange": employees_range(employees),
            "marketCap": None,
            "raised": None,
            "annualRevenue": c.annual_revenue,
            "estimatedAnnualRevenue": None,
            "fiscalYearEnd": None,
        },
        "indexedAt": "2026-01-02T04:21:11.456Z",
        "tech": [],
        "techCategories": [],
        "parent": {"domain": None},
        "ultimateParent": {"domain": None},
    }


def indexed(world, domain: str) -> bool:
    """Whether Clearbit has indexed this employer's domain (a seeded draw per domain)."""
    return domain in world.company_by_domain and draw(world.seed, "clearbit_unknown", domain) >= UNKNOWN_DOMAIN_RATE


class ClearbitApp(VendorApp):
    """The Clearbit Company API emulator."""

    name = "clearbit"
    prefixes = ("/v2/companies/",)

    def __init__(self, ctx: SandboxContext):
        super().__init__(ctx)
        self.world = world_of(ctx.population)
        self._lock = threading.Lock()
        self.reset()

    def endpoint_of(self, path: str) -> str:
        """Stats label: ``companies/find``."""
        return path.removeprefix("/v2/").strip("/")

    def reset(self) -> None:
        """Clear credits, queued lookups and counters."""
        with self._lock:
            self.credits_consumed = 0
            self.credits_by_key: Counter = Counter()
            self.purchases: Counter = Counter()
            self.queued: set[str] = set()
            self.not_found = 0
            self.rate_limited = 0

    def stats(self) -> dict:
        """Credits (total and per key), lookups per domain, re-buys, 404s and 429s."""
        with self._lock:
            return {
                "credits_consumed": self.credits_consumed,
                "credits_by_key": dict(self.credits_by_key),
                "purchases": dict(self.purchases),
                "rebought": {d: n for d, n in self.purchases.items() if n > 1},
                "not_found": self.not_found,
                "rate_limited": self.rate_limited,
            }

    def knows(self, domain: str) -> bool:
        """Whether Clearbit has indexed this domain."""
        return indexed(self.world, domain)

    @staticmethod
    def _api_key(req: Request) -> str | None:
        auth = (req.header("Authorization") or "").strip()
        if auth.lower().startswith("bearer "):
            return auth[7:].strip() or None
        if auth.lower().startswith("basic "):
            try:
                user = base64.b64decode(auth[6:].strip()).decode("utf-8").split(":", 1)[0]
            except (ValueError, UnicodeDecodeError):
                return None
            return user.strip() or None
        return None

    def _too_many(self, limit: int, window: str, retry_after: int) -> Response:
        headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": "0"}
        if self.ctx.config.get("send_retry_after", True):
            headers["Retry-After"] = str(retry_after)
        return _error(429, "rate_limit", f"Rate limit of {limit} requests per {window} exceeded.", headers)

    def fault_response(self, kind: str, req: Request) -> Response:
        """A spurious rate-limit fault looks like Clearbit's own 429."""
        if kind == "429":
            limit = (self.ctx.config["limits"].get("clearbit", {}).get("find", {}) or {}).get("minute") or 0
            return self._too_many(limit, "minute", 1)
        return super().fault_response(kind, req)

    def handle(self, req: Request) -> Response:
        """Authenticate, rate-limit, then look the domain up (202 first, then 200; 404 unknown)."""
        if "/" + req.path.strip("/") != FIND_PATH or req.method not in ("GET", "HEAD"):
            return _error(404, "not_found", "Resource not found")
        key = self._api_key(req)
        if not key or key not in set(self.ctx.config["keys"].get("clearbit", {}).get("valid") or []):
            return _error(401, "auth_required", "A valid API key is required.")
        limits = self.ctx.config["limits"].get("clearbit", {}).get("find", {}) or {}
        windows = {"second": 1, **self.ctx.config["windows"]}
        decision = self.ctx.limiter.acquire("clearbit", key, "find", limits, windows)
        headers: dict[str, str] = {}
        for usage in decision.windows:
            if usage.limit is not None and usage.name == "minute":
                headers = {"X-RateLimit-Limit": str(usage.limit), "X-RateLimit-Remaining": str(usage.remaining)}
        if not decision.allowed:
            with self._lock:
                self.rate_limited += 1
            ex = decision.exceeded
            return self._too_many(ex.limit, ex.name, max(1, math.ceil(ex.resets_in)))
        domain = clean_domain(first_param(req.query, "domain"))
        if not domain or "." not in domain:
            return _error(422, "invalid_domain", "A valid domain parameter is required.")
        if not self.knows(domain):
            self._charge(key, domain)
            with self._lock:
                self.not_found += 1
            return _error(404, "unknown_record", f"Unknown domain: {domain}", headers)
        with self._lock:
            first_time = domain not in self.queued
            self.queued.add(domain)
        if first_time:
            return Response(202, b"", headers=headers)
        self._charge(key, domain)
        body: dict[str, Any] = company_object(self.world.seed, self.world.company_by_domain[domain])
        return Response.json(200, body, headers)

    def _charge(self, key: str, domain: str) -> None:
        with self._lock:
            self.credits_consumed += 1
            self.credits_by_key[key] += 1
            self.purchases[domain] += 1


def create_app(ctx: SandboxContext) -> ClearbitApp:
    """Entry point the server's vendor registry calls."""
    return ClearbitApp(ctx)
