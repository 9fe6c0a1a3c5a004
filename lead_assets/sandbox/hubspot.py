"""HubSpot CRM v3 emulator: contact properties, contacts batch endpoints, rate windows, in-memory CRM.

Contract (vendor-apis.md §7 and §10):

* ``GET|POST /crm/v3/properties/contacts`` (+ ``GET|DELETE .../{name}``): the portal's property list;
  creating an existing name answers 409 ``OBJECT_ALREADY_EXISTS``.
* ``POST /crm/v3/objects/contacts/batch/{upsert,create,update,read}``: at most 100 inputs (400
  ``VALIDATION_ERROR`` beyond), duplicate ids in one batch 400, an unknown or read-only property 400
  for the whole batch, per-input failures as **207** ``numErrors`` + ``errors[]`` whose ``context``
  carries the input's ``objectWriteTraceId``; result order is shuffled (HubSpot does not promise
  input order). Upsert by ``idProperty`` = ``email`` or a ``hasUniqueValue`` property, with ``new``.
* Uniqueness is enforced the way the portal does: one contact per email (case-insensitive) and per
  value of every unique property; a write that would break it fails with ``CONFLICT``.
  ``batch/create`` and ``POST /crm/v3/objects/contacts`` with an existing email answer 409
  ``Contact already exists. Existing ID: N`` (whole batch; UNCONFIRMED for batch/create).
* ``Authorization: Bearer <private app token>``; unknown token 401 ``INVALID_AUTHENTICATION``,
  a token listed in ``keys.hubspot.expired`` 401 ``EXPIRED_AUTHENTICATION``. Scopes per token
  (``keys.hubspot.scopes``: token -> granted scopes; a token not listed has them all): each route
  needs one (``ROUTE_SCOPES``; reading contact properties needs ``crm.schemas.contacts.read``,
  vendor-apis.md Corrections 7), else 403 ``MISSING_SCOPES`` naming the scope.
* ``POST /crm/v3/objects/contacts/search``: filterGroups (OR) of filters (AND) with ``EQ``, ``NEQ``,
  ``IN``, ``HAS_PROPERTY``, ``NOT_HAS_PROPERTY``; ``limit`` <= 200 (400 beyond), ``after`` cursor,
  ``total``; its own per-second limit (``limits.hubspot.search.second``, default 5) answered with
  the ``SECONDLY`` 429 body.
* ``POST /crm/v3/objects/contacts/gdpr-delete`` ``{"objectId", "idProperty"?}``: by contact id, or
  by email (the only documented ``idProperty``; another answers 400). An email no contact holds
  still answers **204** and is blocklisted (Corrections 8): a later write of that email fails
  with ``VALIDATION_ERROR`` (the exact refusal is UNCONFIRMED). An unknown contact id answers 404.
* Limits per token: a *rolling* window (``limits.hubspot.api.ten_secondly``, length
  ``windows.ten_secondly``, default 10 s) and a daily window (``limits.hubspot.api.day``) that
  resets at midnight in the account's time zone (setting ``account_time_zone``, default UTC;
  a ``windows.day`` other than 86400 s makes it a plain fixed window, for tests),
  ``X-HubSpot-RateLimit-*`` headers on every authenticated answer, and HubSpot's 429 bodies
  (``TEN_SECONDLY_ROLLING`` with ``Retry-After`` when ``send_retry_after``; ``DAILY`` and
  ``SECONDLY`` without).

Emulator settings (``DEFAULT_SETTINGS``; change them with ``POST /hubspot/__sandbox/settings`` or
in-process with :meth:`HubSpotApp.configure`; a ``vendors.hubspot`` section of the sandbox config is
honoured too if the server ever grows one): ``crm_fail_rate`` makes that share of records fail,
chosen by a seeded hash of the record's id value so the same records fail on every run; of those,
``crm_transient_share`` fail transiently (category ``LOCKED``, ``crm_transient_failures`` times, then
they succeed) and the rest permanently (``VALIDATION_ERROR``). ``crm_fail_mode`` = ``"batch"`` turns
any per-record failure into a 400 for the whole batch (HubSpot does this for some validation errors),
so clients must split batches to isolate the bad record.

Admin read-back under the mount (no auth or limits; the server's fault plan still applies, so
disable faults before reading): ``GET /hubspot/__sandbox/contacts``, ``GET|POST
/hubspot/__sandbox/settings``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import random
import re
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .server import BadRequestBody, Request, Response, SandboxContext, VendorApp

API = "/crm/v3"
PROPERTIES_PATH = f"{API}/properties/contacts"
CONTACTS_PATH = f"{API}/objects/contacts"
ADMIN = "/__sandbox/"
BATCH_MAX = 100

# This vendor's entries in the sandbox config: Free/Starter private apps (100 per rolling 10 s,
# 250,000 per day per account).
DEFAULT_LIMITS = {"api": {"ten_secondly": 100, "day": 250_000}, "search": {"second": 5}}
WRITE_ONLY_TOKEN = "sandbox-hubspot-write-only-token"  # scoped as the old settings table said: writes only
DEFAULT_KEYS = {
    "valid": ["sandbox-hubspot-token", WRITE_ONLY_TOKEN],
    "expired": ["sandbox-hubspot-expired-token"],
    "scopes": {WRITE_ONLY_TOKEN: ["crm.objects.contacts.write", "crm.schemas.contacts.write"]},
}
DEFAULT_SETTINGS: dict[str, Any] = {
    "crm_fail_rate": 0.0,
    "crm_transient_share": 0.5,
    "crm_transient_failures": 1,
    "crm_fail_mode": "record",  # "record": 207 per input; "batch": a failing input fails its whole batch (400)
    "max_value_length": 65_536,  # HubSpot's limit for a string property value
    "shuffle_results": True,
    "account_time_zone": "UTC",  # the portal's time zone: the DAILY limit resets at its midnight
    "daily_headers": True,  # False: as for OAuth apps, no X-HubSpot-RateLimit-Daily(-Remaining) headers
}
TEN_SECONDLY_DEFAULT = 10.0

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,63}$")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
PROPERTY_TYPES = {
    "string": {"text", "textarea", "phonenumber", "file", "html"},
    "number": {"number"},
    "date": {"date"},
    "datetime": {"date"},
    "enumeration": {"select", "radio", "checkbox", "booleancheckbox"},
    "bool": {"booleancheckbox"},
}
READ_ONLY = frozenset({"hs_object_id", "createdate", "lastmodifieddate"})
SEARCH_MAX = 200
SEARCH_PATH = f"{CONTACTS_PATH}/search"
GDPR_PATH = f"{CONTACTS_PATH}/gdpr-delete"
READ_SCHEMAS, WRITE_SCHEMAS = "crm.schemas.contacts.read", "crm.schemas.contacts.write"
READ_OBJECTS, WRITE_OBJECTS = "crm.objects.contacts.read", "crm.objects.contacts.write"


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _property(
    name: str,
    label: str,
    type_: str = "string",
    field_type: str = "text",
    *,
    group: str = "contactinformation",
    unique: bool = False,
    read_only: bool = False,
    options: tuple[str, ...] = (),
    hubspot_defined: bool = True,
) -> dict:
    """A property definition as ``GET /crm/v3/properties/contacts`` shows it."""
    stamp = "2019-08-06T02:41:52.000Z"
    return {
        "name": name,
        "label": label,
        "type": type_,
        "fieldType": field_type,
        "description": "",
        "groupName": group,
        "options": [
            {"label": o, "value": o, "displayOrder": i, "hidden": False} for i, o in enumerate(options)
        ],
        "displayOrder": -1,
        "calculated": False,
        "externalOptions": False,
        "hasUniqueValue": unique,
        "hidden": False,
        "hubspotDefined": hubspot_defined,
        "modificationMetadata": {
            "archivable": not hubspot_defined,
            "readOnlyDefinition": hubspot_defined,
            "readOnlyValue": read_only,
        },
        "formField": not read_only,
        "createdAt": stamp,
        "updatedAt": stamp,
        "archived": False,
    }


def default_properties() -> dict[str, dict]:
    """The standard contact properties of a new portal (a representative subset)."""
    props = [
        _property("email", "Email"),
        _property("firstname", "First Name"),
        _property("lastname", "Last Name"),
        _property("jobtitle", "Job Title"),
        _property("company", "Company Name"),
        _property("city", "City"),
        _property("state", "State/Region"),
        _property("country", "Country/Region"),
        _property("zip", "Postal Code"),
        _property("address", "Street Address"),
        _property("phone", "Phone Number", field_type="phonenumber"),
        _property("mobilephone", "Mobile Phone Number", field_type="phonenumber"),
        _property("website", "Website URL"),
        _property("industry", "Industry"),
        _property("annualrevenue", "Annual Revenue"),
        _property("hs_linkedin_url", "LinkedIn URL", group="social_media_information"),
        _property(
            "numemployees",
            "Number of Employees",
            "enumeration",
            "select",
            options=("1-5", "5-25", "25-50", "50-100", "100-500", "500-1000", "1000+"),
        ),
        _property(
            "lifecyclestage",
            "Lifecycle Stage",
            "enumeration",
            "radio",
            options=(
                "subscriber",
                "lead",
                "marketingqualifiedlead",
                "salesqualifiedlead",
                "opportunity",
                "customer",
                "evangelist",
                "other",
            ),
        ),
        _property(
            "hs_lead_status",
            "Lead Status",
            "enumeration",
            "radio",
            options=("NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT"),
        ),
        _property("hs_object_id", "Record ID", "number", "number", read_only=True),
        _property("createdate", "Create Date", "datetime", "date", read_only=True),
        _property("lastmodifieddate", "Last Modified Date", "datetime", "date", read_only=True),
    ]
    return {p["name"]: p for p in props}


class RollingWindow:
    """Accepted-request timestamps per token: HubSpot's burst limit is a rolling window, not a fixed one."""

    def __init__(self) -> None:
        self._log: dict[str, deque[float]] = {}
        self.peak = 0

    def check(self, token: str, limit: int, seconds: float, now: float) -> tuple[bool, int, float]:
        """(allowed, used in the window, seconds until a slot frees); does not record the request."""
        log = self._log.setdefault(token, deque())
        while log and log[0] <= now - seconds:
            log.popleft()
        if len(log) >= limit:
            return False, len(log), max(0.0, log[0] + seconds - now)
        return True, len(log), 0.0

    def record(self, token: str, now: float) -> int:
        """Count an accepted request; returns the window's new usage."""
        log = self._log.setdefault(token, deque())
        log.append(now)
        self.peak = max(self.peak, len(log))
        return len(log)

    def reset(self) -> None:
        """Forget every window."""
        self._log.clear()
        self.peak = 0


def fail_kind(seed: int, vendor: str, key: str, rate: float, transient_share: float) -> str | None:
    """``"transient"``, ``"permanent"`` or None for a record id: a seeded hash, stable across runs."""
    if rate <= 0:
        return None
    digest = hashlib.blake2b(f"{seed}:{vendor}:crm-fail:{key}".encode(), digest_size=16).digest()
    draw = int.from_bytes(digest[:8], "big") / 2**64
    if draw >= rate:
        return None
    share = int.from_bytes(digest[8:], "big") / 2**64
    return "transient" if share < transient_share else "permanent"


SEARCH_OPERATORS = frozenset({"EQ", "NEQ", "IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY"})


def _matches(contact: Mapping[str, Any], f: Mapping[str, Any]) -> bool:
    """One search filter against a contact (string properties compare case-insensitively)."""
    value = contact["properties"].get(str(f.get("propertyName")))
    have = None if value in (None, "") else str(value).lower()
    op = f["operator"]
    if op == "HAS_PROPERTY":
        return have is not None
    if op == "NOT_HAS_PROPERTY":
        return have is None
    if op == "IN":
        return have in {str(v).lower() for v in f.get("values") or []}
    equal = have == str(f.get("value", "")).lower()
    return equal if op == "EQ" else not equal


def _error(status: int, category: str, message: str, **extra: Any) -> Response:
    body = {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category}
    body.update(extra)
    return Response.json(status, body)


class BatchRejected(Exception):
    """A whole batch fails (400/409): nothing in it is written."""

    def __init__(self, response: Response):
        super().__init__(response.status)
        self.response = response


class HubSpotApp(VendorApp):
    """The HubSpot CRM emulator (contacts only)."""

    name = "hubspot"
    prefixes = ("/crm/v3/",)

    def __init__(self, ctx: SandboxContext):
        super().__init__(ctx)
        self._lock = threading.RLock()
        self.window = RollingWindow()
        self.search_window = RollingWindow()
        self._overrides: dict[str, Any] = {}
        # (verb, path, handler, scope the token needs)
        self._routes: list[tuple[str, re.Pattern, Callable[[Request, re.Match], Response], str]] = [
            ("GET", re.compile(rf"^{PROPERTIES_PATH}/?$"), self._list_properties, READ_SCHEMAS),
            ("POST", re.compile(rf"^{PROPERTIES_PATH}/?$"), self._create_property, WRITE_SCHEMAS),
            ("GET", re.compile(rf"^{PROPERTIES_PATH}/([^/]+)$"), self._get_property, READ_SCHEMAS),
            ("DELETE", re.compile(rf"^{PROPERTIES_PATH}/([^/]+)$"), self._delete_property, WRITE_SCHEMAS),
            ("POST", re.compile(rf"^{CONTACTS_PATH}/batch/upsert$"), self._batch_upsert, WRITE_OBJECTS),
            ("POST", re.compile(rf"^{GDPR_PATH}$"), self._gdpr_delete, WRITE_OBJECTS),
            ("POST", re.compile(rf"^{SEARCH_PATH}$"), self._search, READ_OBJECTS),
            ("POST", re.compile(rf"^{CONTACTS_PATH}/batch/create$"), self._batch_create, WRITE_OBJECTS),
            ("POST", re.compile(rf"^{CONTACTS_PATH}/batch/update$"), self._batch_update, WRITE_OBJECTS),
            ("POST", re.compile(rf"^{CONTACTS_PATH}/batch/read$"), self._batch_read, READ_OBJECTS),
            ("POST", re.compile(rf"^{CONTACTS_PATH}/?$"), self._create_one, WRITE_OBJECTS),
            ("GET", re.compile(rf"^{CONTACTS_PATH}/?$"), self._list_contacts, READ_OBJECTS),
            ("GET", re.compile(rf"^{CONTACTS_PATH}/([^/]+)$"), self._get_contact, READ_OBJECTS),
        ]
        self.reset()

    # -- settings, state, stats -----------------------------------------------------------

    def settings(self) -> dict:
        """Effective emulator settings: defaults, a ``vendors.hubspot`` config section, live overrides."""
        section = (self.ctx.config.get("vendors") or {}).get(self.name) or {}
        return {**DEFAULT_SETTINGS, **section, **self._overrides}

    def configure(self, patch: Mapping[str, Any]) -> dict:
        """Change emulator settings (unknown names raise ValueError); returns the effective settings."""
        unknown = set(patch) - set(DEFAULT_SETTINGS)
        if unknown:
            raise ValueError(f"unknown hubspot settings: {sorted(unknown)}")
        if "crm_fail_mode" in patch and patch["crm_fail_mode"] not in ("record", "batch"):
            raise ValueError("crm_fail_mode must be 'record' or 'batch'")
        with self._lock:
            self._overrides.update(copy.deepcopy(dict(patch)))
        return self.settings()

    def reset(self) -> None:
        """Empty the CRM (contacts, custom properties), counters, windows and settings overrides."""
        with self._lock:
            self.properties = default_properties()
            self.contacts: dict[str, dict] = {}
            self.unique_index: dict[str, dict[str, str]] = {"email": {}}
            self._next_id = 1001
            self.counters: Counter = Counter()
            self.transient_seen: Counter = Counter()
            self.rate_limited: Counter = Counter()
            self.daily_used: dict[tuple[str, str], int] = {}  # (token, account day) -> requests
            self.blocklist: set[str] = set()  # emails a GDPR delete blocklisted
            self.window.reset()
            self.search_window.reset()
            self._overrides = {}
            self._rng = random.Random(f"hubspot:{self.ctx.config.get('seed')}")

    def stats(self) -> dict:
        """CRM contents summary and counters (the full contacts are at ``/hubspot/__sandbox/contacts``)."""
        with self._lock:
            emails = Counter(
                c["properties"]["email"] for c in self.contacts.values() if c["properties"].get("email")
            )
            return {
                "contacts_total": len(self.contacts),
                "contacts_created": self.counters["created"],
                "contacts_updated": self.counters["updated"],
                "records_failed": self.counters["failed"],
                "records_failed_injected": self.counters["failed_injected"],
                "batches_rejected": self.counters["batches_rejected"],
                "properties_created": self.counters["properties_created"],
                "duplicate_emails": sum(1 for n in emails.values() if n > 1),
                "rate_limited": dict(self.rate_limited),
                "gdpr_deleted": self.counters["gdpr_deleted"],
                "gdpr_blocklisted": len(self.blocklist),
                "peak_ten_secondly": self.window.peak,
            }

    def contacts_snapshot(self) -> list[dict]:
        """Every contact as the CRM holds it (id, properties, timestamps), by id."""
        with self._lock:
            return [copy.deepcopy(self.contacts[k]) for k in sorted(self.contacts, key=int)]

    # -- plumbing -------------------------------------------------------------------------

    def endpoint_of(self, path: str) -> str:
        """Stats label: the path without ``/crm/v3/``, ids folded (``objects/contacts/batch/upsert``)."""
        label = path.removeprefix(API + "/")
        return re.sub(r"^(objects/contacts|properties/contacts)/(?!batch/)[^/]+$", r"\1/{id}", label)

    def fault_response(self, kind: str, req: Request) -> Response:
        """Injected faults in HubSpot's shapes: a spurious 429 is a ten-secondly one."""
        if kind == "429":
            return self._too_many("TEN_SECONDLY_ROLLING", 1.0, {})
        return super().fault_response(kind, req)

    def _token(self, req: Request) -> str | None:
        auth = req.header("Authorization") or ""
        return auth[7:].strip() if auth.lower().startswith("bearer ") else None

    def _too_many(self, policy: str, retry_after: float, headers: dict[str, str]) -> Response:
        if policy == "SECONDLY":
            body = {
                "status": "error",
                "message": "You have reached your secondly limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": str(uuid.uuid4()),
                "policyName": "SECONDLY",
            }
        elif policy == "DAILY":
            body = {
                "status": "error",
                "message": "You have reached your daily limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": str(uuid.uuid4()),
                "policyName": "DAILY",
                "requestId": str(uuid.uuid4()),
            }
        else:
            body = {
                "status": "error",
                "message": "You have reached your ten_secondly_rolling limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": str(uuid.uuid4()),
                "policyName": "TEN_SECONDLY_ROLLING",
                "groupName": "publicapi:private_app-api-calls-ten-secondly:1512050:26892217",
            }
            if self.ctx.config.get("send_retry_after", True):
                headers = {**headers, "Retry-After": str(max(1, int(retry_after + 0.999)))}
        return Response.json(429, body, headers)

    def _admit(self, token: str, search: bool = False) -> tuple[Response | None, dict[str, str]]:
        """Apply the search, rolling and daily windows; (429 or None, rate headers)."""
        config_limits = self.ctx.config["limits"].get(self.name) or {}
        limits = config_limits.get("api") or {}
        windows = self.ctx.config.get("windows") or {}
        burst = limits.get("ten_secondly")
        seconds = float(windows.get("ten_secondly") or TEN_SECONDLY_DEFAULT)
        daily = limits.get("day")
        now = time.time()
        headers: dict[str, str] = {}
        with self._lock:
            per_second = (config_limits.get("search") or {}).get("second")
            if search and per_second:
                allowed, _, _ = self.search_window.check(token, int(per_second), 1.0, now)
                if not allowed:
                    self.rate_limited["SECONDLY"] += 1
                    return self._too_many("SECONDLY", 1.0, headers), headers
            used = 0
            if burst:
                allowed, used, wait = self.window.check(token, int(burst), seconds, now)
                headers.update(
                    {
                        "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(seconds * 1000)),
                        "X-HubSpot-RateLimit-Max": str(int(burst)),
                        "X-HubSpot-RateLimit-Remaining": str(max(0, int(burst) - used)),
                    }
                )
                if not allowed:
                    self.rate_limited["TEN_SECONDLY_ROLLING"] += 1
                    return self._too_many("TEN_SECONDLY_ROLLING", wait, headers), headers
            if daily:
                day, reset_at = self._account_day(now, float(windows.get("day", 86_400) or 86_400))
                day_used = self.daily_used.get((token, day), 0)
                daily_headers = bool(self.settings()["daily_headers"])
                if daily_headers:
                    headers["X-HubSpot-RateLimit-Daily"] = str(int(daily))
                    headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(0, int(daily) - day_used))
                if day_used >= int(daily):
                    self.rate_limited["DAILY"] += 1
                    return self._too_many("DAILY", reset_at - now, headers), headers
                self.daily_used = {k: v for k, v in self.daily_used.items() if k[1] == day}
                self.daily_used[(token, day)] = day_used + 1
                if daily_headers:
                    headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(0, int(daily) - day_used - 1))
            if burst:
                used = self.window.record(token, now)
                headers["X-HubSpot-RateLimit-Remaining"] = str(max(0, int(burst) - used))
            if search and per_second:
                self.search_window.record(token, now)
        return None, headers

    def _account_day(self, now: float, day_seconds: float) -> tuple[str, float]:
        """(the account's current day, when it ends): midnight in the account's time zone."""
        if day_seconds != 86_400:  # a shortened test window: fixed, epoch-aligned
            start = math.floor(now / day_seconds) * day_seconds
            return f"w{start:.0f}", start + day_seconds
        zone = ZoneInfo(str(self.settings()["account_time_zone"] or "UTC"))
        local = datetime.fromtimestamp(now, zone)
        tomorrow = (local + timedelta(days=1)).date()
        midnight = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=zone).timestamp()
        return local.date().isoformat(), midnight

    def handle(self, req: Request) -> Response:
        """Admin read-back, then auth, rate windows and the endpoint."""
        path = "/" + req.path.strip("/")
        if path.startswith(ADMIN.rstrip("/")):
            return self._admin(req, path[len(ADMIN) :])
        handler, match, scope = self._find_route(req.method, path)
        if handler is None or match is None:
            return _error(404, "OBJECT_NOT_FOUND", f"No route for {req.method} {path}")
        keys = self.ctx.config["keys"].get(self.name, {})
        token = self._token(req)
        if token and token in set(keys.get("expired") or []):
            return _error(
                401,
                "EXPIRED_AUTHENTICATION",
                "The OAuth token used to make this call expired. Refresh the token and try again.",
            )
        if not token or token not in set(keys.get("valid") or []):
            return _error(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 authentication "
                "and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            )
        granted = (keys.get("scopes") or {}).get(token)
        if granted is not None and scope not in granted:
            return _error(
                403,
                "MISSING_SCOPES",
                "This app hasn't been granted all required scopes to make this call. Read more about "
                "required scopes here: https://developers.hubspot.com/scopes.",
                errors=[{"message": "One or more of the following scopes are required.",
                         "context": {"requiredGranularScopes": [scope]}}],
                links={"scopes": "https://developers.hubspot.com/scopes"},
            )
        refused, headers = self._admit(token, search=path == SEARCH_PATH)
        if refused is not None:
            return refused
        try:
            resp = handler(req, match)
        except BadRequestBody as exc:
            resp = _error(400, "VALIDATION_ERROR", f"Invalid input JSON on line 1: {exc}")
        except BatchRejected as exc:
            with self._lock:
                self.counters["batches_rejected"] += 1
            resp = exc.response
        resp.headers = {**headers, **resp.headers}
        return resp

    def _find_route(self, method: str, path: str) -> tuple[Callable | None, re.Match | None, str]:
        for verb, pattern, handler, scope in self._routes:
            match = pattern.match(path)
            if match and verb == method:
                return handler, match, scope
        return None, None, ""

    def _admin(self, req: Request, name: str) -> Response:
        name = name.strip("/")
        try:
            if name == "contacts" and req.method == "GET":
                contacts = self.contacts_snapshot()
                return Response.json(200, {"total": len(contacts), "results": contacts})
            if name == "settings":
                if req.method == "POST":
                    return Response.json(200, self.configure(req.json() or {}))
                return Response.json(200, self.settings())
        except (ValueError, BadRequestBody) as exc:
            return Response.json(400, {"error": str(exc)})
        return Response.json(404, {"error": f"unknown hubspot admin endpoint {req.method} {name}"})

    # -- properties -----------------------------------------------------------------------

    def _list_properties(self, req: Request, match: re.Match) -> Response:
        with self._lock:
            results = [copy.deepcopy(p) for p in self.properties.values() if not p["archived"]]
        return Response.json(200, {"results": results})

    def _get_property(self, req: Request, match: re.Match) -> Response:
        with self._lock:
            prop = self.properties.get(match.group(1))
        if prop is None or prop["archived"]:
            return _error(404, "OBJECT_NOT_FOUND", f"Unable to find property {match.group(1)}")
        return Response.json(200, copy.deepcopy(prop))

    def _create_property(self, req: Request, match: re.Match) -> Response:
        body = req.json()
        if not isinstance(body, dict):
            return _error(400, "VALIDATION_ERROR", "Invalid input JSON: expected an object")
        name, type_, field_type = body.get("name"), body.get("type"), body.get("fieldType")
        problems = []
        if not isinstance(name, str) or not NAME_RE.match(name):
            problems.append("name must be lower-case letters, digits and underscores, starting with a letter")
        if type_ not in PROPERTY_TYPES:
            problems.append(f"type must be one of {sorted(PROPERTY_TYPES)}")
        elif field_type not in PROPERTY_TYPES[type_]:
            problems.append(f"fieldType {field_type!r} is not valid for type {type_!r}")
        if not body.get("label") or not body.get("groupName"):
            problems.append("label and groupName are required")
        if body.get("hasUniqueValue") and type_ not in ("string", "number"):
            problems.append("hasUniqueValue is only allowed for string and number properties")
        if problems:
            return _error(400, "VALIDATION_ERROR", "; ".join(problems))
        with self._lock:
            existing = self.properties.get(name)
            if existing is not None and not existing["archived"]:
                return _error(409, "OBJECT_ALREADY_EXISTS", f"A property named '{name}' already exists.")
            prop = _property(
                name,
                str(body["label"]),
                type_,
                field_type,
                group=str(body["groupName"]),
                unique=bool(body.get("hasUniqueValue")),
                options=tuple(str(o.get("value")) for o in body.get("options") or [] if isinstance(o, dict)),
                hubspot_defined=False,
            )
            prop["description"] = str(body.get("description") or "")
            prop["createdAt"] = prop["updatedAt"] = _now_iso()
            self.properties[name] = prop
            if prop["hasUniqueValue"]:
                self.unique_index.setdefault(name, {})
            self.counters["properties_created"] += 1
        return Response.json(201, copy.deepcopy(prop))

    def _delete_property(self, req: Request, match: re.Match) -> Response:
        with self._lock:
            prop = self.properties.get(match.group(1))
            if prop is None or prop["archived"]:
                return _error(404, "OBJECT_NOT_FOUND", f"Unable to find property {match.group(1)}")
            if prop["hubspotDefined"]:
                return _error(
                    400, "VALIDATION_ERROR", f"Can't archive HubSpot-defined property {prop['name']}"
                )
            prop["archived"] = True
            self.unique_index.pop(prop["name"], None)
        return Response(204)

    # -- contacts: validation -------------------------------------------------------------

    def _unique_props(self) -> list[str]:
        return [
            "email",
            *(n for n, p in self.properties.items() if p["hasUniqueValue"] and not p["archived"]),
        ]

    def _check_structure(self, inputs: Any) -> list[dict]:
        """Batch-level checks: a list of 1..100 objects, known writable properties (else 400 for all)."""
        if not isinstance(inputs, list) or not inputs:
            raise BatchRejected(_error(400, "VALIDATION_ERROR", "inputs must be a non-empty array"))
        if len(inputs) > BATCH_MAX:
            raise BatchRejected(
                _error(
                    400,
                    "VALIDATION_ERROR",
                    f"Batch input size {len(inputs)} exceeds the maximum of {BATCH_MAX} inputs",
                )
            )
        bad: list[dict] = []
        for item in inputs:
            if not isinstance(item, dict):
                raise BatchRejected(_error(400, "VALIDATION_ERROR", "every input must be an object"))
            props = item.get("properties") or {}
            if not isinstance(props, dict):
                raise BatchRejected(_error(400, "VALIDATION_ERROR", "properties must be an object"))
            for name in props:
                prop = self.properties.get(name)
                if prop is None or prop["archived"]:
                    bad.append(
                        {
                            "isValid": False,
                            "message": f'Property "{name}" does not exist',
                            "error": "PROPERTY_DOESNT_EXIST",
                            "name": name,
                        }
                    )
                elif prop["modificationMetadata"]["readOnlyValue"]:
                    bad.append(
                        {
                            "isValid": False,
                            "message": f'"{name}" is a read only property; its value cannot be set.',
                            "error": "READ_ONLY_VALUE",
                            "name": name,
                        }
                    )
        if bad:
            unique = {b["name"]: b for b in bad}
            raise BatchRejected(
                _error(
                    400,
                    "VALIDATION_ERROR",
                    f"Property values were not valid: {list(unique.values())}",
                    errors=[
                        {"message": b["message"], "code": b["error"], "in": b["name"]}
                        for b in unique.values()
                    ],
                )
            )
        return inputs

    def _value_errors(self, props: Mapping[str, Any]) -> list[dict]:
        """Per-value validation: type, options, email syntax, length."""
        errors = []
        max_len = int(self.settings()["max_value_length"])
        for name, value in props.items():
            prop = self.properties[name]
            if value is None or value == "":
                continue
            text = str(value)
            if len(text) > max_len:
                errors.append(
                    {
                        "code": "INVALID_LENGTH",
                        "in": name,
                        "message": f"Property {name} value has length {len(text)}, more than the maximum {max_len}",
                    }
                )
            elif name == "email" and not EMAIL_RE.match(text):
                errors.append(
                    {"code": "INVALID_EMAIL", "in": name, "message": f"Email address {text} is invalid"}
                )
            elif name == "email" and text.lower() in self.blocklist:
                errors.append(
                    {"code": "BLOCKLISTED_EMAIL", "in": name,
                     "message": f"Email address {text} was blocklisted by a GDPR delete"}
                )
            elif prop["type"] == "number":
                try:
                    float(text)
                except ValueError:
                    errors.append(
                        {"code": "INVALID_DECIMAL", "in": name, "message": f"{text!r} is not a valid number"}
                    )
            elif prop["type"] == "enumeration":
                allowed = {o["value"] for o in prop["options"]}
                values = text.split(";") if prop["fieldType"] == "checkbox" else [text]
                if any(v not in allowed for v in values):
                    errors.append(
                        {
                            "code": "INVALID_OPTION",
                            "in": name,
                            "message": f"{text} was not one of the allowed options: {sorted(allowed)}",
                        }
                    )
            elif prop["type"] == "bool" and text.lower() not in ("true", "false"):
                errors.append(
                    {"code": "INVALID_BOOLEAN", "in": name, "message": f"{text!r} is not a boolean"}
                )
        return errors

    def _injected(self, key: str) -> dict | None:
        """The injected failure for a record (by its id value), if it is one of the failing share."""
        s = self.settings()
        kind = fail_kind(
            int(self.ctx.config.get("seed") or 0),
            self.name,
            key,
            float(s["crm_fail_rate"]),
            float(s["crm_transient_share"]),
        )
        if kind is None:
            return None
        if kind == "transient":
            seen = self.transient_seen[key]
            if seen >= int(s["crm_transient_failures"]):
                return None
            self.transient_seen[key] += 1
            return {
                "category": "LOCKED",
                "message": "The object is locked by another operation; try again later",
                "errors": [{"code": "LOCKED", "message": "object locked"}],
                "injected": True,
            }
        return {
            "category": "VALIDATION_ERROR",
            "message": "Property values were not valid: a portal validation rule rejected this record",
            "errors": [{"code": "FAILED_VALIDATION", "message": "rejected by a validation rule (sandbox)"}],
            "injected": True,
        }

    def _normalise(self, props: Mapping[str, Any]) -> dict[str, str]:
        out = {}
        for name, value in props.items():
            if value is None:
                continue
            text = str(value).lower() if isinstance(value, bool) else str(value)
            out[name] = text.strip().lower() if name == "email" else text
        return out

    def _conflict(self, contact_id: str | None, props: Mapping[str, str]) -> dict | None:
        """A unique value (email or a unique property) that another contact already holds."""
        for name in self._unique_props():
            value = props.get(name)
            if not value:
                continue
            owner = self.unique_index.get(name, {}).get(value)
            if owner is not None and owner != contact_id:
                message = (
                    f"Contact already exists. Existing ID: {owner}"
                    if name == "email"
                    else f"A contact with the unique value {value!r} for property {name} already exists. "
                    f"Existing ID: {owner}"
                )
                return {
                    "category": "CONFLICT",
                    "message": message,
                    "errors": [
                        {
                            "code": "DUPLICATE_VALUE" if name != "email" else "CONTACT_EXISTS",
                            "in": name,
                            "message": message,
                        }
                    ],
                }
        return None

    # -- contacts: writes -----------------------------------------------------------------

    def _write(self, contact_id: str | None, props: Mapping[str, str]) -> tuple[dict, bool]:
        """Create or update a contact (caller holds the lock and has checked conflicts)."""
        now = _now_iso()
        created = contact_id is None
        if created:
            contact_id = str(self._next_id)
            self._next_id += 1
            contact = {
                "id": contact_id,
                "properties": {"hs_object_id": contact_id, "createdate": now},
                "createdAt": now,
                "updatedAt": now,
                "archived": False,
            }
            self.contacts[contact_id] = contact
            self.counters["created"] += 1
        else:
            contact = self.contacts[contact_id]
            self.counters["updated"] += 1
        for name in self._unique_props():
            old = contact["properties"].get(name)
            new = props.get(name)
            if new is not None and new != old:
                if old:
                    self.unique_index[name].pop(old, None)
                if new:
                    self.unique_index.setdefault(name, {})[new] = contact_id
        contact["properties"].update({k: v for k, v in props.items()})
        contact["properties"]["lastmodifieddate"] = now
        contact["updatedAt"] = now
        return contact, created

    def _result(self, contact: dict, sent: Mapping[str, Any], trace: Any, new: bool | None) -> dict:
        props = {k: contact["properties"].get(k) for k in sent}
        for k in ("hs_object_id", "createdate", "lastmodifieddate"):
            props[k] = contact["properties"].get(k)
        out = {
            "id": contact["id"],
            "properties": props,
            "createdAt": contact["createdAt"],
            "updatedAt": contact["updatedAt"],
            "archived": False,
        }
        if new is not None:
            out["new"] = new
        if trace is not None:
            out["objectWriteTraceId"] = trace
        return out

    @staticmethod
    def _record_error(item: Mapping, failure: Mapping, key: str | None) -> dict:
        trace = item.get("objectWriteTraceId")
        context = {"objectWriteTraceId": [str(trace)]} if trace is not None else {"id": [key]}
        return {
            "status": "error",
            "category": failure["category"],
            "message": failure["message"],
            "context": context,
            "errors": failure.get("errors", []),
            "links": {},
        }

    def _finish(self, results: list[dict], errors: list[dict], ok_status: int, started: str) -> Response:
        if self.settings()["shuffle_results"]:
            self._rng.shuffle(results)
        body = {
            "status": "COMPLETE",
            "results": results,
            "requestedAt": started,
            "startedAt": started,
            "completedAt": _now_iso(),
            "links": {},
        }
        if errors:
            body["numErrors"] = len(errors)
            body["errors"] = errors
            self.counters["failed"] += len(errors)
            return Response.json(207, body)
        return Response.json(ok_status, body)

    def _apply(
        self,
        plans: list[tuple[Mapping, str | None, str | None, dict[str, str]]],
        ok_status: int,
        created_flag: bool,
    ) -> Response:
        """Validate every planned write, then apply them (record mode) or none of them (batch mode).

        A plan is (input, existing contact id or None, id value, normalised properties to write).
        """
        started = _now_iso()
        failures: dict[int, dict] = {}
        for i, (_item, contact_id, key, props) in enumerate(plans):
            errors = self._value_errors(props)
            if errors:
                failures[i] = {
                    "category": "VALIDATION_ERROR",
                    "message": "Property values were not valid: " + "; ".join(e["message"] for e in errors),
                    "errors": errors,
                }
                continue
            conflict = self._conflict(contact_id, props)
            if conflict:
                failures[i] = conflict
                continue
            injected = self._injected(key or "")
            if injected:
                failures[i] = injected
        if failures and self.settings()["crm_fail_mode"] == "batch":
            first = failures[min(failures)]
            self.counters["failed_injected"] += sum(1 for f in failures.values() if f.get("injected"))
            raise BatchRejected(
                _error(400, "VALIDATION_ERROR", first["message"], errors=first.get("errors", []))
            )
        results, errors = [], []
        for i, (item, contact_id, key, props) in enumerate(plans):
            if i in failures:
                self.counters["failed_injected"] += bool(failures[i].get("injected"))
                errors.append(self._record_error(item, failures[i], key))
                continue
            # A write earlier in this batch may have claimed a unique value since validation.
            conflict = self._conflict(contact_id, props)
            if conflict:
                errors.append(self._record_error(item, conflict, key))
                continue
            contact, created = self._write(contact_id, props)
            results.append(
                self._result(
                    contact, props, item.get("objectWriteTraceId"), created if created_flag else None
                )
            )
        return self._finish(results, errors, ok_status, started)

    def _gdpr_delete(self, req: Request, match: re.Match) -> Response:
        """GDPR delete by contact id or email; 204. An email no contact holds is blocklisted, still 204."""
        body = req.json() or {}
        if not isinstance(body, dict) or not body.get("objectId"):
            return _error(400, "VALIDATION_ERROR", "objectId is required")
        key, id_prop = str(body["objectId"]), body.get("idProperty")
        if id_prop not in (None, "", "email"):
            return _error(400, "VALIDATION_ERROR", f"idProperty must be email, not {id_prop}")
        with self._lock:
            if id_prop == "email":
                contact_id = self.unique_index["email"].get(key.strip().lower())
                if contact_id is None:
                    self.blocklist.add(key.strip().lower())
                    return Response(204)
            else:
                contact_id = key
            contact = self.contacts.pop(contact_id, None)
            if contact is None:
                return _error(404, "OBJECT_NOT_FOUND", f"Object not found. objectId: {key}")
            for name, index in self.unique_index.items():
                value = contact["properties"].get(name)
                if value and index.get(value) == contact_id:
                    index.pop(value)
            self.counters["gdpr_deleted"] += 1
        return Response(204)

    def _search(self, req: Request, match: re.Match) -> Response:
        """Contacts search: filter groups OR-ed, their filters AND-ed; ``limit`` <= 200, ``after`` cursor."""
        body = req.json()
        if not isinstance(body, dict):
            return _error(400, "VALIDATION_ERROR", "Invalid input JSON: expected an object")
        limit = body.get("limit", 10)
        if not isinstance(limit, int) or not 1 <= limit <= SEARCH_MAX:
            return _error(400, "VALIDATION_ERROR", f"limit must be between 1 and {SEARCH_MAX}")
        groups = body.get("filterGroups") or []
        if not isinstance(groups, list) or len(groups) > 5:
            return _error(400, "VALIDATION_ERROR", "at most 5 filterGroups")
        tests = []
        for group in groups:
            filters = group.get("filters") if isinstance(group, dict) else None
            if not isinstance(filters, list) or not filters:
                return _error(400, "VALIDATION_ERROR", "every filterGroup needs filters")
            for f in filters:
                if not isinstance(f, dict) or f.get("operator") not in SEARCH_OPERATORS:
                    return _error(400, "VALIDATION_ERROR", f"unsupported filter {f!r}")
            tests.append(filters)
        after = int(str(body.get("after") or "0") or 0)
        wanted = [p for p in body.get("properties") or [] if isinstance(p, str)]
        with self._lock:
            matching = sorted(
                int(cid) for cid, c in self.contacts.items()
                if not tests or any(all(_matches(c, f) for f in fs) for fs in tests)
            )
            hits = [i for i in matching if i > after]
            total = len(matching)
            page = hits[:limit]
            results = [self._result(self.contacts[str(i)], wanted or ["email"], None, None) for i in page]
        out: dict[str, Any] = {"total": total, "results": results}
        if len(hits) > limit:
            out["paging"] = {"next": {"after": str(page[-1])}}
        return Response.json(200, out)

    def _batch_upsert(self, req: Request, match: re.Match) -> Response:
        body = req.json()
        with self._lock:
            inputs = self._check_structure(body.get("inputs") if isinstance(body, dict) else None)
            unique = set(self._unique_props())
            keys = []
            for item in inputs:
                id_prop, id_value = item.get("idProperty"), item.get("id")
                if not id_prop or id_value in (None, ""):
                    raise BatchRejected(
                        _error(400, "VALIDATION_ERROR", "every upsert input needs idProperty and id")
                    )
                if id_prop not in unique:
                    raise BatchRejected(
                        _error(
                            400,
                            "VALIDATION_ERROR",
                            f"idProperty {id_prop} is not a unique value property of contacts",
                        )
                    )
                keys.append((id_prop, str(id_value).strip().lower() if id_prop == "email" else str(id_value)))
            dupes = sorted({k[1] for k in keys if keys.count(k) > 1})
            if dupes:
                raise BatchRejected(
                    _error(400, "VALIDATION_ERROR", f"Duplicate IDs found in batch input: {dupes}")
                )
            plans = []
            for item, (id_prop, key) in zip(inputs, keys, strict=True):
                props = self._normalise(item.get("properties") or {})
                props[id_prop] = key
                plans.append((item, self.unique_index.get(id_prop, {}).get(key), key, props))
            return self._apply(plans, 200, created_flag=True)

    def _batch_create(self, req: Request, match: re.Match) -> Response:
        body = req.json()
        with self._lock:
            inputs = self._check_structure(body.get("inputs") if isinstance(body, dict) else None)
            plans = []
            for item in inputs:
                props = self._normalise(item.get("properties") or {})
                email = props.get("email")
                owner = self.unique_index["email"].get(email) if email else None
                if owner is not None:
                    # The whole batch fails: a create-only path never silently skips the existing one.
                    raise BatchRejected(
                        _error(409, "CONFLICT", f"Contact already exists. Existing ID: {owner}")
                    )
                plans.append((item, None, email or item.get("objectWriteTraceId") or str(len(plans)), props))
            return self._apply(plans, 201, created_flag=False)

    def _batch_update(self, req: Request, match: re.Match) -> Response:
        body = req.json()
        with self._lock:
            inputs = self._check_structure(body.get("inputs") if isinstance(body, dict) else None)
            plans, missing = [], []
            for item in inputs:
                id_prop = item.get("idProperty") or "hs_object_id"
                key = str(item.get("id") or "")
                contact_id = (
                    key
                    if id_prop == "hs_object_id"
                    else self.unique_index.get(id_prop, {}).get(key.lower() if id_prop == "email" else key)
                )
                if contact_id not in self.contacts:
                    missing.append(
                        self._record_error(
                            item,
                            {"category": "OBJECT_NOT_FOUND", "message": f"Object not found. objectId: {key}"},
                            key,
                        )
                    )
                    continue
                plans.append((item, contact_id, key, self._normalise(item.get("properties") or {})))
            if not plans:
                return self._finish([], missing, 200, _now_iso())
            resp = self._apply(plans, 200, created_flag=False)
            if missing:
                payload = json.loads(resp.body)
                payload["errors"] = payload.get("errors", []) + missing
                payload["numErrors"] = len(payload["errors"])
                return Response.json(207, payload)
            return resp

    def _batch_read(self, req: Request, match: re.Match) -> Response:
        body = req.json()
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
            return _error(400, "VALIDATION_ERROR", "inputs must be an array")
        if len(body["inputs"]) > BATCH_MAX:
            return _error(400, "VALIDATION_ERROR", f"Batch input size exceeds the maximum of {BATCH_MAX}")
        id_prop = body.get("idProperty") or "hs_object_id"
        wanted = [p for p in body.get("properties") or [] if isinstance(p, str)]
        results, errors = [], []
        with self._lock:
            for item in body["inputs"]:
                key = str((item or {}).get("id") or "")
                contact_id = (
                    key
                    if id_prop == "hs_object_id"
                    else self.unique_index.get(id_prop, {}).get(key.lower() if id_prop == "email" else key)
                )
                contact = self.contacts.get(contact_id or "")
                if contact is None:
                    errors.append(
                        {
                            "status": "error",
                            "category": "OBJECT_NOT_FOUND",
                            "message": "Could not get some CONTACT objects, they may be deleted or not exist. "
                            "Check that ids are valid.",
                            "context": {"ids": [key]},
                        }
                    )
                    continue
                results.append(
                    self._result(contact, wanted or ["email", "firstname", "lastname"], None, None)
                )
        body = {"status": "COMPLETE", "results": results, "requestedAt": _now_iso(), "links": {}}
        if errors:
            body.update(numErrors=len(errors), errors=errors)
        return Response.json(207 if errors else 200, body)

    def _create_one(self, req: Request, match: re.Match) -> Response:
        body = req.json()
        props = self._normalise((body or {}).get("properties") or {}) if isinstance(body, dict) else {}
        with self._lock:
            try:
                self._check_structure([{"properties": props}])
            except BatchRejected as exc:
                return exc.response
            email = props.get("email")
            if email and email in self.unique_index["email"]:
                return _error(
                    409,
                    "CONFLICT",
                    f"Contact already exists. Existing ID: {self.unique_index['email'][email]}",
                )
            errors = self._value_errors(props)
            conflict = self._conflict(None, props)
            if errors or conflict:
                failure = conflict or {
                    "message": "Property values were not valid: " + "; ".join(e["message"] for e in errors),
                    "errors": errors,
                }
                status, category = (409, "CONFLICT") if conflict else (400, "VALIDATION_ERROR")
                return _error(status, category, failure["message"], errors=failure.get("errors", []))
            contact, _ = self._write(None, props)
            return Response.json(201, self._result(contact, props, None, None))

    def _get_contact(self, req: Request, match: re.Match) -> Response:
        id_prop = (req.query.get("idProperty") or ["hs_object_id"])[0]
        key = match.group(1)
        with self._lock:
            contact_id = (
                key
                if id_prop == "hs_object_id"
                else self.unique_index.get(id_prop, {}).get(key.lower() if id_prop == "email" else key)
            )
            contact = self.contacts.get(contact_id or "")
            if contact is None:
                return Response(404)
            wanted = (req.query.get("properties") or [""])[0].split(",")
            return Response.json(200, self._result(contact, [w for w in wanted if w], None, None))

    def _list_contacts(self, req: Request, match: re.Match) -> Response:
        limit = min(100, max(1, int((req.query.get("limit") or ["10"])[0] or 10)))
        after = int((req.query.get("after") or ["0"])[0] or 0)
        wanted = [w for w in (req.query.get("properties") or [""])[0].split(",") if w]
        with self._lock:
            ids = sorted(int(k) for k in self.contacts if int(k) > after)
            page = ids[:limit]
            results = [self._result(self.contacts[str(i)], wanted, None, None) for i in page]
        body: dict[str, Any] = {"results": results}
        if len(ids) > limit:
            body["paging"] = {"next": {"after": str(page[-1])}}
        return Response.json(200, body)


def create_app(ctx: SandboxContext) -> HubSpotApp:
    """Entry point the server's vendor registry calls."""
    return HubSpotApp(ctx)
