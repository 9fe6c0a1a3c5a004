"""Apollo.io emulator: People API Search, People (bulk) Enrichment, auth and plan rate limits.

Contract (see vendor-apis.md §1 and §10):

* ``POST /api/v1/mixed_people/api_search``: free, locked rows (no email, LinkedIn URL or last
  name), filters from a JSON body or ``x[]=`` query parameters, ``per_page`` silently clamped to 100,
  rows beyond ``search_cap`` (50,000 by default) unreachable while ``total_entries`` stays true.
* ``POST /api/v1/people/bulk_match`` (<= 10 details) and ``POST /api/v1/people/match``: full
  person objects, 1 credit per matched person *every time* (the sandbox never forgives a re-buy,
  so the stats prove whether the project pays twice); ``null`` and no credit for a miss.
* ``x-api-key`` header or ``Authorization: Bearer``; 401 text ``Invalid access credentials.``;
  403 ``API_INACCESSIBLE`` on search for non-master keys.
* Fixed-window limits per key and endpoint class ("search" = every non-enrichment API,
  "enrichment" = match/bulk_match), usage headers on every authenticated answer, 429 with
  Apollo's message and ``Retry-After`` (configurable; Apollo's own is UNCONFIRMED).

The same paths answer under ``/apollo/api/v1/...`` and ``/api/v1/...`` (and the legacy
``/apollo/v1/...``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .population import (
    LINKEDIN_FORMS,
    STATE_CODES,
    US,
    US_STATES,
    Person,
    ascii_fold,
    canonical_slug,
    linkedin_url,
    stable_hash,
    title_tokens,
)
from .ratelimit import Decision
from .server import BadRequestBody, Request, Response, SandboxContext, VendorApp

SEARCH_PATH = "/api/v1/mixed_people/api_search"
BULK_MATCH_PATH = "/api/v1/people/bulk_match"
MATCH_PATH = "/api/v1/people/match"
ENRICHMENT_PATHS = frozenset(
    {
        MATCH_PATH,
        BULK_MATCH_PATH,
        "/api/v1/organizations/enrich",
        "/api/v1/organizations/bulk_enrich",
    }
)
# This vendor's entries in the sandbox config (Apollo's Professional plan, docs 2026):
# "search" = every non-enrichment API.
DEFAULT_LIMITS = {
    "search": {"minute": 200, "hour": 600, "day": 6000},
    "enrichment": {"minute": 1000, "hour": None, "day": None},
}
DEFAULT_KEYS = {"valid": ["sandbox-apollo-key"], "non_master": []}

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 10
MAX_BULK_DETAILS = 10

INVALID_CREDENTIALS = "Invalid access credentials."
INVALID_PARAMETERS = {"error": "Invalid parameters"}
UPGRADE_URL = "https://app.apollo.io/#/settings/plans/upgrade"
DIRECT_DIAL_MAYBE = "Maybe: please request direct dial via people/bulk_match"

# Header names per window; the daily window goes out under both spellings (docs vs live traffic).
RATE_HEADERS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "minute": (("x-rate-limit-minute", "x-minute-usage", "x-minute-requests-left"),),
    "hour": (("x-rate-limit-hourly", "x-hourly-usage", "x-hourly-requests-left"),),
    "day": (
        ("x-rate-limit-daily", "x-daily-usage", "x-daily-requests-left"),
        ("x-rate-limit-24-hour", "x-24-hour-usage", "x-24-hour-requests-left"),
    ),
}

COUNTRY_ALIASES: dict[str, str] = {
    "us": US,
    "usa": US,
    "u.s.": US,
    "u.s.a.": US,
    "united states of america": US,
    "america": US,
    "uk": "United Kingdom",
    "great britain": "United Kingdom",
    "britain": "United Kingdom",
}


# --------------------------------------------------------------------------------------------
# Search filters.
# --------------------------------------------------------------------------------------------


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", str(text)).strip().lower()


def _country_matches(term: str, person: Person) -> bool:
    return term == person.country.lower() or COUNTRY_ALIASES.get(term) == person.country


def _state_matches(term: str, person: Person) -> bool:
    if term == person.state_name.lower():
        return True
    # A two-letter term is a US postal code ("tx"); Apollo stores either spelling, matches both.
    return person.country == US and US_STATES.get(term.upper(), "").lower() == person.state_name.lower()


def location_matches(entry: str, person: Person) -> bool:
    """Apollo-style ``person_locations`` entry: "Austin, Texas", "texas", "united states", "London"."""
    parts = [p for p in (_norm(x) for x in str(entry).split(",")) if p]
    if not parts:
        return False
    city = person.city.lower()
    if len(parts) == 1:
        term = parts[0]
        return _country_matches(term, person) or _state_matches(term, person) or term == city
    if len(parts) == 2:
        a, b = parts
        if a == city and (_state_matches(b, person) or _country_matches(b, person)):
            return True
        return _state_matches(a, person) and _country_matches(b, person)
    a, b, c = parts[:3]
    return a == city and _state_matches(b, person) and _country_matches(c, person)


@dataclass(frozen=True)
class SearchFilters:
    """The api_search filters the sandbox understands (others are accepted and ignored)."""

    titles: tuple[str, ...] = ()
    include_similar_titles: bool = True
    locations: tuple[str, ...] = ()
    seniorities: tuple[str, ...] = ()
    employee_ranges: tuple[tuple[int, int], ...] = ()
    domains: tuple[str, ...] = ()

    def matches(self, person: Person) -> bool:
        """Whether ``person`` passes every given filter (each filter matches any of its values)."""
        if self.titles:
            if person.title is None:
                return False
            if self.include_similar_titles:
                words = title_tokens(person.title)
                if not any(title_tokens(t) and title_tokens(t) <= words for t in self.titles):
                    return False
            elif _norm(person.title) not in {_norm(t) for t in self.titles}:
                return False
        if self.locations and not any(location_matches(loc, person) for loc in self.locations):
            return False
        if self.seniorities and person.seniority not in {s.lower() for s in self.seniorities}:
            return False
        if self.employee_ranges:
            size = person.company.estimated_num_employees
            if size is None or not any(lo <= size <= hi for lo, hi in self.employee_ranges):
                return False
        if self.domains and (person.company.primary_domain or "") not in self.domains:
            return False
        return True

    def as_dict(self) -> dict:
        """JSON-ready form (for ground-truth answers)."""
        return {
            "person_titles": list(self.titles),
            "include_similar_titles": self.include_similar_titles,
            "person_locations": list(self.locations),
            "person_seniorities": list(self.seniorities),
            "organization_num_employees_ranges": [f"{lo},{hi}" for lo, hi in self.employee_ranges],
            "q_organization_domains_list": list(self.domains),
        }


class PeopleIndex:
    """Apollo's records by title word and exact title, so a search reads only its candidates.

    Every search of the plan names titles; scanning 30,000 records per new filter cost ~0.2 s of
    the sandbox's CPU, an index lookup a few milliseconds. The filters still decide (the index
    only narrows), so answers are exactly those of a full scan, in the same (id) order.
    """

    def __init__(self, people: list[Person]):
        self.people = people
        by_word: dict[str, set[int]] = {}
        by_title: dict[str, list[int]] = {}
        for i, p in enumerate(people):
            if p.title is None:
                continue
            for word in title_tokens(p.title):
                by_word.setdefault(word, set()).add(i)
            by_title.setdefault(_norm(p.title), []).append(i)
        self.by_word = by_word
        self.by_title = by_title

    def _title_candidates(self, filters: SearchFilters) -> set[int]:
        found: set[int] = set()
        for title in filters.titles:
            if not filters.include_similar_titles:
                found.update(self.by_title.get(_norm(title), ()))
                continue
            words = title_tokens(title)
            if not words:
                continue  # an empty title matches nobody (as in SearchFilters.matches)
            postings = sorted((self.by_word.get(w, set()) for w in words), key=len)
            found |= postings[0].intersection(*postings[1:])
        return found

    def find(self, filters: SearchFilters) -> list[Person]:
        """Every record matching ``filters``, in id order."""
        if not filters.titles:
            return [p for p in self.people if filters.matches(p)]
        # The candidates pass the title filter by construction; a place passes or fails the
        # location filter for everybody living there, so each place is judged once.
        rest = dataclasses.replace(filters, titles=(), locations=())
        places: dict[tuple[str, str, str], bool] = {}

        def lives_there(p: Person) -> bool:
            key = (p.city, p.state_name, p.country)
            hit = places.get(key)
            if hit is None:
                hit = places[key] = any(location_matches(loc, p) for loc in filters.locations)
            return hit

        people = self.people
        return [
            people[i] for i in sorted(self._title_candidates(filters))
            if (not filters.locations or lives_there(people[i])) and rest.matches(people[i])
        ]


class InvalidParameters(ValueError):
    """A parameter Apollo would reject with 422 ``Invalid parameters``."""


def merged_params(query: Mapping[str, list[str]], body: Any) -> dict[str, Any]:
    """Query parameters and JSON body as one dict: ``x[]`` keys become ``x`` lists, body wins."""
    if body not in (None, {}) and not isinstance(body, dict):
        raise InvalidParameters("body must be a JSON object")
    params: dict[str, Any] = {}
    for key, values in query.items():
        if key.endswith("[]"):
            params.setdefault(key[:-2], []).extend(values)
        else:
            params[key] = values if len(values) > 1 else values[0]
    for key, value in (body or {}).items():
        params[key[:-2] if key.endswith("[]") else key] = value
    return params


def _list_param(params: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = params.get(name)
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value if v is not None and str(v).strip())
    raise InvalidParameters(f"{name} must be a list of strings")


def _bool_param(params: Mapping[str, Any], name: str, default: bool) -> bool:
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if str(value).strip().lower() in {"true", "1", "yes"}:
        return True
    if str(value).strip().lower() in {"false", "0", "no"}:
        return False
    raise InvalidParameters(f"{name} must be a boolean")


def _int_param(params: Mapping[str, Any], name: str, default: int) -> int:
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise InvalidParameters(f"{name} must be an integer")
    try:
        return int(float(value)) if isinstance(value, float | int) else int(str(value).strip())
    except (TypeError, ValueError) as exc:
        raise InvalidParameters(f"{name} must be an integer") from exc


def parse_filters(params: Mapping[str, Any]) -> SearchFilters:
    """Build :class:`SearchFilters` from merged parameters (InvalidParameters on bad values)."""
    ranges = []
    for text in _list_param(params, "organization_num_employees_ranges"):
        try:
            lo, hi = (int(x) for x in text.split(","))
        except ValueError as exc:
            raise InvalidParameters("organization_num_employees_ranges entries look like '1,10'") from exc
        ranges.append((lo, hi))
    return SearchFilters(
        titles=_list_param(params, "person_titles"),
        include_similar_titles=_bool_param(params, "include_similar_titles", True),
        locations=_list_param(params, "person_locations"),
        seniorities=_list_param(params, "person_seniorities"),
        employee_ranges=tuple(ranges),
        domains=tuple(
            d.lower().removeprefix("www.") for d in _list_param(params, "q_organization_domains_list")
        ),
    )


# --------------------------------------------------------------------------------------------
# Rendering.
# --------------------------------------------------------------------------------------------


def obfuscate_last_name(last: str) -> str:
    """Apollo's locked last name: "Huberman" -> "Hu***n"."""
    if len(last) <= 3:
        return f"{last[:1]}***{last[-1:] if len(last) > 1 else ''}"
    return f"{last[:2]}***{last[-1]}"


def _revenue_printed(value: int | None) -> str | None:
    if value is None:
        return None
    for unit, size in (("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if value >= size:
            return f"{value / size:.1f}".rstrip("0").rstrip(".") + unit
    return str(value)


def search_row(p: Person) -> dict:
    """A locked api_search row."""
    c = p.company
    return {
        "id": p.id,
        "first_name": p.first_name,
        "last_name_obfuscated": obfuscate_last_name(p.last_name),
        "title": p.title,
        "last_refreshed_at": p.last_refreshed_at,
        "has_email": p.email is not None,
        "has_city": bool(p.city),
        "has_state": bool(p.state),
        "has_country": bool(p.country),
        "has_direct_phone": "Yes" if p.phone else DIRECT_DIAL_MAYBE,
        "organization": {
            "name": c.name,
            "has_industry": c.industry is not None,
            "has_phone": c.phone is not None,
            "has_city": bool(c.city),
            "has_state": bool(c.state),
            "has_country": bool(c.country),
            "has_zip_code": bool(c.postal_code),
            "has_revenue": c.annual_revenue is not None,
            "has_employee_count": c.estimated_num_employees is not None,
        },
    }


def organization_object(p: Person) -> dict:
    """The organization block of an enriched person."""
    c = p.company
    h = stable_hash("org", c.id)
    state = c.state
    address_state = STATE_CODES.get(state, state)
    raw_address = f"{c.street_address}, {c.city}, {state} {c.postal_code}, {c.country}".replace(" ,", ",")
    return {
        "id": c.id,
        "name": c.name,
        "website_url": c.website_url,
        "blog_url": None,
        "angellist_url": None,
        "linkedin_url": c.linkedin_url,
        "twitter_url": None,
        "facebook_url": None,
        "primary_phone": {"number": c.phone, "source": "Account"} if c.phone else {},
        "languages": [],
        "alexa_ranking": None,
        "phone": c.phone,
        "linkedin_uid": str(10_000 + h % 90_000_000),
        "founded_year": c.founded_year,
        "publicly_traded_symbol": None,
        "publicly_traded_exchange": None,
        "logo_url": f"https://zenprospect-production.s3.amazonaws.com/uploads/pictures/{c.id}/picture"
        if c.website_url
        else None,
        "crunchbase_url": None,
        "primary_domain": c.primary_domain,
        "industry": c.industry,
        "keywords": [c.industry] if c.industry else [],
        "estimated_num_employees": c.estimated_num_employees,
        "industries": [c.industry] if c.industry else [],
        "secondary_industries": [],
        "snippets_loaded": True,
        "industry_tag_id": f"5567cd{h % 16**18:018x}" if c.industry else None,
        "retail_location_count": 0,
        "raw_address": raw_address,
        "street_address": c.street_address,
        "city": c.city,
        "state": state,
        "postal_code": c.postal_code or None,
        "country": c.country,
        "owned_by_organization_id": None,
        "short_description": f"{c.name} is {'an' if c.industry[:1] in 'aeiou' else 'a'} {c.industry} company "
        f"based in {c.city}, {address_state}."
        if c.industry
        else None,
        "annual_revenue": c.annual_revenue,
        "annual_revenue_printed": _revenue_printed(c.annual_revenue),
        "total_funding": None,
        "total_funding_printed": None,
        "latest_funding_stage": None,
        "technology_names": [],
        "current_technologies": [],
    }


def _hex24(*parts: object) -> str:
    return hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=12).hexdigest()


def person_object(p: Person, companies: list, url_form: int, reveal_personal_emails: bool) -> dict:
    """A full enriched person (the ``person`` of people/match, an element of bulk_match ``matches``)."""
    rng = random.Random(stable_hash("person", p.id))
    c = p.company
    first, last = ascii_fold(p.first_name), ascii_fold(p.last_name)
    start_year = rng.randint(2015, 2025)
    history = [
        {
            "_id": _hex24("job", p.id, 0),
            "current": True,
            "organization_id": c.id,
            "organization_name": c.name,
            "start_date": f"{start_year}-{rng.randint(1, 12):02d}-01",
            "end_date": None,
            "title": p.title,
            "id": _hex24("job", p.id, 0),
            "key": _hex24("job", p.id, 0),
        }
    ]
    end_year = start_year
    for i in range(1, rng.randint(1, 3)):
        prev = companies[rng.randrange(len(companies))]
        begin = end_year - rng.randint(1, 4)
        history.append(
            {
                "_id": _hex24("job", p.id, i),
                "current": False,
                "organization_id": prev.id,
                "organization_name": prev.name,
                "start_date": f"{begin}-{rng.randint(1, 12):02d}-01",
                "end_date": f"{end_year}-{rng.randint(1, 12):02d}-01",
                "title": rng.choice(
                    [
                        "Marketing Specialist",
                        "Digital Marketing Coordinator",
                        "Media Planner",
                        "Marketing Associate",
                        "Account Manager",
                    ]
                ),
                "id": _hex24("job", p.id, i),
                "key": _hex24("job", p.id, i),
            }
        )
        end_year = begin
    obj = {
        "id": p.id,
        "first_name": p.first_name,
        "last_name": p.last_name,
        "name": f"{p.first_name} {p.last_name}",
        "linkedin_url": linkedin_url(p.linkedin_slug, url_form) if p.linkedin_slug else None,
        "title": p.title,
        "email_status": p.email_status,
        "email": p.email,
        "headline": f"{p.title} at {c.name}" if p.title and rng.random() < 0.8 else p.title,
        "photo_url": p.photo_url,
        "twitter_url": f"https://twitter.com/{first}{last[:3]}" if rng.random() < 0.15 else None,
        "github_url": f"https://github.com/{first}{last}" if rng.random() < 0.05 else None,
        "facebook_url": None,
        "extrapolated_email_confidence": None,
        "organization_id": c.id,
        "employment_history": history,
        "state": p.state,
        "city": p.city,
        "country": p.country,
        "revealed_for_current_team": True,
        "organization": organization_object(p),
        "is_likely_to_engage": rng.random() < 0.3,
        "departments": list(p.departments),
        "subdepartments": ["marketing"] if "master_marketing" in p.departments else ["sales"],
        "functions": ["marketing"] if "master_marketing" in p.departments else ["sales"],
        "seniority": p.seniority,
    }
    if reveal_personal_emails:
        obj["personal_emails"] = [p.personal_email] if p.personal_email else []
    return obj


# --------------------------------------------------------------------------------------------
# The app.
# --------------------------------------------------------------------------------------------


class ApolloApp(VendorApp):
    """The Apollo.io emulator."""

    name = "apollo"
    prefixes = ("/api/v1/",)

    def __init__(self, ctx: SandboxContext):
        super().__init__(ctx)
        self._routes: dict[tuple[str, str], Callable[[Request, str], Response]] = {
            ("POST", SEARCH_PATH): self._search,
            ("POST", BULK_MATCH_PATH): self._bulk_match,
            ("POST", MATCH_PATH): self._match,
        }
        self._lock = threading.Lock()
        self._search_cache: dict[SearchFilters, list[Person]] = {}
        # Apollo serves the people it knows (the population's apollo_coverage; by default everybody).
        self.index = PeopleIndex(ctx.population.apollo_people)
        self._known = (
            None if ctx.population.apollo_people is ctx.population.people
            else frozenset(p.id for p in ctx.population.apollo_people)
        )
        self.reset()

    # -- plumbing -------------------------------------------------------------------------

    @staticmethod
    def canonical_path(path: str) -> str:
        """``/v1/...`` (legacy base) and ``/api/v1/...`` are the same endpoint."""
        path = "/" + path.strip("/")
        return "/api" + path if path.startswith("/v1/") else path

    def endpoint_of(self, path: str) -> str:
        """Stats label: the path without ``/api/v1/`` (e.g. ``mixed_people/api_search``)."""
        return self.canonical_path(path).removeprefix("/api/v1/")

    def reset(self) -> None:
        """Clear credits, purchases and per-key counters."""
        with self._lock:
            self.credits_consumed = 0
            self.purchases: Counter = Counter()
            self.matched = 0
            self.missing = 0
            self.rate_limited: Counter = Counter()

    def stats(self) -> dict:
        """Credits, purchases per person, re-buys, 429s by class."""
        with self._lock:
            return {
                "credits_consumed": self.credits_consumed,
                "purchases": dict(self.purchases),
                "rebought": {pid: n for pid, n in self.purchases.items() if n > 1},
                "distinct_people_bought": len(self.purchases),
                "enrichment_matches": self.matched,
                "enrichment_misses": self.missing,
                "rate_limited": dict(self.rate_limited),
            }

    def _api_key(self, req: Request) -> str | None:
        key = req.header("x-api-key") or req.header("X-Api-Key")
        if key:
            return key.strip()
        auth = req.header("Authorization") or ""
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return None

    def _rate_headers(self, decision: Decision) -> dict[str, str]:
        headers = {}
        for usage in decision.windows:
            if usage.limit is None:
                continue  # Apollo plans list "none" for these windows: nothing to report
            for limit_h, usage_h, left_h in RATE_HEADERS.get(usage.name, ()):
                headers[limit_h] = str(usage.limit)
                headers[usage_h] = str(usage.used)
                headers[left_h] = str(usage.remaining)
        return headers

    def _too_many(
        self, path: str, limit: int, window: str, headers: dict[str, str], retry_after: int
    ) -> Response:
        message = (
            f"The maximum number of api calls allowed for {path.lstrip('/')} is {limit} times per "
            f"{window}. Please upgrade your plan from {UPGRADE_URL}."
        )
        if self.ctx.config.get("send_retry_after", True):
            headers = {**headers, "Retry-After": str(retry_after)}
        return Response.json(429, {"message": message}, headers)

    def fault_response(self, kind: str, req: Request) -> Response:
        """Injected faults; a spurious 429 looks like a real one (Apollo's message, Retry-After 1)."""
        if kind == "429":
            path = self.canonical_path(req.path)
            cls = "enrichment" if path in ENRICHMENT_PATHS else "search"
            limit = (self.ctx.config["limits"].get("apollo", {}).get(cls, {}) or {}).get("minute") or 0
            return self._too_many(path, limit, "minute", {}, 1)
        return super().fault_response(kind, req)

    def handle(self, req: Request) -> Response:
        """Route, authenticate, rate-limit, then run the endpoint."""
        path = self.canonical_path(req.path)
        route = self._routes.get((req.method, path))
        if route is None:
            return Response.json(404, {"error": "Not Found"})
        keys = self.ctx.config["keys"].get("apollo", {})
        key = self._api_key(req)
        non_master = set(keys.get("non_master") or [])
        if not key or key not in set(keys.get("valid") or []) | non_master:
            return Response.text(401, INVALID_CREDENTIALS)
        cls = "enrichment" if path in ENRICHMENT_PATHS else "search"
        if path == SEARCH_PATH and key in non_master:
            return Response.json(
                403,
                {
                    "error": f"{path.lstrip('/')} is not accessible with this api_key",
                    "error_code": "API_INACCESSIBLE",
                },
            )
        limits = self.ctx.config["limits"].get("apollo", {}).get(cls, {}) or {}
        decision = self.ctx.limiter.acquire("apollo", key, cls, limits, self.ctx.config["windows"])
        headers = self._rate_headers(decision)
        if not decision.allowed:
            with self._lock:
                self.rate_limited[cls] += 1
            ex = decision.exceeded
            return self._too_many(path, ex.limit, ex.name, headers, decision.retry_after)
        try:
            resp = route(req, path)
        except (InvalidParameters, BadRequestBody):
            resp = Response.json(422, INVALID_PARAMETERS)
        resp.headers = {**headers, **resp.headers}
        return resp

    # -- search ---------------------------------------------------------------------------

    def find(self, filters: SearchFilters) -> list[Person]:
        """Every record matching ``filters``, in Apollo's (here: id) order. Cached: people never change."""
        with self._lock:
            hit = self._search_cache.get(filters)
        if hit is not None:
            return hit
        found = self.index.find(filters)
        with self._lock:
            if len(self._search_cache) >= 512:
                self._search_cache.clear()
            self._search_cache[filters] = found
        return found

    def _search(self, req: Request, path: str) -> Response:
        params = merged_params(req.query, req.json())
        filters = parse_filters(params)
        page = max(1, _int_param(params, "page", 1))
        # Apollo silently serves 100 rows when asked for more (third-party report; UNCONFIRMED).
        per_page = min(MAX_PER_PAGE, max(1, _int_param(params, "per_page", DEFAULT_PER_PAGE)))
        found = self.find(filters)
        cap = int(self.ctx.config.get("search_cap") or 0)
        start = (page - 1) * per_page
        if start >= cap:
            if str(self.ctx.config.get("search_beyond_cap", "empty")) == "422":
                return Response.json(422, INVALID_PARAMETERS)
            return Response.json(200, {"total_entries": len(found), "people": []})
        rows = found[start : min(start + per_page, cap)]
        return Response.json(200, {"total_entries": len(found), "people": [search_row(p) for p in rows]})

    # -- enrichment -----------------------------------------------------------------------

    def resolve(self, detail: Any) -> Person | None:
        """The record a ``details`` entry names: id, LinkedIn URL, email, hashed email or name + company.

        Only people Apollo knows match (the population's other people are other vendors' own).
        """
        found = self._resolve_any(detail)
        if found is not None and self._known is not None and found.id not in self._known:
            return None
        return found

    def _resolve_any(self, detail: Any) -> Person | None:
        if not isinstance(detail, Mapping):
            return None
        pop = self.ctx.population
        pid = detail.get("id")
        if isinstance(pid, str) and pid in pop.by_id:
            return pop.by_id[pid]
        slug = canonical_slug(detail.get("linkedin_url"))
        if slug and slug in pop.by_slug:
            return pop.by_slug[slug][0]
        email = detail.get("email")
        if isinstance(email, str) and email.strip().lower() in pop.by_email:
            return pop.by_email[email.strip().lower()][0]
        hashed = detail.get("hashed_email")
        if isinstance(hashed, str) and hashed:
            found = self._by_hashed_email().get(hashed.strip().lower())
            if found:
                return found
        first, last = detail.get("first_name"), detail.get("last_name")
        if (not first or not last) and isinstance(detail.get("name"), str):
            first, _, last = detail["name"].strip().partition(" ")
        if isinstance(first, str) and isinstance(last, str) and first and last:
            domain = detail.get("domain")
            if isinstance(domain, str) and domain:
                domain = re.sub(r"^[a-z]+://", "", domain.strip().lower()).removeprefix("www.").split("/")[0]
                hits = pop.by_name_domain.get((first.strip().lower(), last.strip().lower(), domain))
                if hits:
                    return hits[0]
            org = detail.get("organization_name")
            if isinstance(org, str) and org:
                hits = pop.by_name_org.get((first.strip().lower(), last.strip().lower(), _norm(org)))
                if hits:
                    return hits[0]
        return None

    def _by_hashed_email(self) -> dict[str, Person]:
        index = getattr(self, "_hashed_index", None)
        if index is None:
            index = {}
            for email, people in self.ctx.population.by_email.items():
                for digest in (
                    hashlib.md5(email.encode()).hexdigest(),
                    hashlib.sha256(email.encode()).hexdigest(),
                ):
                    index.setdefault(digest, people[0])
            self._hashed_index = index
        return index

    def _url_form(self, p: Person, purchase_n: int) -> int:
        """Which LinkedIn URL form this answer uses: the record's fixed variant, or a seeded draw."""
        if p.linkedin_form:
            return p.linkedin_form
        rng = random.Random(stable_hash("url", self.ctx.config["seed"], p.id, purchase_n))
        if rng.random() < float(self.ctx.config.get("linkedin_variant_rate", 0.0)):
            return rng.randint(1, LINKEDIN_FORMS - 1)
        return 0

    def _enrich(self, details: Iterable[Any], reveal_personal: bool) -> tuple[list[dict | None], int, int]:
        """Resolve, charge and render; returns (matches, unique matched, credits)."""
        people = [self.resolve(d) for d in details]
        unique = list(dict.fromkeys(p.id for p in people if p is not None))
        with self._lock:
            # 1 credit per matched person per call, every call: the sandbox never forgives a re-buy.
            counts = {}
            for pid in unique:
                counts[pid] = self.purchases[pid]
                self.purchases[pid] += 1
            self.credits_consumed += len(unique)
            self.matched += sum(p is not None for p in people)
            self.missing += sum(p is None for p in people)
        companies = self.ctx.population.companies
        matches = [
            None
            if p is None
            else person_object(p, companies, self._url_form(p, counts[p.id]), reveal_personal)
            for p in people
        ]
        return matches, len(unique), len(unique)

    @staticmethod
    def _phone_reveal_error(body: Mapping) -> Response | None:
        # Apollo delivers phones asynchronously and requires a webhook; the sandbox does not call out.
        if _bool_param(body, "reveal_phone_number", False) and not body.get("webhook_url"):
            return Response.json(
                422, {"error": "Please add a valid 'webhook_url' parameter when using 'reveal_phone_number'"}
            )
        return None

    def _bulk_match(self, req: Request, path: str) -> Response:
        body = merged_params(req.query, req.json())
        details = body.get("details")
        if not isinstance(details, list) or not details:
            return Response.json(422, {"error": "details must be a non-empty array of people to enrich"})
        if len(details) > MAX_BULK_DETAILS:
            return Response.json(
                422,
                {
                    "error": f"Too many details: {len(details)} given, at most {MAX_BULK_DETAILS} people can be "
                    "enriched per request",
                },
            )
        error = self._phone_reveal_error(body)
        if error is not None:
            return error
        matches, unique, credits = self._enrich(details, _bool_param(body, "reveal_personal_emails", False))
        return Response.json(
            200,
            {
                "status": "success",
                "error_code": None,
                "error_message": None,
                "total_requested_enrichments": len(details),
                "unique_enriched_records": unique,
                "missing_records": sum(m is None for m in matches),
                "credits_consumed": credits,
                "matches": matches,
            },
        )

    def _match(self, req: Request, path: str) -> Response:
        body = merged_params(req.query, req.json())
        error = self._phone_reveal_error(body)
        if error is not None:
            return error
        matches, _, _ = self._enrich([body], _bool_param(body, "reveal_personal_emails", False))
        return Response.json(200, {"person": matches[0]})

    # -- ground truth ---------------------------------------------------------------------

    def ground_truth(self, params: Mapping[str, list[str]], body: Any) -> dict:
        """The distinct real people a full search with these filters could reach (within the cap).

        Accepts ``titles``/``locations`` (repeated query parameters or JSON lists) or the search's
        own names (``person_titles[]`` ...), and ``include_similar_titles``.
        """
        merged = merged_params(params, body if isinstance(body, dict) else {})
        for short, full in (("titles", "person_titles"), ("locations", "person_locations")):
            if short in merged and full not in merged:
                merged[full] = merged.pop(short)
        merged.pop("vendor", None)
        filters = parse_filters(merged)
        found = self.find(filters)
        cap = int(self.ctx.config.get("search_cap") or 0)
        reachable = found[:cap]
        truth = self.ctx.population.ground_truth(reachable)
        return {
            "filters": filters.as_dict(),
            "total_entries": len(found),
            "reachable_entries": len(reachable),
            "distinct_people": len(truth),
            "people": [t.as_dict() for t in truth],
        }


def create_app(ctx: SandboxContext) -> ApolloApp:
    """Entry point the server's vendor registry calls."""
    return ApolloApp(ctx)
