"""Hunter.io v2 emulator: email-finder, email-verifier and domain-search over the population.

Contract (vendor-apis.md §4 and §10):

* ``GET /v2/email-finder``: ``domain`` or ``company`` plus ``first_name`` + ``last_name`` (or
  ``full_name``) -> ``{"data": {email, score, domain, accept_all, position, verification, ...},
  "meta": {"params": ...}}``. Not found: ``email: null`` and no credit (Hunter's own not-found
  shape is UNCONFIRMED). 1 credit per email found.
* ``GET /v2/email-verifier?email=``: ``status`` valid | invalid | accept_all | webmail | disposable |
  unknown. **202** the first time for some addresses (repeat the call: it counts once, when
  answered), **222** when the remote SMTP server keeps answering oddly. 0.5 credit per answer.
* ``GET /v2/domain-search?domain=``: the addresses Hunter knows at a domain, ``limit``/``offset``
  paged; 1 credit per 1-10 emails returned.
* Key in ``api_key`` (query), ``X-API-KEY`` or ``Authorization: Bearer``; 401
  ``authentication_failed``. ``test-api-key`` answers fixed dummy data and is never charged.
* Per key: fixed windows (search 15/s + 500/min, verifier 10/s + 300/min) answered with **403**
  (Hunter's rate-limit status), and a plan credit allowance (``keys.hunter.credits``: None =
  unlimited, a number for every key, or ``{key: number}``) answered with **429** once spent.
  Errors are ``{"errors": [{"id", "code", "details"}]}``.

What Hunter knows is grounded in the population: for each real person a seeded draw decides
whether the finder returns their real work address (~66 %), a wrong pattern guess with a low
score (~12 %), or nothing. The mailbox truth (:func:`mailbox_status`) is shared with the
NeverBounce emulator, so both verifiers agree with each other and with the finder.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from .population import PERSONAL_DOMAINS, Company, Person, Population, ascii_fold, stable_hash
from .server import Request, Response, SandboxContext, VendorApp

FINDER_PATH = "/v2/email-finder"
VERIFIER_PATH = "/v2/email-verifier"
DOMAIN_SEARCH_PATH = "/v2/domain-search"

# This vendor's entries in the sandbox config. "second" windows are 1 s unless `windows` says otherwise.
DEFAULT_LIMITS = {
    "search": {"second": 15, "minute": 500},
    "verifier": {"second": 10, "minute": 300},
}
DEFAULT_KEYS = {"valid": ["sandbox-hunter-key"], "test": ["test-api-key"], "credits": None}

# The world as Hunter sees it (shares of real people, domains or addresses; seeded draws).
FOUND_RATE = 0.66  # the finder returns the person's real work address
WRONG_GUESS_RATE = 0.12  # ... or a pattern guess that is not theirs (low score)
ACCEPT_ALL_RATE = 0.10  # company domains that accept every address (catch-all)
GONE_RATE = 0.04  # real addresses whose mailbox no longer exists (the person left)
UNKNOWN_RATE = 0.03  # addresses whose mail server never gives a verifier an answer
PENDING_RATE = 0.15  # verifications that answer 202 (in progress) the first time
FLAKY_SMTP_RATE = 0.02  # verifications that always answer 222

FINDER_CREDITS = 1.0
VERIFIER_CREDITS = 0.5
DOMAIN_SEARCH_MAX_LIMIT = 100
DISPOSABLE_DOMAINS = frozenset({"mailinator.com", "guerrillamail.com", "10minutemail.com", "yopmail.com"})

QUOTA_DETAILS = (
    "You've reached the limit for the number of searches per billing period included in your plan."
)


def draw(*parts: object) -> float:
    """A seeded draw in [0, 1) that depends only on ``parts``."""
    return stable_hash(*parts) / 2**64


def _norm_name(text: str | None) -> str:
    return re.sub(r"\s+", " ", str(text or "")).strip().lower()


def clean_domain(value: str | None) -> str:
    """``https://www.Acme.com/x`` -> ``acme.com`` ('' for nothing)."""
    text = re.sub(r"^[a-z][a-z0-9+.\-]*://", "", str(value or "").strip().lower())
    return text.split("/")[0].split("?")[0].removeprefix("www.").rstrip(".")


# --------------------------------------------------------------------------------------------
# Ground truth shared by the verifiers.
# --------------------------------------------------------------------------------------------


class World:
    """Look-ups Hunter, NeverBounce and Clearbit need, built once per population."""

    def __init__(self, pop: Population):
        self.seed = pop.seed
        self.pop = pop
        self.company_by_domain: dict[str, Company] = {c.domain: c for c in pop.companies}
        self.company_by_name: dict[str, Company] = {}
        for c in pop.companies:
            self.company_by_name.setdefault(_norm_name(c.name), c)
        self.person_by_work_email: dict[str, Person] = {}
        self.people_by_name_domain: dict[tuple[str, str, str], Person] = {}
        self.people_by_domain: dict[str, list[Person]] = {}
        for p in pop.people:  # sorted by id: the first record of a real person wins
            self.person_by_work_email.setdefault(p.work_email, p)
            key = (ascii_fold(p.first_name), ascii_fold(p.last_name), p.company.domain)
            self.people_by_name_domain.setdefault(key, p)
            if p.duplicate_of is None:
                self.people_by_domain.setdefault(p.company.domain, []).append(p)

    def accept_all(self, domain: str) -> bool:
        """Whether the company's mail server accepts every address (verifiers cannot tell)."""
        return domain in self.company_by_domain and draw(self.seed, "accept_all", domain) < ACCEPT_ALL_RATE

    def gone(self, person: Person) -> bool:
        """The person's work mailbox no longer exists."""
        return draw(self.seed, "gone", person.real_id) < GONE_RATE

    def finder_outcome(self, person: Person) -> str:
        """What the finder answers for this real person: "found", "guess" or "none"."""
        u = draw(self.seed, "finder", person.real_id)
        if u < FOUND_RATE:
            return "found"
        if u < FOUND_RATE + WRONG_GUESS_RATE:
            return "guess"
        return "none"

    def wrong_guess(self, person: Person) -> str:
        """A plausible address at the person's domain that is nobody's mailbox."""
        f, last = ascii_fold(person.first_name) or "x", ascii_fold(person.last_name) or "x"
        domain = person.company.domain
        locals_ = [f"{f}.{last}", f"{f[0]}{last}", f, f"{f}{last}", f"{f}_{last}", f"{last}.{f}", f"{f}{last[0]}"]
        start = stable_hash(self.seed, "guess", person.real_id) % len(locals_)
        for i in range(len(locals_)):
            email = f"{locals_[(start + i) % len(locals_)]}@{domain}"
            if email not in self.person_by_work_email:
                return email
        return f"{f}.{last}.{stable_hash(person.real_id) % 97}@{domain}"

    def mailbox_status(self, email: str) -> str:
        """The truth about an address: valid | invalid | accept_all | unknown | webmail | disposable."""
        email = email.strip().lower()
        if email.count("@") != 1 or not re.fullmatch(r"[^@\s]+@[a-z0-9.\-]+\.[a-z]{2,}", email):
            return "invalid"
        domain = email.split("@", 1)[1]
        if domain in DISPOSABLE_DOMAINS:
            return "disposable"
        if domain in PERSONAL_DOMAINS:
            return "webmail"
        if domain not in self.company_by_domain:
            return "invalid"  # no such mail domain
        if draw(self.seed, "unknown", email) < UNKNOWN_RATE:
            return "unknown"
        if self.accept_all(domain):
            return "accept_all"
        person = self.person_by_work_email.get(email)
        return "valid" if person is not None and not self.gone(person) else "invalid"

    def verification_delay(self, email: str) -> str | None:
        """'pending' (202 the first time), 'flaky' (always 222) or None for an address."""
        u = draw(self.seed, "smtp", email.strip().lower())
        if u < FLAKY_SMTP_RATE:
            return "flaky"
        if u < FLAKY_SMTP_RATE + PENDING_RATE:
            return "pending"
        return None


@lru_cache(maxsize=4)
def world_of(pop: Population) -> World:
    """The (cached) :class:`World` of a population; every enrichment emulator shares it."""
    return World(pop)


# --------------------------------------------------------------------------------------------
# Rendering.
# --------------------------------------------------------------------------------------------


def _error(status: int, error_id: str, details: str) -> Response:
    return Response.json(status, {"errors": [{"id": error_id, "code": status, "details": details}]})


def first_param(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name) or []
    value = values[0].strip() if values else ""
    return value or None


def _score(world: World, person: Person, kind: str) -> int:
    u = draw(world.seed, "score", person.real_id)
    if kind == "guess":
        return 12 + int(u * 50)  # 12-61: some clear a lax threshold, verification catches them
    if world.accept_all(person.company.domain):
        return 55 + int(u * 31)  # 55-85: a catch-all server cannot confirm the pattern
    return 72 + int(u * 28)  # 72-99


def _verified_on(world: World, email: str) -> str:
    day = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=stable_hash(world.seed, "day", email) % 300)
    return day.strftime("%Y-%m-%d")


def finder_data(world: World, person: Person | None, params: dict, domain: str | None) -> dict:
    """The ``data`` object of an email-finder answer (``email`` None when nothing is known)."""
    company = world.company_by_domain.get(domain or "")
    data: dict[str, Any] = {
        "first_name": params.get("first_name"),
        "last_name": params.get("last_name"),
        "email": None,
        "score": None,
        "domain": domain,
        "accept_all": bool(domain and world.accept_all(domain)),
        "position": None,
        "twitter": None,
        "linkedin_url": None,
        "phone_number": None,
        "company": company.name if company else params.get("company"),
        "sources": [],
        "verification": {"date": None, "status": None},
    }
    kind = world.finder_outcome(person) if person is not None else "none"
    if person is None or kind == "none":
        return data
    email = person.work_email if kind == "found" else world.wrong_guess(person)
    data.update(
        first_name=person.first_name,
        last_name=person.last_name,
        email=email,
        score=_score(world, person, kind),
        position=person.title,
        linkedin_url=f"https://www.linkedin.com/in/{person.linkedin_slug}" if person.linkedin_slug else None,
    )
    if kind == "found":
        day = _verified_on(world, email)
        data["sources"] = [
            {
                "domain": person.company.domain,
                "uri": f"http://{person.company.domain}/team",
                "extracted_on": day,
                "last_seen_on": day,
                "still_on_page": True,
            }
        ]
        # Hunter verifies what it finds; a guess, or a mailbox that has gone, stays unverified.
        status = world.mailbox_status(email)
        if status in ("valid", "accept_all"):
            data["verification"] = {"date": day, "status": status}
    return data


_RESULTS = {"valid": "deliverable", "invalid": "undeliverable"}


def verifier_data(world: World, email: str) -> dict:
    """The ``data`` object of an email-verifier answer."""
    status = world.mailbox_status(email)
    domain = email.rsplit("@", 1)[-1].lower() if "@" in email else ""
    mx = status != "invalid" or domain in world.company_by_domain
    return {
        "status": status,
        "result": _RESULTS.get(status, "risky"),
        "score": {"valid": 100, "invalid": 0, "accept_all": 62, "webmail": 80, "disposable": 10}.get(status, 40),
        "email": email,
        "regexp": "@" in email,
        "gibberish": False,
        "disposable": status == "disposable",
        "webmail": status == "webmail",
        "mx_records": mx,
        "smtp_server": mx,
        "smtp_check": status in ("valid", "webmail"),
        "accept_all": status == "accept_all",
        "block": False,
        "sources": [],
    }


# --------------------------------------------------------------------------------------------
# The app.
# --------------------------------------------------------------------------------------------


class HunterApp(VendorApp):
    """The Hunter.io emulator."""

    name = "hunter"
    prefixes = ("/v2/",)  # Clearbit's longer /v2/companies/ wins for its own paths

    def __init__(self, ctx: SandboxContext):
        super().__init__(ctx)
        self.world = world_of(ctx.population)
        self._routes: dict[str, tuple[str, Callable[[Request, str, bool], Response]]] = {
            FINDER_PATH: ("search", self._finder),
            DOMAIN_SEARCH_PATH: ("search", self._domain_search),
            VERIFIER_PATH: ("verifier", self._verifier),
        }
        self._lock = threading.Lock()
        self.reset()

    def endpoint_of(self, path: str) -> str:
        """Stats label: ``email-finder``, ``email-verifier``, ``domain-search``."""
        return path.removeprefix("/v2/")

    def reset(self) -> None:
        """Clear credits, purchases, pending verifications and counters."""
        with self._lock:
            self.credits_consumed = 0.0
            self.credits_by_key: Counter = Counter()
            self.purchases: Counter = Counter()
            self.pending: set[str] = set()
            self.found = 0
            self.not_found = 0
            self.rate_limited: Counter = Counter()
            self.quota_exceeded = 0

    def stats(self) -> dict:
        """Credits (total and per key), purchases by ``endpoint:subject``, re-buys, 403s and 429s."""
        with self._lock:
            return {
                "credits_consumed": self.credits_consumed,
                "credits_by_key": dict(self.credits_by_key),
                "purchases": dict(self.purchases),
                "rebought": {k: n for k, n in self.purchases.items() if n > 1},
                "emails_found": self.found,
                "emails_not_found": self.not_found,
                "rate_limited": dict(self.rate_limited),
                "quota_exceeded": self.quota_exceeded,
            }

    # -- plumbing -------------------------------------------------------------------------

    @staticmethod
    def _api_key(req: Request) -> str | None:
        key = first_param(req.query, "api_key") or req.header("X-API-KEY")
        if key:
            return key.strip()
        auth = req.header("Authorization") or ""
        return auth[7:].strip() if auth.lower().startswith("bearer ") else None

    def _allowance(self, key: str) -> float | None:
        credits = self.ctx.config["keys"].get("hunter", {}).get("credits")
        if isinstance(credits, Mapping):
            credits = credits.get(key)
        return None if credits is None else float(credits)

    def _charge(self, key: str, credits: float, subject: str) -> None:
        with self._lock:
            self.credits_consumed += credits
            self.credits_by_key[key] += credits
            self.purchases[subject] += 1

    def fault_response(self, kind: str, req: Request) -> Response:
        """An injected rate-limit fault looks like Hunter's: 403, not 429 (429 means quota spent)."""
        if kind == "429":
            return _error(403, "too_many_requests", "You have reached the rate limit for this endpoint.")
        return super().fault_response(kind, req)

    def handle(self, req: Request) -> Response:
        """Route, authenticate, rate-limit, check the plan's credits, then run the endpoint."""
        route = self._routes.get("/" + req.path.strip("/"))
        if route is None or req.method not in ("GET", "HEAD"):
            return _error(404, "route_not_found", "This route does not exist.")
        cls, handler = route
        keys = self.ctx.config["keys"].get("hunter", {})
        key = self._api_key(req)
        test_keys = set(keys.get("test") or [])
        if not key or key not in set(keys.get("valid") or []) | test_keys:
            return _error(401, "authentication_failed", "No user found for the API key supplied")
        limits = self.ctx.config["limits"].get("hunter", {}).get(cls, {}) or {}
        windows = {"second": 1, **self.ctx.config["windows"]}
        decision = self.ctx.limiter.acquire("hunter", key, cls, limits, windows)
        if not decision.allowed:
            with self._lock:
                self.rate_limited[cls] += 1
            ex = decision.exceeded
            return _error(
                403,
                "too_many_requests",
                f"You have reached the rate limit for this endpoint ({ex.limit} requests per {ex.name}).",
            )
        allowance = self._allowance(key)
        if allowance is not None and key not in test_keys:
            with self._lock:
                spent = self.credits_by_key[key] >= allowance
                self.quota_exceeded += spent
            if spent:
                return _error(429, "too_many_requests", QUOTA_DETAILS)
        return handler(req, key, key in test_keys)

    # -- endpoints ------------------------------------------------------------------------

    def _finder(self, req: Request, key: str, test: bool) -> Response:
        params = {
            name: first_param(req.query, name) for name in ("domain", "company", "first_name", "last_name", "full_name")
        }
        if not params["domain"] and not params["company"]:
            return _error(400, "wrong_params", "You are missing the domain parameter")
        if params["full_name"] and not (params["first_name"] and params["last_name"]):
            first, _, last = params["full_name"].partition(" ")
            params["first_name"], params["last_name"] = params["first_name"] or first, params["last_name"] or last
        if not params["first_name"] or not params["last_name"]:
            return _error(400, "wrong_params", "You are missing the first_name or last_name parameter")
        meta = {"params": dict(params)}
        if test:
            dummy = {**finder_data(self.world, None, params, "hunter.io"), "email": "dustin@hunter.io", "score": 94}
            return Response.json(200, {"data": dummy, "meta": meta})
        domain = clean_domain(params["domain"]) if params["domain"] else None
        if domain is None:
            company = self.world.company_by_name.get(_norm_name(params["company"]))
            domain = company.domain if company else None
        person = None
        if domain:
            name_key = (ascii_fold(params["first_name"]), ascii_fold(params["last_name"]), domain)
            person = self.world.people_by_name_domain.get(name_key)
        data = finder_data(self.world, person, params, domain)
        if data["email"]:
            self._charge(key, FINDER_CREDITS, f"email-finder:{person.id}")
            with self._lock:
                self.found += 1
        else:
            with self._lock:
                self.not_found += 1
        return Response.json(200, {"data": data, "meta": meta})

    def _verifier(self, req: Request, key: str, test: bool) -> Response:
        email = first_param(req.query, "email")
        if not email:
            return _error(400, "wrong_params", "You are missing the email parameter")
        meta = {"params": {"email": email}}
        if test:
            return Response.json(200, {"data": verifier_data(self.world, "dustin@hunter.io"), "meta": meta})
        subject = email.strip().lower()
        delay = self.world.verification_delay(subject)
        if delay == "flaky":
            return _error(222, "verification_failed", "The remote SMTP server answered unexpectedly; retry later.")
        if delay == "pending":
            with self._lock:
                first_time = subject not in self.pending
                self.pending.add(subject)
            if first_time:  # in progress: repeat the call; it is charged once, when answered
                return _error(202, "verification_in_progress", "The verification is still in progress.")
        self._charge(key, VERIFIER_CREDITS, f"email-verifier:{subject}")
        return Response.json(200, {"data": verifier_data(self.world, email), "meta": meta})

    def _domain_search(self, req: Request, key: str, test: bool) -> Response:
        params = {name: first_param(req.query, name) for name in ("domain", "company", "limit", "offset")}
        domain = clean_domain(params["domain"]) if params["domain"] else None
        if domain is None and params["company"]:
            company = self.world.company_by_name.get(_norm_name(params["company"]))
            domain = company.domain if company else None
        if not domain and not params["company"]:
            return _error(400, "wrong_params", "You are missing the domain parameter")
        try:
            limit = min(DOMAIN_SEARCH_MAX_LIMIT, max(1, int(params["limit"] or 10)))
            offset = max(0, int(params["offset"] or 0))
        except ValueError:
            return _error(400, "wrong_params", "limit and offset must be integers")
        known = [] if test else [
            p for p in self.world.people_by_domain.get(domain or "", []) if self.world.finder_outcome(p) == "found"
        ]
        page = known[offset : offset + limit]
        emails = [
            {
                "value": p.work_email,
                "type": "personal",
                "confidence": _score(self.world, p, "found"),
                "first_name": p.first_name,
                "last_name": p.last_name,
                "position": p.title,
                "seniority": p.seniority,
                "department": "marketing",
                "linkedin": f"https://www.linkedin.com/in/{p.linkedin_slug}" if p.linkedin_slug else None,
                "twitter": None,
                "phone_number": None,
                "verification": {"date": None, "status": None},
                "sources": [],
            }
            for p in page
        ]
        if emails:
            # 1 credit per 1-10 emails returned.
            self._charge(key, float(-(-len(emails) // 10)), f"domain-search:{domain}:{offset}:{limit}")
        company = self.world.company_by_domain.get(domain or "")
        data = {
            "domain": domain,
            "disposable": False,
            "webmail": False,
            "accept_all": bool(domain and self.world.accept_all(domain)),
            "pattern": None,
            "organization": company.name if company else None,
            "emails": emails,
        }
        meta = {"results": len(known), "limit": limit, "offset": offset, "params": params}
        return Response.json(200, {"data": data, "meta": meta})


def create_app(ctx: SandboxContext) -> HunterApp:
    """Entry point the server's vendor registry calls."""
    return HunterApp(ctx)
