"""ZoomInfo emulator (legacy Enterprise API and GTM API): auth, contact search, contact enrich, rate windows.

Contract (vendor-apis.md §2 and §10), mounted under ``/zoominfo`` and at the root paths:

* ``POST /authenticate``: form body ``username=…&password=…`` (JSON is accepted too), or PKI: an empty
  body with ``Authorization: Bearer <client JWT>`` whose claims carry ``aud="enterprise_api"``,
  ``iss="api-client@zoominfo.com"``, a known ``client_id``, a known ``username`` and a future ``exp``
  (the signature is not checked: the sandbox holds no public key). Answer ``{"jwt": "<access JWT>"}``;
  the access JWT lives ``jwt_ttl_seconds`` (default 3600, ZoomInfo's ~60 min) and carries ``iat``/``exp``.
  A wrong, expired or revoked JWT answers 401 in the gateway shape.
* ``POST /search/contact`` (free): filters, then ``rpp`` (1..100, default 25; more is a 400) and
  ``page`` (1-based). Envelope ``{"maxResults": rpp, "totalResults", "currentPage", "data": [...]}``
  with the documented ``data[]`` fields (``id, firstName, middleName, lastName, validDate,
  lastUpdatedDate, jobTitle, contactAccuracyScore, has* flags, *DoNotCall, company{id, name}``), never an
  email, phone or LinkedIn URL. Rows are in ZoomInfo id order; rows past ``search_cap`` (10,000 by
  default, UNCONFIRMED) are not served while ``totalResults`` stays true. An unknown input field is a
  400 (ZoomInfo validates against ``GET /lookup/inputfields/contact/search``, which answers too).
* ``POST /enrich/contact``: ``matchPersonInput`` (1..25 items; each ``personId``, ``emailAddress`` or
  ``firstName`` + ``lastName`` + ``companyName``) and ``outputFields`` (required, known names only;
  ``GET /lookup/outputfields/contact/enrich`` lists them). Answer
  ``{"success": true, "data": {"outputFields": [...], "result": [{"input", "data": [...], "matchStatus"}]}}``
  with a ``matchStatus`` per input, in input order; only the requested fields (and ``id``) are returned.
  Statuses (vendor-apis.md Corrections 1): ``FULL_MATCH``; ``CONTACT_ONLY_MATCH`` (the contact's fields,
  company fields left out; billed); ``COMPANY_ONLY_MATCH`` (company fields only; not billed);
  ``OPT_OUT``; ``NO_MATCH``; ``NON_MATCH_BY_{CONTACT_ACCURACY_MIN,LAST_UPDATED_DATE,VALID_DATE,
  REQUIRED_FIELDS}``; ``INVALID_INPUT`` (an input naming nobody, or a record enrich refuses);
  ``SERVICE_ERROR`` (a record's first ``service_error_attempts`` asks, default 1; then FULL_MATCH);
  ``LIMIT_EXCEEDED`` (once ``record_limit`` credits are spent, for every record that would cost one).
  Each record's status is fixed per seed (``ENRICH_STATUS_RATES``, plus 1 % opted out, 1 % stale).
* GTM API (vendor-apis.md 2.4): ``POST /gtm/oauth/v1/token`` (client credentials: HTTP Basic or form
  ``client_id`` / ``client_secret``, ``grant_type=client_credentials``; ``{"access_token", "token_type",
  "expires_in"}``, or 401 ``invalid_client`` / 400 ``unsupported_grant_type``); ``POST
  /gtm/data/v1/contacts/search`` (``{"data": {"type": "ContactSearch", "attributes": {filters}}}``, query
  ``page[number]`` / ``page[size]`` <= 100; answer ``{"data": [{"type": "Contact", "id": "<string>",
  "attributes"}], "meta": {"page": {"number", "size", "total": pages}, "totalResults": records}}``);
  ``POST /gtm/data/v1/contacts/enrich`` (``ContactEnrich``, attributes ``matchPersonInput`` +
  ``outputFields``; items carry ``meta: {matchStatus, input}``, type ``NoMatch`` when no data came
  back); ``GET /gtm/data/v1/users/usage`` (no credits). Answers are ``application/vnd.api+json``. Same
  population, billing, windows and error shapes as the legacy API; a legacy JWT opens no GTM endpoint
  and a GTM token no legacy one.
* Credits as ZoomInfo bills: the first enrichment of a record in ``management_window_seconds``
  (12 months) costs 1 credit and puts it Under Management; a re-enrichment inside the window is free
  but still counts as a record (``records_enriched``). For tests, ``purchases`` counts every
  enrichment of every record and ``rebought`` lists records enriched more than once, like Apollo's.
* Windows per user (the JWT's username), class ``api`` (search, enrich, lookups; ``/authenticate`` is
  not counted): per-second fixed (``limits.zoominfo.api.second``, the ``second`` window is 1 s unless
  ``windows.second`` says otherwise) and per-hour / per-day *sliding* (60 buckets per window; lengths
  from ``windows.hour`` / ``windows.day``). Defaults are the Standard package: 25/s, 54,000/h,
  648,000/day. Every authenticated answer carries ``X-RateLimit-Limit`` (per second, deprecated) and
  ``X-RateLimit-Limit-{Second,Hour,Day}`` / ``X-RateLimit-Remaining-{Second,Hour,Day}`` (suffixes
  UNCONFIRMED). A full window answers 429 with ``Retry-After``; rejected requests consume no quota.
* Errors: gateway shape ``{"error": {"code": "ZI…", "message", "status", "requestId", "retryable"}}`` for
  401/403/429/5xx; platform validation 400 in JSON:API shape ``{"title", "detail", "status",
  "errors": [{"code": "PFAPI…", ...}]}``; a known path with the wrong verb (or an unknown path) is
  ``404 ZI9998 "No static resource …"`` (never 405). The ``ZI`` / ``PFAPI`` codes below are the sandbox's
  own choices (ZoomInfo publishes no list): ``ZI0001`` bad username/password or client JWT,
  ``ZI0002`` invalid JWT, ``ZI0003`` expired JWT, ``ZI0004`` rate limit, ``ZI0500`` internal error.

Population: ZoomInfo knows about 60 % of the real people (one contact per real person, chosen by a
seeded hash, so the same people every run), under its own numeric ids (10 digits), its own company ids,
names with variants (a middle initial; "Bob" for "Robert" ...), ``externalUrls`` LinkedIn URLs in its
own usual form (no scheme) or a variant, the person's work email for about 70 % (none for the rest),
``contactAccuracyScore`` as an int or a string ("90.0"), company fields in ZoomInfo's taxonomy (filling
some of Apollo's gaps), about 4 % with a newer job title than Apollo's, and about 1 % each opted out
(search lists them, enrich answers ``OPT_OUT``) or stale (search lists them, enrich answers ``NO_MATCH``).

Search filters the sandbox emulates (an unknown field is a 400): ``jobTitle`` / ``personTitle`` (one
string, titles separated by `` OR ``; a title matches when it contains every word of one entry, as
ZoomInfo's fuzzy title search does; a comma is part of a title, so comma-joined titles read as one
title that almost nobody holds), ``managementLevel`` (``C Level Exec``, ``VP Level Exec``,
``Director``, ``Manager``, ``Non Manager``), ``state`` (names or postal codes, comma-separated),
``metroRegion`` (comma-separated ``usa.texas.austin`` or ``US - TX - Austin``; UNCONFIRMED which one
ZoomInfo's lookup uses; any other entry is an unknown region), ``country`` (comma-separated),
``locationSearchType`` (``Person`` default, ``HQ``, ``PersonAndHQ``,
``PersonOrHQ``), ``employeeRangeMin`` / ``employeeRangeMax`` (ZoomInfo's company employee count),
``companyName``, ``firstName``, ``lastName``, ``personId``, ``sortBy`` / ``sortOrder`` (accepted, ignored).
Like ZoomInfo, a malformed filter is not an error but matches nobody: a JSON array where a string is
expected (``jobTitle``, ``personTitle``, ``state``, ``country``, ``metroRegion``) or an unknown metro
region answers 200 with ``totalResults: 0``.

Admin read-back under the mount (no auth, no limits; the fault plan still applies):
``GET|POST /zoominfo/__sandbox/settings`` (``DEFAULT_SETTINGS``), ``POST /zoominfo/__sandbox/expire_tokens``.
Cross-source ground truth: ``/__sandbox/ground_truth?vendor=zoominfo`` (body ``{"titles", "locations"}``
in Apollo's "City, State" form, or ZoomInfo's own filter names) lists every real person a full search
reaches with their ``zoominfo_ids`` and all of their Apollo record ids (``apollo_ids``).
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import functools
import json
import math
import random
import re
import secrets
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from .population import (
    AREA_CODES,
    LINKEDIN_FORMS,
    STATE_CODES,
    TARGET_ROLES,
    US,
    US_STATES,
    Company,
    Person,
    Population,
    linkedin_url,
    stable_hash,
    title_tokens,
)
from .server import BadRequestBody, Request, Response, SandboxContext, VendorApp

AUTH_PATH = "/authenticate"
SEARCH_PATH = "/search/contact"
ENRICH_PATH = "/enrich/contact"
SEARCH_FIELDS_PATH = "/lookup/inputfields/contact/search"
ENRICH_FIELDS_PATH = "/lookup/outputfields/contact/enrich"
ADMIN = "/__sandbox/"
GTM_TOKEN_PATH = "/gtm/oauth/v1/token"
GTM_SEARCH_PATH = "/gtm/data/v1/contacts/search"
GTM_ENRICH_PATH = "/gtm/data/v1/contacts/enrich"
GTM_USAGE_PATH = "/gtm/data/v1/users/usage"
JSON_API = "application/vnd.api+json"

# This vendor's entries in the sandbox config: the Standard package (docs S42), per user.
DEFAULT_LIMITS = {"api": {"second": 25, "hour": 54_000, "day": 648_000}}
DEFAULT_KEYS = {
    "users": {"sandbox-zoominfo-user": "sandbox-zoominfo-password"},
    "clients": ["sandbox-zoominfo-client"],  # PKI client ids
    "gtm_clients": {"sandbox-zoominfo-gtm-client": "sandbox-zoominfo-gtm-secret"},  # GTM DevPortal apps
}
DEFAULT_SETTINGS: dict[str, Any] = {
    "jwt_ttl_seconds": 3600.0,
    "search_cap": 10_000,  # rows reachable through paging (UNCONFIRMED)
    "management_window_seconds": 365 * 86400.0,  # re-enrichment inside it costs no credit
    "send_retry_after": True,
    "service_error_attempts": 1,  # asks a SERVICE_ERROR record fails before it answers (>= 3: past a retry budget)
    "record_limit": None,  # credits the account may spend; then billable records answer LIMIT_EXCEEDED
}

MAX_RPP = 100
DEFAULT_RPP = 25
MAX_ENRICH_INPUTS = 25
CLIENT_JWT_AUD = "enterprise_api"
CLIENT_JWT_ISS = "api-client@zoominfo.com"

# Population mix (shares of ZoomInfo contacts unless said otherwise).
COVERAGE = 0.60  # share of real people ZoomInfo knows
EMAIL_RATE = 0.70
NICKNAME_RATE = 0.35  # of people whose first name has a common short form
MIDDLE_INITIAL_RATE = 0.20
LINKEDIN_VARIANT_RATE = 0.25
USUAL_LINKEDIN_FORM = 9  # "www.linkedin.com/in/<slug>": ZoomInfo's own form, without a scheme
ACCURACY_AS_TEXT_RATE = 0.30
TITLE_DRIFT_RATE = 0.04
OPT_OUT_RATE = 0.01
STALE_RATE = 0.01  # enrich answers NO_MATCH (the record went stale after search indexed it)
# The other enrich answers, each a small share of contacts (the rest are FULL_MATCH). Rates are the
# sandbox's own (ZoomInfo publishes none); small, like every flaw here, and fixed per contact.
ENRICH_STATUS_RATES: tuple[tuple[str, float], ...] = (
    ("CONTACT_ONLY_MATCH", 0.02),  # the contact's data without the company's: still a billed hit
    ("COMPANY_ONLY_MATCH", 0.01),  # the company's data only: no person, not billed
    ("NON_MATCH_BY_CONTACT_ACCURACY_MIN", 0.0025),  # the account's match rules withhold the record
    ("NON_MATCH_BY_LAST_UPDATED_DATE", 0.0025),
    ("NON_MATCH_BY_VALID_DATE", 0.0025),
    ("NON_MATCH_BY_REQUIRED_FIELDS", 0.0025),
    ("INVALID_INPUT", 0.0025),  # an id search lists that enrich refuses as input
    ("SERVICE_ERROR", 0.01),  # transient: the first `service_error_attempts` asks fail, then FULL_MATCH
)
FILL_COMPANY_GAP_RATE = 0.50
MOBILE_RATE = 0.25
DNC_RATE = 0.10

ERR_AUTH = "ZI0001"
ERR_TOKEN_INVALID = "ZI0002"
ERR_TOKEN_EXPIRED = "ZI0003"
ERR_RATE_LIMIT = "ZI0004"
ERR_INTERNAL = "ZI0500"
ERR_NO_RESOURCE = "ZI9998"

NICKNAMES: dict[str, str] = {
    "Robert": "Bob",
    "William": "Bill",
    "James": "Jim",
    "Michael": "Mike",
    "Elizabeth": "Liz",
    "Katherine": "Kate",
    "Catherine": "Cathy",
    "Jennifer": "Jen",
    "Christopher": "Chris",
    "Daniel": "Dan",
    "Matthew": "Matt",
    "Joseph": "Joe",
    "Thomas": "Tom",
    "Richard": "Rick",
    "Jonathan": "Jon",
    "Anthony": "Tony",
    "Margaret": "Maggie",
    "Patricia": "Pat",
    "Alexander": "Alex",
    "Samantha": "Sam",
    "Benjamin": "Ben",
    "Nicholas": "Nick",
    "Andrew": "Andy",
    "Steven": "Steve",
    "Stephen": "Steve",
    "David": "Dave",
    "Edward": "Ed",
    "Kimberly": "Kim",
    "Rebecca": "Becky",
    "Jessica": "Jess",
    "Timothy": "Tim",
    "Gregory": "Greg",
    "Kenneth": "Ken",
    "Ronald": "Ron",
    "Donald": "Don",
    "Jacob": "Jake",
    "Joshua": "Josh",
    "Zachary": "Zach",
    "Victoria": "Vicky",
    "Deborah": "Debbie",
}

# Apollo-style industry -> ZoomInfo (primary industry, industries list).
INDUSTRIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "marketing & advertising": ("Business Services", ("Business Services", "Advertising & Marketing")),
    "internet": ("Media & Internet", ("Media & Internet", "Internet Service Providers, Website Hosting")),
    "retail": ("Retail", ("Retail", "Department Stores, Shopping Centers & Superstores")),
    "computer software": ("Software", ("Software", "Business Intelligence (BI) Software")),
    "consumer goods": ("Consumer Services", ("Consumer Services", "Consumer Goods")),
    "information technology & services": ("Information Technology", ("Information Technology", "IT Services")),
    "financial services": ("Finance", ("Finance", "Financial Services")),
    "hospital & health care": ("Hospitals & Physicians Clinics", ("Hospitals & Physicians Clinics",)),
    "e-learning": ("Education", ("Education", "Training")),
    "apparel & fashion": ("Retail", ("Retail", "Apparel & Accessories Retail")),
    "food & beverages": ("Manufacturing", ("Manufacturing", "Food & Beverage")),
    "real estate": ("Real Estate", ("Real Estate",)),
    "automotive": ("Manufacturing", ("Manufacturing", "Automotive Parts")),
    "entertainment": ("Media & Internet", ("Media & Internet", "Broadcasting")),
    "leisure, travel & tourism": ("Hospitality", ("Hospitality", "Travel Agencies & Services")),
    "health, wellness & fitness": ("Consumer Services", ("Consumer Services", "Fitness & Dance Facilities")),
    "consumer services": ("Consumer Services", ("Consumer Services",)),
}

SEARCH_INPUT_FIELDS: dict[str, str] = {
    "jobTitle": "Job title; use OR to input multiple job titles",
    "personTitle": "Alias of jobTitle",
    "managementLevel": "C Level Exec, VP Level Exec, Director, Manager, Non Manager",
    "state": "US state names or postal codes, comma-separated",
    "metroRegion": "Metro regions, comma-separated, e.g. usa.texas.austin,usa.texas.dallas",
    "country": "Country names, comma-separated",
    "locationSearchType": "Person, HQ, PersonAndHQ or PersonOrHQ",
    "employeeRangeMin": "Company employee count, lower bound",
    "employeeRangeMax": "Company employee count, upper bound",
    "companyName": "Company name",
    "firstName": "First name",
    "lastName": "Last name",
    "personId": "ZoomInfo person id",
    "sortBy": "Sort field (accepted, ignored)",
    "sortOrder": "asc or desc (accepted, ignored)",
    "rpp": "Results per page, 1-100",
    "page": "Page number, from 1",
}
ENRICH_OUTPUT_FIELDS: tuple[str, ...] = (
    "id",
    "firstName",
    "middleName",
    "lastName",
    "email",
    "hasCanadianEmail",
    "phone",
    "mobilePhone",
    "directPhoneDoNotCall",
    "mobilePhoneDoNotCall",
    "street",
    "city",
    "region",
    "metroArea",
    "zipCode",
    "state",
    "country",
    "jobTitle",
    "jobFunction",
    "managementLevel",
    "externalUrls",
    "companyId",
    "companyName",
    "companyWebsite",
    "companyEmployeeCount",
    "companyRevenueNumeric",
    "companyPrimaryIndustry",
    "companyIndustries",
    "contactAccuracyScore",
    "lastUpdatedDate",
)
LOCATION_TYPES = ("Person", "HQ", "PersonAndHQ", "PersonOrHQ")
MANAGEMENT_LEVELS = ("C Level Exec", "VP Level Exec", "Director", "Manager", "Non Manager")
US_REGIONS: dict[str, str] = {
    **dict.fromkeys(("CT", "ME", "MA", "NH", "RI", "VT", "NJ", "NY", "PA"), "Northeast"),
    **dict.fromkeys(("IL", "IN", "MI", "OH", "WI", "IA", "KS", "MN", "MO", "NE", "ND", "SD"), "Midwest"),
    **dict.fromkeys(("AZ", "CO", "ID", "MT", "NV", "NM", "UT", "WY", "AK", "CA", "HI", "OR", "WA"), "West"),
}


# --------------------------------------------------------------------------------------------
# ZoomInfo's view of the population.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZiCompany:
    """An employer as ZoomInfo knows it."""

    id: int
    name: str
    website: str | None
    employee_count: int | None
    primary_industry: str | None
    industries: tuple[str, ...]
    revenue: int | None
    phone: str | None
    street: str
    city: str
    state: str
    zip_code: str
    country: str


@dataclass(frozen=True)
class Contact:
    """One ZoomInfo contact: a real person of the population seen through ZoomInfo."""

    id: int
    real_id: str
    person: Person  # the real person's first (Apollo) record
    first_name: str
    middle_name: str | None
    last_name: str
    job_title: str | None
    title_drift: bool
    linkedin_slug: str | None
    linkedin_form: int
    email: str | None
    direct_phone: str | None
    mobile_phone: str | None
    direct_dnc: bool
    mobile_dnc: bool
    accuracy: int
    accuracy_as_text: bool
    opted_out: bool
    stale: bool
    company: ZiCompany
    last_updated: str
    valid_date: str
    enrich_status: str = "FULL_MATCH"  # what enrich answers for this record (OPT_OUT / NO_MATCH when opted out / stale)

    @property
    def accuracy_value(self) -> int | str:
        """``contactAccuracyScore`` as ZoomInfo sends it for this record: an int or a "90.0" string."""
        return f"{self.accuracy}.0" if self.accuracy_as_text else self.accuracy

    @property
    def linkedin(self) -> str | None:
        """The LinkedIn URL in the form ZoomInfo shows for this record."""
        return linkedin_url(self.linkedin_slug, self.linkedin_form) if self.linkedin_slug else None


def _title_case(alias: str) -> str:
    words = []
    for word in alias.split(" "):
        if word in {"ppc", "sem", "ua", "seo"}:
            words.append(word.upper())
        elif word == "of":
            words.append(word)
        else:
            words.append("-".join(part.capitalize() for part in word.split("-")))
    return " ".join(words)


def management_level(title: str | None) -> str:
    """ZoomInfo's management level for a title."""
    words = title_tokens(title)
    if words & {"ceo", "cmo", "cfo", "cto", "chief"}:
        return "C Level Exec"
    if words & {"vp", "vice"}:
        return "VP Level Exec"
    if words & {"director", "head"}:
        return "Director"
    if words & {"manager", "lead"}:
        return "Manager"
    return "Non Manager"


class ZoomInfoWorld:
    """The contacts ZoomInfo holds for one population, with look-up indexes. Deterministic per seed."""

    def __init__(self, population: Population):
        self.population = population
        self.seed = population.seed
        self._companies: dict[str, ZiCompany] = {}
        contacts: list[Contact] = []
        used: set[int] = set()
        for real_id in sorted(population.by_real_id):
            rng = random.Random(stable_hash("zoominfo", self.seed, real_id))
            if rng.random() >= COVERAGE:
                continue
            contacts.append(self._contact(real_id, rng, used))
        contacts.sort(key=lambda c: c.id)
        self.contacts = contacts
        self.by_id: dict[int, Contact] = {c.id: c for c in contacts}
        self.by_real_id: dict[str, Contact] = {c.real_id: c for c in contacts}
        self.by_email: dict[str, Contact] = {c.email: c for c in contacts if c.email}
        self.by_name_company: dict[tuple[str, str, str], Contact] = {}
        for c in contacts:
            for first in {c.first_name, c.person.first_name}:
                key = (first.strip().lower(), c.last_name.strip().lower(), c.company.name.strip().lower())
                self.by_name_company.setdefault(key, c)

    def _contact(self, real_id: str, rng: random.Random, used: set[int]) -> Contact:
        records = self.population.by_real_id[real_id]
        p = records[0]
        zid = 1_000_000_000 + stable_hash("zi-id", self.seed, real_id) % 8_999_999_999
        while zid in used:
            zid += 1
        used.add(zid)
        first = p.first_name
        if first in NICKNAMES and rng.random() < NICKNAME_RATE:
            first = NICKNAMES[first]
        middle = f"{chr(ord('A') + rng.randrange(26))}." if rng.random() < MIDDLE_INITIAL_RATE else None
        title, drift = p.title, False
        if rng.random() < TITLE_DRIFT_RATE:
            role = rng.choice(sorted(TARGET_ROLES))
            title, drift = _title_case(rng.choice(TARGET_ROLES[role])), True
        slug = next((r.linkedin_slug for r in records if r.linkedin_slug), None)
        form = USUAL_LINKEDIN_FORM
        if rng.random() < LINKEDIN_VARIANT_RATE:
            form = rng.randint(1, LINKEDIN_FORMS - 2)  # 1..8: any other form
        email = p.work_email.lower() if rng.random() < EMAIL_RATE else None
        mobile = None
        if rng.random() < MOBILE_RATE and p.country == US:
            area = AREA_CODES.get(p.city, "646")
            mobile = f"({area}) 555-01{rng.randint(0, 99):02d}"
        roll = rng.random()
        status = "OPT_OUT" if roll < OPT_OUT_RATE else "NO_MATCH" if roll < OPT_OUT_RATE + STALE_RATE else "FULL_MATCH"
        edge = OPT_OUT_RATE + STALE_RATE
        for name, rate in ENRICH_STATUS_RATES:
            if status == "FULL_MATCH" and edge <= roll < edge + rate:
                status = name
            edge += rate
        updated = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=rng.randint(0, 540))
        return Contact(
            id=zid,
            real_id=real_id,
            person=p,
            first_name=first,
            middle_name=middle,
            last_name=p.last_name,
            job_title=title,
            title_drift=drift,
            linkedin_slug=slug,
            linkedin_form=form,
            email=email,
            direct_phone=p.phone,
            mobile_phone=mobile,
            direct_dnc=rng.random() < DNC_RATE,
            mobile_dnc=rng.random() < DNC_RATE,
            accuracy=rng.randint(75, 99),
            accuracy_as_text=rng.random() < ACCURACY_AS_TEXT_RATE,
            opted_out=roll < OPT_OUT_RATE,
            stale=OPT_OUT_RATE <= roll < OPT_OUT_RATE + STALE_RATE,
            company=self._company(p.company),
            last_updated=updated.strftime("%Y-%m-%dT%H:%M:%SZ"),
            valid_date=(updated + timedelta(days=rng.randint(0, 90))).strftime("%Y-%m-%dT%H:%M:%SZ"),
            enrich_status=status,
        )

    def _company(self, c: Company) -> ZiCompany:
        hit = self._companies.get(c.id)
        if hit is not None:
            return hit
        rng = random.Random(stable_hash("zi-company", self.seed, c.id))
        website = f"www.{c.domain}" if c.website_url or rng.random() < FILL_COMPANY_GAP_RATE else None
        size = c.estimated_num_employees
        if size is not None:
            size = max(1, round(size * rng.uniform(0.8, 1.25)))
        elif rng.random() < FILL_COMPANY_GAP_RATE:
            size = int(10 ** rng.uniform(0.5, 4.5))
        industry = c.industry
        if industry is None and rng.random() < FILL_COMPANY_GAP_RATE:
            industry = rng.choice(sorted(INDUSTRIES))
        primary, industries = INDUSTRIES.get(industry, (None, ())) if industry else (None, ())
        company = ZiCompany(
            id=100_000_000 + stable_hash("zi-co", self.seed, c.id) % 899_999_999,
            name=c.name,
            website=website,
            employee_count=size,
            primary_industry=primary,
            industries=industries,
            revenue=c.annual_revenue,
            phone=c.phone,
            street=c.street_address,
            city=c.city,
            state=c.state,
            zip_code=c.postal_code,
            country=c.country,
        )
        self._companies[c.id] = company
        return company


@functools.lru_cache(maxsize=8)
def _world(population: Population) -> ZoomInfoWorld:
    return ZoomInfoWorld(population)


def world_for(population: Population) -> ZoomInfoWorld:
    """ZoomInfo's contacts for ``population`` (built once per population object)."""
    return _world(population)


# --------------------------------------------------------------------------------------------
# Rendering.
# --------------------------------------------------------------------------------------------


COMPANY_FIELDS = frozenset(
    {"companyId", "companyName", "companyWebsite", "companyEmployeeCount", "companyRevenueNumeric",
     "companyPrimaryIndustry", "companyIndustries"}
)


def _usable_input(item: Mapping[str, Any]) -> bool:
    """Whether a matchPersonInput item names a person at all (a person id, an email, or name + company)."""
    pid = item.get("personId")
    if pid is not None and not isinstance(pid, bool) and str(pid).strip().isdigit():
        return True
    if isinstance(item.get("emailAddress"), str) and "@" in item["emailAddress"]:
        return True
    return all(isinstance(item.get(k), str) and item[k].strip() for k in ("firstName", "lastName", "companyName"))


def _json_api(status: int, payload: Any) -> Response:
    resp = Response.json(status, payload)
    resp.content_type = JSON_API
    return resp


def search_row(c: Contact) -> dict:
    """A ``/search/contact`` row: no email, phone or LinkedIn URL."""
    co = c.company
    return {
        "id": c.id,
        "firstName": c.first_name,
        "middleName": c.middle_name or "",
        "lastName": c.last_name,
        "validDate": c.valid_date,
        "lastUpdatedDate": c.last_updated,
        "jobTitle": c.job_title,
        "contactAccuracyScore": c.accuracy_value,
        "hasEmail": c.email is not None,
        "hasSupplementalEmail": False,
        "hasDirectPhone": c.direct_phone is not None,
        "hasMobilePhone": c.mobile_phone is not None,
        "hasCompanyIndustry": co.primary_industry is not None,
        "hasCompanyPhone": co.phone is not None,
        "hasCompanyStreet": bool(co.street),
        "hasCompanyState": bool(co.state),
        "hasCompanyZipCode": bool(co.zip_code),
        "hasCompanyCountry": bool(co.country),
        "hasCompanyRevenue": co.revenue is not None,
        "hasCompanyEmployeeCount": co.employee_count is not None,
        "directPhoneDoNotCall": c.direct_dnc,
        "mobilePhoneDoNotCall": c.mobile_dnc,
        "company": {"id": co.id, "name": co.name},
    }


def enrich_object(c: Contact) -> dict:
    """Every enrich output field of a contact (the handler keeps the requested ones)."""
    p, co = c.person, c.company
    code = STATE_CODES.get(p.state_name) if p.country == US else None
    urls = [{"type": "linkedin.com", "url": c.linkedin}] if c.linkedin else []
    return {
        "id": c.id,
        "firstName": c.first_name,
        "middleName": c.middle_name or "",
        "lastName": c.last_name,
        "email": c.email,
        "hasCanadianEmail": False,
        "phone": c.direct_phone,
        "mobilePhone": c.mobile_phone,
        "directPhoneDoNotCall": c.direct_dnc,
        "mobilePhoneDoNotCall": c.mobile_dnc,
        "street": None,
        "city": p.city,
        "region": US_REGIONS.get(code or "", "South") if code else None,
        "metroArea": f"{p.city}, {code}" if code and p.location_kind == "metro" else None,
        "zipCode": f"{stable_hash('zip', c.id) % 90000 + 10000}" if code else None,
        "state": p.state_name,
        "country": p.country,
        "jobTitle": c.job_title,
        "jobFunction": [{"name": "Marketing", "department": "Marketing"}],
        "managementLevel": [management_level(c.job_title)],
        "externalUrls": urls,
        "companyId": co.id,
        "companyName": co.name,
        "companyWebsite": co.website,
        "companyEmployeeCount": co.employee_count,
        "companyRevenueNumeric": co.revenue,
        "companyPrimaryIndustry": co.primary_industry,
        "companyIndustries": [{"name": n, "primary": i == 0} for i, n in enumerate(co.industries)],
        "contactAccuracyScore": c.accuracy_value,
        "lastUpdatedDate": c.last_updated,
    }


# --------------------------------------------------------------------------------------------
# Search filters.
# --------------------------------------------------------------------------------------------


class InvalidInput(ValueError):
    """A request ZoomInfo's platform validation rejects (400, JSON:API shape)."""

    def __init__(self, detail: str, parameter: str | None = None, code: str = "PFAPI0001"):
        super().__init__(detail)
        self.detail = detail
        self.parameter = parameter
        self.code = code


def _key(text: Any) -> str:
    return re.sub(r"[^a-z0-9]", "", str(text).lower())


_US_KEYS = frozenset({"us", "usa", "unitedstates", "unitedstatesofamerica", "america"})


def _country_ok(term: str, country: str) -> bool:
    return term == _key(country) or (country == US and term in _US_KEYS)


def _state_ok(term: str, state_name: str) -> bool:
    code = STATE_CODES.get(state_name)
    return term == _key(state_name) or (code is not None and term == code.lower())


@dataclass(frozen=True)
class Place:
    """One location filter entry, as keys: any of country/state/city (empty = not constrained)."""

    country: str = ""
    state: str = ""
    city: str = ""

    def matches(self, city: str, state_name: str, country: str) -> bool:
        if self.country and not _country_ok(self.country, country):
            return False
        if self.state and not _state_ok(self.state, state_name):
            return False
        return not self.city or self.city == _key(city)


_STATE_KEYS = frozenset({_key(n) for n in US_STATES.values()} | {c.lower() for c in US_STATES})


def parse_metro(text: str) -> Place:
    """A metro entry: ``usa.texas.austin``, ``US - TX - Austin``, ``Austin, Texas`` or ``Austin, TX, USA``."""
    text = str(text).strip()
    if " - " in text:
        parts = [p.strip() for p in text.split(" - ")]
        if len(parts) == 3:
            return Place(_key(parts[0]), _key(parts[1]), _key(parts[2]))
        if len(parts) == 2:
            return Place(_key(parts[0]), _key(parts[1]))
    elif "," in text:
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if len(parts) >= 3:
            return Place(_key(parts[2]), _key(parts[1]), _key(parts[0]))
        if len(parts) == 2:
            second = _key(parts[1])
            if second in _STATE_KEYS:
                return Place(state=second, city=_key(parts[0]))
            return Place(country=second, city=_key(parts[0]))
    elif "." in text and " " not in text:
        parts = text.split(".")
        if len(parts) == 3:
            return Place(_key(parts[0]), _key(parts[1]), _key(parts[2]))
        if len(parts) == 2:
            return Place(_key(parts[0]), _key(parts[1]))
    if not _key(text):
        raise InvalidInput(f"metroRegion entry {text!r} is empty", "metroRegion")
    return Place(city=_key(text))


def parse_metro_region(text: str) -> Place | None:
    """One ``metroRegion`` entry in a form ZoomInfo's lookup uses (``usa.texas.austin`` or
    ``US - TX - Austin``; UNCONFIRMED which), else None: entries are comma-separated, so a
    "City, State" pair arrives as two unknown regions."""
    text = str(text).strip()
    if " - " in text or ("." in text and " " not in text):
        return parse_metro(text)
    return None


def parse_place(text: str) -> Place:
    """A free location (ground truth's ``locations``): a metro entry, a state, or a country."""
    text = str(text).strip()
    if any(sep in text for sep in (",", " - ")) or ("." in text and " " not in text):
        return parse_metro(text)
    k = _key(text)
    if k in _STATE_KEYS:
        return Place(state=k)
    return Place(country=k)


def _values(value: Any, name: str, split_commas: bool = True) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, bool):
        raise InvalidInput(f"{name} must be a string or a list of strings", name)
    if isinstance(value, str | int | float):
        text = str(value)
        items = text.split(",") if split_commas else [text]
    elif isinstance(value, list | tuple):
        items = []
        for v in value:
            if not isinstance(v, str | int | float) or isinstance(v, bool):
                raise InvalidInput(f"{name} must be a string or a list of strings", name)
            items.append(str(v))
    else:
        raise InvalidInput(f"{name} must be a string or a list of strings", name)
    return tuple(s.strip() for s in items if s.strip())


_OR = re.compile(r"\s+OR\s+")


def _string_filter(value: Any, name: str, separator: re.Pattern | str) -> tuple[tuple[str, ...], bool]:
    """(entries, malformed) of a filter ZoomInfo types as one string: a list there is not an error,
    it just matches nobody (ZoomInfo answers a malformed filter with nothing, not a 400)."""
    if isinstance(value, list | tuple):
        return (), True
    if value is None or value == "":
        return (), False
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidInput(f"{name} must be a string", name)
    parts = separator.split(str(value)) if isinstance(separator, re.Pattern) else str(value).split(separator)
    return tuple(p.strip() for p in parts if p.strip()), False


def _int_value(value: Any, name: str, default: int | None) -> int | None:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise InvalidInput(f"{name} must be an integer", name)
    try:
        number = float(value) if isinstance(value, int | float) else float(str(value).strip())
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be an integer", name) from None
    if not math.isfinite(number) or not number.is_integer():
        raise InvalidInput(f"{name} must be an integer", name)
    return int(number)


@dataclass(frozen=True)
class ContactFilters:
    """The ``/search/contact`` filters the sandbox understands."""

    titles: tuple[str, ...] = ()
    management_levels: tuple[str, ...] = ()
    states: tuple[str, ...] = ()  # keys: state name or postal code, lower-case
    metros: tuple[Place, ...] = ()
    places: tuple[Place, ...] = ()  # ground truth's free "locations"
    countries: tuple[str, ...] = ()
    location_type: str = "Person"
    employee_min: int | None = None
    employee_max: int | None = None
    company_names: tuple[str, ...] = ()
    first_names: tuple[str, ...] = ()
    last_names: tuple[str, ...] = ()
    person_ids: tuple[int, ...] = ()
    malformed: tuple[str, ...] = ()  # filters sent in a form ZoomInfo does not read: nobody matches

    def _where(self, city: str, state_name: str, country: str) -> bool:
        if self.states and not any(_state_ok(s, state_name) for s in self.states):
            return False
        if self.countries and not any(_country_ok(c, country) for c in self.countries):
            return False
        if self.metros and not any(m.matches(city, state_name, country) for m in self.metros):
            return False
        return not self.places or any(p.matches(city, state_name, country) for p in self.places)

    def matches(self, c: Contact) -> bool:
        """Whether contact ``c`` passes every given filter (each filter matches any of its values)."""
        if self.malformed:
            return False
        if self.titles:
            words = title_tokens(c.job_title)
            if not c.job_title or not any(title_tokens(t) and title_tokens(t) <= words for t in self.titles):
                return False
        if self.management_levels and management_level(c.job_title).lower() not in self.management_levels:
            return False
        if self.states or self.countries or self.metros or self.places:
            p, co = c.person, c.company
            person = self._where(p.city, p.state_name, p.country)
            hq_state = US_STATES.get(co.state, co.state)
            hq = self._where(co.city, hq_state, co.country)
            ok = {"Person": person, "HQ": hq, "PersonAndHQ": person and hq, "PersonOrHQ": person or hq}
            if not ok[self.location_type]:
                return False
        if self.employee_min is not None or self.employee_max is not None:
            size = c.company.employee_count
            if size is None:
                return False
            if self.employee_min is not None and size < self.employee_min:
                return False
            if self.employee_max is not None and size > self.employee_max:
                return False
        if self.company_names and c.company.name.strip().lower() not in self.company_names:
            return False
        if self.first_names and c.first_name.lower() not in self.first_names:
            return False
        if self.last_names and c.last_name.lower() not in self.last_names:
            return False
        return not self.person_ids or c.id in self.person_ids

    def as_dict(self) -> dict:
        """JSON-ready form (for ground-truth answers)."""
        return {
            "jobTitle": list(self.titles),
            "managementLevel": list(self.management_levels),
            "state": list(self.states),
            "metroRegion": [f"{m.country}.{m.state}.{m.city}" for m in self.metros],
            "locations": [f"{p.country}.{p.state}.{p.city}" for p in self.places],
            "country": list(self.countries),
            "locationSearchType": self.location_type,
            "employeeRangeMin": self.employee_min,
            "employeeRangeMax": self.employee_max,
        }


def parse_filters(body: Mapping[str, Any], *, strict: bool = True) -> ContactFilters:
    """:class:`ContactFilters` from a search body (InvalidInput on unknown fields or bad values)."""
    if strict:
        unknown = sorted(set(body) - set(SEARCH_INPUT_FIELDS))
        if unknown:
            raise InvalidInput(
                f"Invalid input field(s) for contact search: {', '.join(unknown)}", unknown[0], "PFAPI0002"
            )
    # Titles are one string with " OR " between them; a comma is part of a title, so "A,B" is one
    # (unlikely) title, as ZoomInfo reads it.
    malformed: list[str] = []
    strings: dict[str, tuple[str, ...]] = {}
    for name, separator in (("jobTitle", _OR), ("personTitle", _OR), ("state", ","), ("country", ","),
                            ("metroRegion", ",")):
        strings[name], bad = _string_filter(body.get(name), name, separator)
        if bad:
            malformed.append(name)
    titles = strings["jobTitle"] + strings["personTitle"]
    levels = _values(body.get("managementLevel"), "managementLevel")
    bad = [lv for lv in levels if lv not in MANAGEMENT_LEVELS]
    if bad:
        raise InvalidInput(f"managementLevel must be one of {', '.join(MANAGEMENT_LEVELS)}", "managementLevel")
    location_type = str(body.get("locationSearchType") or "Person")
    if location_type not in LOCATION_TYPES:
        raise InvalidInput(f"locationSearchType must be one of {', '.join(LOCATION_TYPES)}", "locationSearchType")
    metros: list[Place] = []
    for entry in strings["metroRegion"]:
        place = parse_metro_region(entry)
        if place is None:
            malformed.append("metroRegion")  # not a region ZoomInfo knows: it matches nobody
        else:
            metros.append(place)
    ids = tuple(_int_value(v, "personId", None) for v in _values(body.get("personId"), "personId"))
    return ContactFilters(
        titles=titles,
        management_levels=tuple(lv.lower() for lv in levels),
        states=tuple(_key(s) for s in strings["state"]),
        metros=tuple(metros),
        countries=tuple(_key(c) for c in strings["country"]),
        location_type=location_type,
        employee_min=_int_value(body.get("employeeRangeMin"), "employeeRangeMin", None),
        employee_max=_int_value(body.get("employeeRangeMax"), "employeeRangeMax", None),
        company_names=tuple(s.lower() for s in _values(body.get("companyName"), "companyName", False)),
        first_names=tuple(s.lower() for s in _values(body.get("firstName"), "firstName", False)),
        last_names=tuple(s.lower() for s in _values(body.get("lastName"), "lastName", False)),
        person_ids=tuple(i for i in ids if i is not None),
        malformed=tuple(dict.fromkeys(malformed)),
    )


# --------------------------------------------------------------------------------------------
# Rate windows: fixed per-second (the shared limiter) and sliding hour/day (here).
# --------------------------------------------------------------------------------------------


class SlidingWindow:
    """Requests accepted in the last ``seconds``, counted in 60 buckets (bounded memory)."""

    BUCKETS = 60

    def __init__(self, seconds: float):
        self.seconds = float(seconds)
        self.width = self.seconds / self.BUCKETS
        self.buckets: deque[list[float]] = deque()  # [bucket start, count]

    def _trim(self, now: float) -> None:
        while self.buckets and self.buckets[0][0] <= now - self.seconds:
            self.buckets.popleft()

    def used(self, now: float) -> int:
        self._trim(now)
        return int(sum(b[1] for b in self.buckets))

    def add(self, now: float) -> None:
        start = math.floor(now / self.width) * self.width
        if self.buckets and self.buckets[-1][0] == start:
            self.buckets[-1][1] += 1
        else:
            self.buckets.append([start, 1])

    def retry_after(self, now: float) -> float:
        self._trim(now)
        if not self.buckets:
            return 0.0
        return max(0.0, self.buckets[0][0] + self.seconds - now)


# --------------------------------------------------------------------------------------------
# The app.
# --------------------------------------------------------------------------------------------


def _b64(data: Mapping[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _jwt_claims(token: str) -> dict | None:
    """The payload of a JWT, unverified (None when it is not one)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        return None
    return claims if isinstance(claims, dict) else None


def gateway_error(status: int, code: str, message: str, retryable: bool, headers=None) -> Response:
    """The API gateway's error shape (401/403/404/429/5xx)."""
    body = {
        "error": {
            "code": code,
            "message": message,
            "status": status,
            "requestId": str(uuid.uuid4()),
            "retryable": retryable,
        }
    }
    return Response.json(status, body, headers)


def validation_error(exc: InvalidInput) -> Response:
    """The platform's 400 in JSON:API shape."""
    error = {"code": exc.code, "status": "400", "title": "Bad Request", "detail": exc.detail}
    if exc.parameter:
        error["source"] = {"parameter": exc.parameter}
    return Response.json(400, {"title": "Bad Request", "detail": exc.detail, "status": 400, "errors": [error]})


class ZoomInfoApp(VendorApp):
    """The ZoomInfo (legacy Enterprise API) emulator."""

    name = "zoominfo"
    prefixes = ("/authenticate", "/search/", "/enrich/", "/lookup/", "/gtm/")

    def __init__(self, ctx: SandboxContext):
        super().__init__(ctx)
        self._lock = threading.RLock()
        # path -> (verb, handler, which API's tokens it takes)
        self._routes = {
            SEARCH_PATH: ("POST", self._search, "legacy"),
            ENRICH_PATH: ("POST", self._enrich, "legacy"),
            SEARCH_FIELDS_PATH: ("GET", self._search_fields, "legacy"),
            ENRICH_FIELDS_PATH: ("GET", self._enrich_fields, "legacy"),
            GTM_SEARCH_PATH: ("POST", self._gtm_search, "gtm"),
            GTM_ENRICH_PATH: ("POST", self._gtm_enrich, "gtm"),
            GTM_USAGE_PATH: ("GET", self._gtm_usage, "gtm"),
        }
        self._overrides: dict[str, Any] = {}
        self._search_cache: dict[ContactFilters, list[Contact]] = {}
        self.reset()

    @property
    def world(self) -> ZoomInfoWorld:
        """ZoomInfo's contacts over the sandbox's population."""
        return world_for(self.ctx.population)

    # -- settings, state, stats -----------------------------------------------------------

    def settings(self) -> dict:
        """Effective emulator settings: defaults, then overrides."""
        return {**DEFAULT_SETTINGS, **self._overrides}

    def configure(self, patch: Mapping[str, Any]) -> dict:
        """Change emulator settings (unknown names raise ValueError); returns the effective settings."""
        if not isinstance(patch, Mapping):
            raise ValueError("settings must be a JSON object")
        unknown = set(patch) - set(DEFAULT_SETTINGS)
        if unknown:
            raise ValueError(f"unknown zoominfo settings: {sorted(unknown)}")
        with self._lock:
            self._overrides.update(copy.deepcopy(dict(patch)))
        return self.settings()

    def reset(self) -> None:
        """Forget tokens, purchases, windows, counters and setting overrides."""
        with self._lock:
            self.tokens: dict[str, tuple[str, float, str]] = {}  # token -> (user, expires at, "legacy" | "gtm")
            self.service_error_asks: Counter = Counter()  # record -> enrich asks of a SERVICE_ERROR record
            self.purchases: Counter = Counter()
            self.managed_since: dict[int, float] = {}  # record -> first (billed) enrichment
            self.credits_consumed = 0
            self.records_enriched = 0
            self.counters: Counter = Counter()
            self.rate_limited: Counter = Counter()
            self._windows: dict[tuple[str, str, float], SlidingWindow] = {}
            self._overrides = {}

    def expire_tokens(self) -> int:
        """Expire every issued JWT (as if an hour had passed); returns how many."""
        with self._lock:
            self.tokens = {t: (user, 0.0, api) for t, (user, _, api) in self.tokens.items()}
            return len(self.tokens)

    def stats(self) -> dict:
        """Credits, purchases per record, re-buys, match outcomes, auth and 429 counters."""
        with self._lock:
            return {
                "credits_consumed": self.credits_consumed,
                "records_enriched": self.records_enriched,
                "purchases": {str(k): v for k, v in self.purchases.items()},
                "rebought": {str(k): v for k, v in self.purchases.items() if v > 1},
                "distinct_records_enriched": len(self.purchases),
                "enrichment_matches": self.counters["FULL_MATCH"],
                "enrichment_misses": self.counters["NO_MATCH"],
                "enrichment_opt_outs": self.counters["OPT_OUT"],
                "enrichment_statuses": {k: v for k, v in self.counters.items() if k.isupper() and v},
                "tokens_issued": self.counters["tokens"],
                "auth_failures": self.counters["auth_failures"],
                "token_rejections": self.counters["token_rejections"],
                "rate_limited": dict(self.rate_limited),
            }

    # -- plumbing -------------------------------------------------------------------------

    def endpoint_of(self, path: str) -> str:
        """Stats label: the path without its leading slash (``search/contact``)."""
        return path.strip("/") or "/"

    def fault_response(self, kind: str, req: Request) -> Response:
        """Injected faults in the gateway's shapes (502/503 stay HTML, as a load balancer sends them)."""
        if kind == "500":
            return gateway_error(500, ERR_INTERNAL, "Internal server error", True)
        if kind == "429":
            return gateway_error(
                429, ERR_RATE_LIMIT, "You have exceeded your API query rate limit.", True, {"Retry-After": "1"}
            )
        return super().fault_response(kind, req)

    def handle(self, req: Request) -> Response:
        """Admin, authenticate, or route + JWT + windows + endpoint."""
        path = "/" + req.path.strip("/")
        if path.startswith(ADMIN.rstrip("/")):
            return self._admin(req, path)
        if path in (AUTH_PATH, GTM_TOKEN_PATH):
            if req.method != "POST":
                return self._no_resource(path)
            return self._authenticate(req) if path == AUTH_PATH else self._gtm_token(req)
        route = self._routes.get(path)
        if route is None or route[0] != req.method:
            return self._no_resource(path)
        user, error = self._check_jwt(req, route[2])
        if error is not None:
            return error
        allowed, headers, retry_after, window = self._acquire(user)
        if not allowed:
            with self._lock:
                self.rate_limited[window] += 1
            if self.settings().get("send_retry_after", True):
                headers["Retry-After"] = str(retry_after)
            message = (
                "You have exceeded your API query rate limit."
                if window == "second"
                else "You have exceeded your overall API query request limit. Please contact your account "
                "manager."
            )
            return gateway_error(429, ERR_RATE_LIMIT, message, True, headers)
        try:
            resp = route[1](req)
        except InvalidInput as exc:
            resp = validation_error(exc)
        except BadRequestBody as exc:
            resp = validation_error(InvalidInput(f"Request body is not valid JSON: {exc}", None, "PFAPI0000"))
        resp.headers = {**headers, **resp.headers}
        return resp

    @staticmethod
    def _no_resource(path: str) -> Response:
        return gateway_error(404, ERR_NO_RESOURCE, f"No static resource {path.lstrip('/')}.", False)

    # -- admin ----------------------------------------------------------------------------

    def _admin(self, req: Request, path: str) -> Response:
        name = path[len(ADMIN) - 1 :].strip("/")
        try:
            if name == "settings":
                if req.method == "POST":
                    return Response.json(200, self.configure(req.json()))
                return Response.json(200, self.settings())
            if name == "expire_tokens" and req.method == "POST":
                return Response.json(200, {"expired": self.expire_tokens()})
        except (ValueError, BadRequestBody) as exc:
            return Response.json(400, {"error": str(exc)})
        return Response.json(404, {"error": f"unknown zoominfo admin endpoint {req.method} {path}"})

    # -- auth -----------------------------------------------------------------------------

    def _keys(self) -> dict:
        return self.ctx.config["keys"].get(self.name, {}) or {}

    def _auth_failed(self, message: str) -> Response:
        with self._lock:
            self.counters["auth_failures"] += 1
        return gateway_error(401, ERR_AUTH, message, False)

    def _authenticate(self, req: Request) -> Response:
        keys = self._keys()
        users = keys.get("users") or {}
        auth = req.header("Authorization") or ""
        body = req.body.strip()
        if auth.lower().startswith("bearer ") and not body:
            claims = _jwt_claims(auth[7:].strip())
            if claims is None:
                return self._auth_failed("Client JWT is not a JWT")
            if claims.get("aud") != CLIENT_JWT_AUD or claims.get("iss") != CLIENT_JWT_ISS:
                return self._auth_failed("Client JWT has the wrong audience or issuer")
            exp = claims.get("exp")
            if not isinstance(exp, int | float) or exp <= time.time():
                return self._auth_failed("Client JWT is expired")
            if claims.get("client_id") not in set(keys.get("clients") or []):
                return self._auth_failed("Unknown client_id")
            username = claims.get("username")
            if not isinstance(username, str) or username not in users:
                return self._auth_failed("Unknown username")
            return self._issue(username)
        content_type = (req.header("Content-Type") or "").lower()
        if "json" in content_type:
            try:
                data = req.json()
            except BadRequestBody:
                data = None
            fields = data if isinstance(data, dict) else {}
        else:
            try:
                parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True)
            except UnicodeDecodeError:
                parsed = {}
            fields = {k: v[0] for k, v in parsed.items()}
        username, password = fields.get("username"), fields.get("password")
        if not username or not password:
            return self._auth_failed("Username and password are required")
        if users.get(username) != password:
            return self._auth_failed("Invalid username or password")
        return self._issue(str(username))

    def _new_token(self, user: str, api: str) -> tuple[str, float]:
        """A new access token (a JWT carrying ``iat`` / ``exp``) for ``user`` on ``api``, and its lifetime."""
        ttl = float(self.settings()["jwt_ttl_seconds"])
        now = time.time()
        claims = {
            "aud": CLIENT_JWT_AUD if api == "legacy" else "gtm_api",
            "iss": "api.zoominfo.com",
            "username" if api == "legacy" else "client_id": user,
            "iat": int(now),
            "exp": int(math.floor(now + ttl)),
            "jti": secrets.token_hex(8),
        }
        token = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(claims)}.{secrets.token_urlsafe(32)}"
        with self._lock:
            self.tokens[token] = (user, now + ttl, api)
            self.counters["tokens"] += 1
        return token, ttl

    def _issue(self, username: str) -> Response:
        return Response.json(200, {"jwt": self._new_token(username, "legacy")[0]})

    def _check_jwt(self, req: Request, api: str = "legacy") -> tuple[str, Response | None]:
        auth = req.header("Authorization") or ""
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        now = time.time()
        with self._lock:
            entry = self.tokens.get(token) if token else None
            if entry is not None and entry[2] != api:
                entry = None  # a legacy JWT opens no GTM door, and the other way round
            if entry is None or entry[1] <= now:
                self.counters["token_rejections"] += 1
        if entry is None:
            return "", gateway_error(401, ERR_TOKEN_INVALID, "Invalid token: authenticate first", False)
        if entry[1] <= now:
            return "", gateway_error(401, ERR_TOKEN_EXPIRED, "Token expired: authenticate again", False)
        return entry[0], None

    # -- windows --------------------------------------------------------------------------

    def _acquire(self, user: str) -> tuple[bool, dict[str, str], int, str]:
        """Check every window, count the request in all of them only when all have room."""
        limits = self.ctx.config["limits"].get(self.name, {}).get("api", {}) or {}
        windows = {"second": 1, **self.ctx.config["windows"]}
        headers: dict[str, str] = {}
        with self._lock:
            now = time.time()
            sliding = []
            for name in ("hour", "day"):
                limit, seconds = limits.get(name), float(windows.get(name) or 0)
                if limit is None or seconds <= 0:
                    continue
                w = self._windows.setdefault((user, name, seconds), SlidingWindow(seconds))
                sliding.append((name, int(limit), w, w.used(now)))
            full = [(name, w) for name, limit, w, used in sliding if used >= limit]
            if full:
                name, w = max(full, key=lambda nw: nw[1].retry_after(now))
                for n, limit, _, used in sliding:
                    headers.update(self._headers(n, limit, used))
                return False, headers, max(1, math.ceil(w.retry_after(now))), name
            second = {"second": limits.get("second")} if limits.get("second") is not None else {}
            decision = self.ctx.limiter.acquire(self.name, user, "api", second, windows)
            for usage in decision.windows:
                if usage.limit is not None:
                    headers.update(self._headers("second", usage.limit, usage.used))
            if not decision.allowed:
                for n, limit, _, used in sliding:
                    headers.update(self._headers(n, limit, used))
                return False, headers, decision.retry_after, "second"
            for n, limit, w, used in sliding:
                w.add(now)
                headers.update(self._headers(n, limit, used + 1))
        return True, headers, 0, ""

    @staticmethod
    def _headers(window: str, limit: int, used: int) -> dict[str, str]:
        suffix = window.capitalize()
        out = {f"X-RateLimit-Limit-{suffix}": str(limit), f"X-RateLimit-Remaining-{suffix}": str(max(0, limit - used))}
        if window == "second":
            out["X-RateLimit-Limit"] = str(limit)  # the deprecated per-second header (removed 2027-01-01)
        return out

    # -- lookups --------------------------------------------------------------------------

    def _search_fields(self, req: Request) -> Response:
        fields = [{"fieldName": k, "fieldType": "String", "description": v} for k, v in SEARCH_INPUT_FIELDS.items()]
        return Response.json(200, fields)

    def _enrich_fields(self, req: Request) -> Response:
        return Response.json(200, [{"fieldName": k, "fieldType": "String"} for k in ENRICH_OUTPUT_FIELDS])

    # -- search ---------------------------------------------------------------------------

    def find(self, filters: ContactFilters) -> list[Contact]:
        """Every contact matching ``filters``, in id order. Cached: contacts never change."""
        with self._lock:
            hit = self._search_cache.get(filters)
        if hit is not None:
            return hit
        found = [c for c in self.world.contacts if filters.matches(c)]
        with self._lock:
            if len(self._search_cache) >= 512:
                self._search_cache.clear()
            self._search_cache[filters] = found
        return found

    def _search(self, req: Request) -> Response:
        body = req.json()
        if not isinstance(body, dict):
            raise InvalidInput("Request body must be a JSON object")
        rpp = _int_value(body.get("rpp"), "rpp", DEFAULT_RPP)
        page = _int_value(body.get("page"), "page", 1)
        if not 1 <= rpp <= MAX_RPP:
            raise InvalidInput(f"rpp must be between 1 and {MAX_RPP}", "rpp", "PFAPI0003")
        if page < 1:
            raise InvalidInput("page must be 1 or more", "page", "PFAPI0003")
        found = self.find(parse_filters(body))
        cap = int(self.settings()["search_cap"] or 0)
        start = (page - 1) * rpp
        rows = found[start : max(start, min(start + rpp, cap))]
        return Response.json(
            200,
            {"maxResults": rpp, "totalResults": len(found), "currentPage": page, "data": [search_row(c) for c in rows]},
        )

    # -- enrich ---------------------------------------------------------------------------

    def resolve(self, item: Mapping[str, Any]) -> Contact | None:
        """The contact a ``matchPersonInput`` item names (personId, emailAddress, or name + company)."""
        world = self.world
        pid = item.get("personId")
        if pid is not None and not isinstance(pid, bool):
            try:
                hit = world.by_id.get(int(str(pid).strip()))
            except ValueError:
                hit = None
            if hit is not None:
                return hit
        email = item.get("emailAddress")
        if isinstance(email, str) and email.strip().lower() in world.by_email:
            return world.by_email[email.strip().lower()]
        first, last, company = item.get("firstName"), item.get("lastName"), item.get("companyName")
        if all(isinstance(v, str) and v.strip() for v in (first, last, company)):
            return world.by_name_company.get((first.strip().lower(), last.strip().lower(), company.strip().lower()))
        return None

    def _enrich_inputs(self, body: Any) -> tuple[list[dict], list[str]]:
        """(matchPersonInput items, output field names kept, ``id`` first) of a valid enrich request."""
        if not isinstance(body, dict):
            raise InvalidInput("Request body must be a JSON object")
        inputs = body.get("matchPersonInput")
        if not isinstance(inputs, list) or not inputs:
            raise InvalidInput("matchPersonInput is required and must be a non-empty array", "matchPersonInput")
        if len(inputs) > MAX_ENRICH_INPUTS:
            raise InvalidInput(
                f"matchPersonInput accepts at most {MAX_ENRICH_INPUTS} records, got {len(inputs)}",
                "matchPersonInput",
                "PFAPI0004",
            )
        if any(not isinstance(i, dict) for i in inputs):
            raise InvalidInput("each matchPersonInput item must be an object", "matchPersonInput")
        output = body.get("outputFields")
        if not isinstance(output, list) or not output or not all(isinstance(f, str) for f in output):
            raise InvalidInput("outputFields is required and must be a non-empty array of names", "outputFields")
        unknown = sorted(set(output) - set(ENRICH_OUTPUT_FIELDS))
        if unknown:
            raise InvalidInput(f"Invalid output field(s): {', '.join(unknown)}", "outputFields", "PFAPI0002")
        return inputs, ["id", *[f for f in dict.fromkeys(output) if f != "id"]]

    def match(self, inputs: list[dict], wanted: list[str]) -> list[tuple[dict, str, dict | None]]:
        """(input, matchStatus, data or None) per input, in order; bills as ZoomInfo does.

        FULL_MATCH and CONTACT_ONLY_MATCH (the contact's fields, company fields left out) cost a
        credit on a record's first enrichment in the management window; COMPANY_ONLY_MATCH answers
        the company's fields only and is not billed; a record whose ``enrich_status`` is
        SERVICE_ERROR answers that to its first ``service_error_attempts`` asks, then FULL_MATCH. Once
        ``record_limit`` credits are spent, a record that would cost one answers LIMIT_EXCEEDED.
        """
        settings = self.settings()
        window = float(settings["management_window_seconds"])
        limit = settings.get("record_limit")
        out: list[tuple[dict, str, dict | None]] = []
        with self._lock:
            now = time.time()
            for item in inputs:
                contact = self.resolve(item)
                if contact is None:
                    status = "INVALID_INPUT" if not _usable_input(item) else "NO_MATCH"
                    out.append((item, status, None))
                    self.counters[status] += 1
                    continue
                status = contact.enrich_status
                if status == "SERVICE_ERROR":
                    self.service_error_asks[contact.id] += 1
                    if self.service_error_asks[contact.id] > int(settings["service_error_attempts"]):
                        status = "FULL_MATCH"
                data = None
                if status in ("FULL_MATCH", "CONTACT_ONLY_MATCH"):
                    since = self.managed_since.get(contact.id)
                    new_credit = since is None or now - since >= window
                    if new_credit and limit is not None and self.credits_consumed >= int(limit):
                        status = "LIMIT_EXCEEDED"
                    else:
                        full = enrich_object(contact)
                        keep = [k for k in wanted if k == "id" or status == "FULL_MATCH" or k not in COMPANY_FIELDS]
                        data = {k: full.get(k) for k in keep}
                        # Every enrichment is counted (the sandbox never forgives a re-buy in its stats),
                        # but ZoomInfo bills a record only on its first enrichment in the window.
                        self.purchases[contact.id] += 1
                        self.records_enriched += 1
                        if new_credit:
                            self.managed_since[contact.id] = now
                            self.credits_consumed += 1
                elif status == "COMPANY_ONLY_MATCH":
                    full = enrich_object(contact)
                    data = {k: full.get(k) for k in wanted if k in COMPANY_FIELDS}
                self.counters[status] += 1
                out.append((item, status, data))
        return out

    def _enrich(self, req: Request) -> Response:
        inputs, wanted = self._enrich_inputs(req.json())
        results = [
            {"input": item, "data": [data] if data is not None else [], "matchStatus": status}
            for item, status, data in self.match(inputs, wanted)
        ]
        return Response.json(200, {"success": True, "data": {"outputFields": wanted, "result": results}})

    # -- GTM API --------------------------------------------------------------------------

    def _gtm_token(self, req: Request) -> Response:
        """OAuth2 client-credentials grant: HTTP Basic (or form ``client_id`` / ``client_secret``)."""
        try:
            parsed = parse_qs(req.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            parsed = {}
        fields = {k: v[0] for k, v in parsed.items()}
        client_id, secret = fields.get("client_id"), fields.get("client_secret")
        auth = req.header("Authorization") or ""
        if auth.lower().startswith("basic "):  # the header wins when both are sent
            try:
                client_id, _, secret = base64.b64decode(auth[6:].strip()).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                client_id, secret = None, None
        clients = self._keys().get("gtm_clients") or {}
        if not client_id or clients.get(client_id) != secret:
            with self._lock:
                self.counters["auth_failures"] += 1
            return Response.json(401, {"error": "invalid_client", "error_description": "Client authentication failed"},
                                 {"WWW-Authenticate": 'Basic realm="zoominfo"'})
        if fields.get("grant_type") != "client_credentials":
            return Response.json(400, {"error": "unsupported_grant_type",
                                       "error_description": "grant_type must be client_credentials"})
        token, ttl = self._new_token(str(client_id), "gtm")
        return Response.json(200, {"access_token": token, "token_type": "Bearer", "expires_in": int(ttl),
                                   "scope": "api:data:contact api:data:company"})

    @staticmethod
    def _gtm_attributes(req: Request, kind: str) -> dict:
        body = req.json()
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or data.get("type") != kind or not isinstance(data.get("attributes"), dict):
            raise InvalidInput(f'Request body must be {{"data": {{"type": "{kind}", "attributes": {{...}}}}}}', "data")
        return data["attributes"]

    def _gtm_search(self, req: Request) -> Response:
        attributes = self._gtm_attributes(req, "ContactSearch")
        for paging in ("rpp", "page"):
            if paging in attributes:
                raise InvalidInput(f"Invalid input field(s) for contact search: {paging}", paging, "PFAPI0002")
        size = _int_value((req.query.get("page[size]") or [None])[0], "page[size]", DEFAULT_RPP)
        number = _int_value((req.query.get("page[number]") or [None])[0], "page[number]", 1)
        if not 1 <= size <= MAX_RPP:
            raise InvalidInput(f"page[size] must be between 1 and {MAX_RPP}", "page[size]", "PFAPI0003")
        if number < 1:
            raise InvalidInput("page[number] must be 1 or more", "page[number]", "PFAPI0003")
        found = self.find(parse_filters(attributes))
        cap = int(self.settings()["search_cap"] or 0)
        start = (number - 1) * size
        rows = found[start : max(start, min(start + size, cap))]
        data = []
        for c in rows:
            row = search_row(c)
            data.append({"type": "Contact", "id": str(row.pop("id")), "attributes": row})
        meta = {"page": {"number": number, "size": size, "total": math.ceil(len(found) / size)},
                "totalResults": len(found)}
        return _json_api(200, {"data": data, "meta": meta})

    def _gtm_enrich(self, req: Request) -> Response:
        inputs, wanted = self._enrich_inputs(self._gtm_attributes(req, "ContactEnrich"))
        data = []
        for item, status, fields in self.match(inputs, wanted):
            meta = {"matchStatus": status, "input": item}
            if fields is None:
                data.append({"type": "NoMatch", "meta": meta})
            elif status == "COMPANY_ONLY_MATCH":
                data.append({"type": "Company", "id": str(fields.get("companyId") or ""), "attributes": fields,
                             "meta": meta})
            else:
                attributes = {k: v for k, v in fields.items() if k != "id"}
                data.append({"type": "Contact", "id": str(fields["id"]), "attributes": attributes, "meta": meta})
        return _json_api(200, {"data": data})

    def _gtm_usage(self, req: Request) -> Response:
        with self._lock:
            attributes = {"creditsUsed": self.credits_consumed, "recordsEnriched": self.records_enriched,
                          "recordLimit": self.settings().get("record_limit")}
        return _json_api(200, {"data": {"type": "Usage", "id": "usage", "attributes": attributes}})

    # -- ground truth ---------------------------------------------------------------------

    def ground_truth(self, params: Mapping[str, list[str]], body: Any) -> dict:
        """The distinct real people a full ZoomInfo search with these filters could reach (within the cap).

        Accepts ``titles`` / ``locations`` (query parameters or JSON lists; locations in Apollo's
        "City, State" form, or a state, or a country) or ZoomInfo's own filter names. Each person
        lists ``zoominfo_ids`` (their contact), ``apollo_ids`` (every Apollo record of the person),
        and whether ZoomInfo will refuse to sell them (``opted_out``, ``stale``).
        """
        merged: dict[str, Any] = {k: (v if len(v) > 1 else v[0]) for k, v in params.items() if k != "vendor"}
        merged.update(body if isinstance(body, dict) else {})
        titles = merged.pop("titles", None)
        locations = merged.pop("locations", None)
        filters = parse_filters(merged, strict=False)
        if titles is not None:
            filters = dataclasses.replace(filters, titles=filters.titles + _values(titles, "titles"))
        if locations is not None:
            entries = [locations] if isinstance(locations, str) else list(locations)
            filters = dataclasses.replace(filters, places=tuple(parse_place(e) for e in entries))
        found = self.find(filters)
        cap = int(self.settings()["search_cap"] or 0)
        reachable = found[:cap]
        by_real = {c.real_id: c for c in reachable}
        records = [r for c in reachable for r in self.ctx.population.by_real_id[c.real_id]]
        people = []
        for truth in self.ctx.population.ground_truth(records):
            c = by_real[truth.real_id]
            entry = truth.as_dict()
            entry.update(
                zoominfo_ids=[str(c.id)],
                opted_out=c.opted_out,
                stale=c.stale,
                enrich_status=c.enrich_status,
                zoominfo_email=c.email,
                zoominfo_title=c.job_title,
            )
            people.append(entry)
        return {
            "filters": filters.as_dict(),
            "total_results": len(found),
            "reachable_results": len(reachable),
            "distinct_people": len(people),
            "people": people,
        }


def contacts_of(population: Population, ids: Iterable[int | str]) -> list[Contact]:
    """The contacts with these ZoomInfo ids (helper for tests)."""
    world = world_for(population)
    return [world.by_id[int(i)] for i in ids if int(i) in world.by_id]


def create_app(ctx: SandboxContext) -> ZoomInfoApp:
    """Entry point the server's vendor registry calls."""
    return ZoomInfoApp(ctx)
