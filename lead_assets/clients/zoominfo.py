"""ZoomInfo clients: the legacy Enterprise API and the GTM API behind one interface.

Contract: shared/vendor-apis.md section 2 and its Corrections (items 1 and 2). Both clients offer
the same three things: `search_contacts` (one page of contact search, free), `enrich_contacts`
(up to 25 people by person id, paid) and, in the answer, an `EnrichOutcome` per person. The
collection code does not know which API it talks to; `make_zoominfo_client` picks one from
`ZOOMINFO_API` (`legacy`, the default, or `gtm`).

Legacy (`ZoomInfoClient`): `POST /authenticate` with `ZOOMINFO_USERNAME` + `ZOOMINFO_PASSWORD` (form
login), or PKI: `ZOOMINFO_USERNAME` + `ZOOMINFO_CLIENT_ID` + `ZOOMINFO_PRIVATE_KEY` (an RS256 client JWT,
signed with PyJWT, exchanged for the access JWT); `POST /search/contact` (`rpp`, `page` in the body),
`POST /enrich/contact`.

GTM (`ZoomInfoGtmClient`): an OAuth2 client-credentials token (`ZOOMINFO_GTM_CLIENT_ID` +
`ZOOMINFO_GTM_CLIENT_SECRET`, HTTP Basic, form `grant_type=client_credentials`, no `scope`: ZoomInfo
then grants every scope the DevPortal app holds) from `ZOOMINFO_GTM_TOKEN_URL` (default
`<ZOOMINFO_BASE_URL>/gtm/oauth/v1/token`, as ZoomInfo's own n8n node uses; vendor-apis.md 2.4 notes an
okta-login URL seen in third-party code, UNCONFIRMED). The authorization-code + PKCE flow is not
used: its refresh tokens are single-use and rotate, so two runs refreshing at once would lock each
other out. Data calls go to `/gtm/data/v1/contacts/{search,enrich}` in the JSON:API envelope
(`{"data": {"type": "ContactSearch", "attributes": {...}}}`, `Content-Type: application/vnd.api+json`),
paged by the query parameters `page[number]` / `page[size]` (<= 100); `meta.totalResults` counts
records (`meta.page.total` counts pages).

The access token (about 60 minutes) is cached and fetched again shortly before it expires; a 401
on an API call (expired or revoked early) fetches a new one once and repeats the call; a second
401 stops with `VendorAuthError` naming the settings. The 401 that triggered a refresh is logged
with outcome `reauth`, not `failed`: nothing was wrong with the vendor. Enrichment is `paid=True` on
the shared transport: an unreadable answer is never retried (ZoomInfo may have billed the records).

Enrich `matchStatus` (Corrections 1; the full list is ptaberg/zoominfo-node's typing): FULL_MATCH and
CONTACT_ONLY_MATCH carry the contact's data (a hit, billed); COMPANY_ONLY_MATCH carries company data
only (no person); OPT_OUT, NO_MATCH, INVALID_INPUT and NON_MATCH_BY_* are misses; SERVICE_ERROR is
transient (ask again) and LIMIT_EXCEEDED means the account's allowance is spent (stop). Neither of
the last two says anything about the person, so neither settles them.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests

from lead_assets.clients.errors import UnreadablePaidResponse, VendorAuthError, VendorCallFailed, VendorError
from lead_assets.clients.http import VendorHttp, VendorResponse
from lead_assets.clients.rate_limit import make_limiter

APIS = ("legacy", "gtm")
AUTH_PATH = "/authenticate"
SEARCH_PATH = "/search/contact"
ENRICH_PATH = "/enrich/contact"
GTM_TOKEN_PATH = "/gtm/oauth/v1/token"  # under the API host, as ZoomInfo's n8n node (SDK S31) calls it
GTM_DATA = "/gtm/data/v1"
GTM_SEARCH_PATH = f"{GTM_DATA}/contacts/search"
GTM_ENRICH_PATH = f"{GTM_DATA}/contacts/enrich"
JSON_API = "application/vnd.api+json"
RPP_MAX = 100  # rpp / page[size] above 100 is refused (GTM documents 100; legacy UNCONFIRMED)
ENRICH_MAX = 25  # ZoomInfo enriches at most 25 records per call
MAX_RESULTS = 10_000  # rows reachable through paging of one query (UNCONFIRMED)
# The Standard package's windows (docs S42): per second fixed, per hour and per day sliding.
DEFAULT_LIMITS: dict[str, dict[str, int | None]] = {"api": {"second": 25, "hour": 54_000, "day": 648_000}}
PASSWORD_SETTINGS = "ZOOMINFO_USERNAME / ZOOMINFO_PASSWORD"
PKI_SETTINGS = "ZOOMINFO_USERNAME / ZOOMINFO_CLIENT_ID / ZOOMINFO_PRIVATE_KEY"
GTM_SETTINGS = "ZOOMINFO_GTM_CLIENT_ID / ZOOMINFO_GTM_CLIENT_SECRET"
DEFAULT_OUTPUT_FIELDS: tuple[str, ...] = (
    "id",
    "firstName",
    "middleName",
    "lastName",
    "email",
    "phone",
    "mobilePhone",
    "directPhoneDoNotCall",
    "mobilePhoneDoNotCall",
    "city",
    "state",
    "country",
    "jobTitle",
    "managementLevel",
    "externalUrls",
    "companyId",
    "companyName",
    "companyWebsite",
    "companyEmployeeCount",
    "companyPrimaryIndustry",
    "companyIndustries",
    "contactAccuracyScore",
    "lastUpdatedDate",
)
CLIENT_JWT_AUD = "enterprise_api"
CLIENT_JWT_ISS = "api-client@zoominfo.com"

# -- matchStatus ---------------------------------------------------------------------------------
FULL_MATCH = "FULL_MATCH"
CONTACT_ONLY_MATCH = "CONTACT_ONLY_MATCH"
COMPANY_ONLY_MATCH = "COMPANY_ONLY_MATCH"
NO_MATCH = "NO_MATCH"
OPT_OUT = "OPT_OUT"
INVALID_INPUT = "INVALID_INPUT"
LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
SERVICE_ERROR = "SERVICE_ERROR"
NON_MATCH_PREFIX = "NON_MATCH_BY_"
MATCH_STATUSES = (
    FULL_MATCH,
    CONTACT_ONLY_MATCH,
    COMPANY_ONLY_MATCH,
    NO_MATCH,
    "NON_MATCH_BY_REQUIRED_FIELDS",
    "NON_MATCH_BY_LAST_UPDATED_DATE",
    "NON_MATCH_BY_VALID_DATE",
    "NON_MATCH_BY_CONTACT_ACCURACY_MIN",
    INVALID_INPUT,
    LIMIT_EXCEEDED,
    SERVICE_ERROR,
    OPT_OUT,
)
# The contact's data came back: a person we can store, and a record ZoomInfo bills (vendor-apis.md
# 2.5: the first enrichment of a record in 12 months costs a credit).
HIT_STATUSES = frozenset({FULL_MATCH, CONTACT_ONLY_MATCH})
# COMPANY_ONLY_MATCH returns company data for a contact enrichment; neither vendor-apis.md nor the
# typings say whether ZoomInfo bills that company record, so it is counted as not billed (the
# credit forecast errs low by at most the COMPANY_ONLY share, about 1 % of purchases).
BILLED_STATUSES = HIT_STATUSES
# Not an answer about the person (a transient failure, or the account's allowance spent): they stay
# unsettled, so a later attempt or run asks again.
UNSETTLED_STATUSES = frozenset({SERVICE_ERROR, LIMIT_EXCEEDED})

_REMAINING_HEADERS = {
    "second": "X-RateLimit-Remaining-Second",
    "hour": "X-RateLimit-Remaining-Hour",
    "day": "X-RateLimit-Remaining-Day",
}


class ZoomInfoLimitExceeded(VendorError):
    """Enrich answered LIMIT_EXCEEDED: the account's allowance is spent, so no retry within this run helps.

    The people it concerned are left unsettled (neither leads nor quarantined), so a run after the
    allowance resets (or is raised) buys them; everything already paid for is stored first.
    """


def remaining_from_headers(headers: Mapping[str, str]) -> dict[str, int]:
    """Calls left per window as ZoomInfo reports them (`X-RateLimit-Remaining-{Second,Hour,Day}`)."""
    remaining: dict[str, int] = {}
    for window, name in _REMAINING_HEADERS.items():
        value = headers.get(name)
        if value is not None and str(value).strip().isdigit():
            remaining[window] = int(str(value).strip())
    return remaining


def person_id_text(value: Any) -> str | None:
    """A ZoomInfo person id as text ("1234567890"), from an int, a digit string or an integral float."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        return text or None
    return None


def jwt_claims(token: str) -> dict[str, Any]:
    """The unverified payload of a JWT ({} when it is not one): enough to read `exp`."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


# --------------------------------------------------------------------------------------------
# Reading answers (both APIs; landed bodies are read the same way on replay).
# --------------------------------------------------------------------------------------------


@dataclass
class EnrichOutcome:
    """What ZoomInfo said about one person: its `matchStatus`, and the data that came with it.

    `contact` is the person's record for a hit, the company data for COMPANY_ONLY_MATCH, else None.
    """

    status: str
    contact: dict[str, Any] | None = None

    @property
    def hit(self) -> bool:
        """The contact's data came back: a person to store."""
        return self.status in HIT_STATUSES and self.contact is not None

    @property
    def billed(self) -> bool:
        """ZoomInfo bills the record (its first enrichment in 12 months)."""
        return self.status in BILLED_STATUSES

    @property
    def settled(self) -> bool:
        """The answer says something about the person (everything but SERVICE_ERROR / LIMIT_EXCEEDED)."""
        return self.status not in UNSETTLED_STATUSES


def _status_of(value: Any) -> str:
    """A known matchStatus, or NO_MATCH for anything else (an absent or unheard-of status sells nothing)."""
    if isinstance(value, str) and (value in MATCH_STATUSES or value.startswith(NON_MATCH_PREFIX)):
        return value
    return NO_MATCH


def _legacy_results(payload: Mapping[str, Any]) -> list[tuple[Any, Any, Any]] | None:
    """(echoed input, first data row, matchStatus) per result of `{"data": {"result": [...]}}`."""
    data = payload.get("data")
    results = data.get("result") if isinstance(data, Mapping) else None
    if not isinstance(results, list):
        return None
    out = []
    for result in results:
        if not isinstance(result, Mapping):
            out.append((None, None, None))
            continue
        rows = result.get("data")
        row = rows[0] if isinstance(rows, list) and rows and isinstance(rows[0], Mapping) else None
        out.append((result.get("input"), row, result.get("matchStatus")))
    return out


def _gtm_record(item: Mapping[str, Any]) -> dict[str, Any] | None:
    """A JSON:API resource object as one flat record: `{"id": ..., **attributes}`."""
    attributes = item.get("attributes")
    if not isinstance(attributes, Mapping):
        return None
    return {**attributes, "id": item.get("id") if item.get("id") is not None else attributes.get("id")}


def _gtm_results(payload: Mapping[str, Any]) -> list[tuple[Any, Any, Any]] | None:
    """(echoed input, record, matchStatus) per item of `{"data": [{..., "meta": {"matchStatus", "input"}}]}`."""
    items = payload.get("data")
    if not isinstance(items, list) or not items:
        return None
    out = []
    for item in items:
        meta = item.get("meta") if isinstance(item, Mapping) else None
        if not isinstance(meta, Mapping):
            out.append((None, None, None))
            continue
        out.append((meta.get("input"), _gtm_record(item), meta.get("matchStatus")))
    return out


def enrich_outcomes(payload: Any, person_ids: Sequence[str]) -> dict[str, EnrichOutcome] | None:
    """person id -> outcome from an enrich answer (parsed JSON, either API); None when its shape is unreadable.

    Results are matched to the ids by their echoed `input.personId`, else the record's `id`, else
    their position. An id the answer does not mention is NO_MATCH; so is an unheard-of status.
    """
    if not isinstance(payload, Mapping):
        return None
    results = _legacy_results(payload) if isinstance(payload.get("data"), Mapping) else _gtm_results(payload)
    if results is None:
        return None
    wanted = set(person_ids)
    out: dict[str, EnrichOutcome] = {}
    for position, (echoed, record, raw_status) in enumerate(results):
        if echoed is None and record is None and raw_status is None:
            continue  # not a result object
        pid = person_id_text(echoed.get("personId")) if isinstance(echoed, Mapping) else None
        if pid is None and record is not None:
            pid = person_id_text(record.get("id"))
        if pid is None and position < len(person_ids):
            pid = person_ids[position]
        if pid is None or pid in out or pid not in wanted:
            continue  # a person we did not ask about is not ours to record
        status = _status_of(raw_status)
        if status in HIT_STATUSES and record is not None:
            out[pid] = EnrichOutcome(status, {**record, "id": record.get("id") or pid})
        elif status == COMPANY_ONLY_MATCH and record is not None:
            out[pid] = EnrichOutcome(status, dict(record))
        else:
            out[pid] = EnrichOutcome(status)
    for pid in person_ids:
        out.setdefault(pid, EnrichOutcome(NO_MATCH))
    return out


def search_results(payload: Any) -> tuple[int | None, list[Any]] | None:
    """(total records, rows) from a contact-search answer of either API; None when unreadable.

    Legacy: `{"maxResults", "totalResults", "currentPage", "data": [rows]}`. GTM: `{"data": [{"type":
    "Contact", "id", "attributes"}], "meta": {"page": {...}, "totalResults"}}`, whose rows are flattened
    to the legacy form (`{"id", **attributes}`) so the rest of the pipeline reads one shape.
    """
    if not isinstance(payload, Mapping) or not isinstance(payload.get("data"), list):
        return None
    rows = payload["data"]
    meta = payload.get("meta")
    if isinstance(meta, Mapping) and "totalResults" not in payload:
        total = meta.get("totalResults")
        rows = [(_gtm_record(r) or r) if isinstance(r, Mapping) else r for r in rows]
    else:
        total = payload.get("totalResults")
    if isinstance(total, str) and total.strip().isdigit():
        total = int(total.strip())
    if isinstance(total, bool) or not isinstance(total, int | None):
        return None
    return total, rows


# --------------------------------------------------------------------------------------------
# The interface both APIs implement.
# --------------------------------------------------------------------------------------------


@dataclass
class ContactPage:
    """One page of contact search: what the vendor said, and the raw body for the landing table."""

    total_results: int | None
    contacts: list[Any]
    response: VendorResponse
    rpp: int = RPP_MAX

    def pages_available(self, rpp: int | None = None, max_results: int = MAX_RESULTS) -> int:
        """Pages this query can be read in (never past `max_results` rows)."""
        per = rpp or self.rpp
        if not self.total_results:
            return 0
        return math.ceil(min(self.total_results, max_results) / per)


@dataclass
class EnrichBatch:
    """One enrich answer: an outcome per person id, and how many records ZoomInfo billed."""

    outcomes: dict[str, EnrichOutcome]
    response: VendorResponse
    results: list[Any] = field(default_factory=list)

    @property
    def statuses(self) -> Counter:
        """How many people got each matchStatus."""
        return Counter(o.status for o in self.outcomes.values())

    @property
    def matched(self) -> int:
        """People whose data came back (FULL_MATCH or CONTACT_ONLY_MATCH)."""
        return sum(o.hit for o in self.outcomes.values())

    @property
    def opted_out(self) -> int:
        return self.statuses[OPT_OUT]

    @property
    def credits(self) -> float:
        """Records ZoomInfo may have billed: every billed status (a re-enrichment within 12 months is
        free, but the answer does not say which records were already Under Management)."""
        return float(sum(o.billed for o in self.outcomes.values()))

    def ids_with(self, *statuses: str) -> list[str]:
        """The person ids whose outcome has one of `statuses`, in answer order."""
        return [pid for pid, o in self.outcomes.items() if o.status in statuses]


@dataclass(frozen=True)
class _Form:
    """A form-encoded (or empty) request body for a token endpoint, with per-request headers."""

    fields: Mapping[str, str] | None
    headers: Mapping[str, str | None]


class _ZoomInfoSession(requests.Session):
    """A session that sends `_Form` bodies form-encoded (`VendorHttp` only sends JSON)."""

    def request(self, method, url, *args, json=None, **kwargs):  # noqa: A002 - requests' own keyword
        if isinstance(json, _Form):
            headers = {**(kwargs.pop("headers", None) or {}), **json.headers}
            data = None
            if json.fields:
                data = urlencode(dict(json.fields))
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            return super().request(method, url, *args, data=data, headers=headers, **kwargs)
        return super().request(method, url, *args, json=json, **kwargs)


class ZoomInfoApiClient:
    """What the collection needs from ZoomInfo, whichever API serves it.

    Subclasses supply the token (`authenticate`) and the two requests (`_search_request`,
    `_enrich_request`); answers of both APIs are read by `search_results` / `enrich_outcomes`.
    """

    vendor = "zoominfo"
    api = ""
    credential_setting = ""
    media_type = "application/json"

    def __init__(
        self,
        base_url: str,
        *,
        limits: Mapping[str, Mapping[str, int | None]] | None = None,
        window_seconds: Mapping[str, float] | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
        max_attempts: int = 3,
        backoff_base: float = 0.5,
        max_wait: float = 90.0,
        logger: logging.Logger | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.clock = clock
        self.log = logger or logging.getLogger("lead_sprint.zoominfo")
        # Shared through Redis when REDIS_URL answers, so parallel runs stay inside the vendor's limits together.
        # ZoomInfo counts per API user (legacy) or app (GTM): the bucket is named by a hash of that identity.
        identity = getattr(self, "username", None) or getattr(self, "client_id", None)
        self.limiter = make_limiter("zoominfo", limits, credential=identity, window_seconds=window_seconds)
        self._http_options: dict[str, Any] = {
            "credential_setting": self.credential_setting, "limiter": self.limiter, "timeout": timeout,
            "max_attempts": max_attempts, "backoff_base": backoff_base, "max_wait": max_wait, "logger": logger,
            **({"sleep": sleep} if sleep is not None else {}),
        }
        headers = {"Accept": self.media_type, "Content-Type": self.media_type}
        self.http = self._transport(base_url, headers)
        self.token: str | None = None
        self.token_expires_at = 0.0
        self.authentications = 0  # tokens fetched
        self.token_refreshes = 0  # re-authentications forced by a 401

    def _transport(self, base_url: str, headers: Mapping[str, str]) -> VendorHttp:
        http = VendorHttp(self.vendor, base_url, headers=headers, **self._http_options)
        http.session = _ZoomInfoSession()
        http.session.headers.update(headers)
        return http

    # -- tokens ---------------------------------------------------------------------------

    def authenticate(self) -> str:
        """Fetch an access token and use it from now on."""
        raise NotImplementedError

    def _use_token(self, token: str, lifetime: float | None, expires_at: float | None = None) -> str:
        now = self.clock()
        if expires_at is not None:
            # Refresh a little early: a tenth of the lifetime, at most a minute.
            self.token_expires_at = expires_at - min(60.0, max(0.0, lifetime or 0.0) / 10)
        elif lifetime is not None:
            self.token_expires_at = now + lifetime - min(60.0, max(0.0, lifetime) / 10)
        else:
            self.token_expires_at = now + 55 * 60  # ZoomInfo's tokens live about 60 minutes
        self.token = token
        self.authentications += 1
        self.http.session.headers["Authorization"] = f"Bearer {token}"
        return token

    def _ensure_token(self) -> None:
        if self.token is None or self.clock() >= self.token_expires_at:
            self.authenticate()

    def _call(self, path: str, body: Any, *, params: Mapping[str, Any] | None = None,
              paid: bool = False) -> VendorResponse:
        """One API call with a valid token; a 401 re-authenticates once, a second 401 stops the source."""
        self._ensure_token()
        for attempt in (1, 2):
            try:
                return self.http.request(
                    "POST", path, endpoint_class="api", json_body=body, params=params,
                    observe_headers=remaining_from_headers, paid=paid,
                )
            except VendorAuthError as exc:
                if exc.status != 401:
                    raise
                if attempt == 2:
                    raise VendorAuthError(
                        self.vendor,
                        f"{path}: ZoomInfo refused a freshly issued token (HTTP 401) after one re-authentication; "
                        f"the source stopped. Check {self.credential_setting} and the account's API access",
                        status=401,
                    ) from None
                if self.http.calls:
                    self.http.calls[-1].outcome = "reauth"
                    self.http.calls[-1].error = "token expired or revoked: re-authenticated"
                self.log.info("zoominfo token refused (%s); authenticating again once", exc)
                self.token_refreshes += 1
                self.token = None
                self.authenticate()
        raise AssertionError("unreachable")

    # -- the interface --------------------------------------------------------------------

    def _search_request(self, query: Mapping[str, Any], page: int, rpp: int) -> tuple[str, Any, dict | None]:
        raise NotImplementedError

    def _enrich_request(self, inputs: list[dict], output_fields: list[str]) -> tuple[str, Any]:
        raise NotImplementedError

    def search_contacts(self, query: Mapping[str, Any], page: int, rpp: int = RPP_MAX) -> ContactPage:
        """One page of contact search (free). `query` holds ZoomInfo filter names."""
        rpp = max(1, min(rpp, RPP_MAX))
        path, body, params = self._search_request(query, page, rpp)
        resp = self._call(path, body, params=params)
        read = search_results(resp.data)
        if read is None:
            raise VendorCallFailed(self.vendor, f"{path}: unexpected body shape {resp.text[:200]!r}")
        total, contacts = read
        return ContactPage(total_results=total, contacts=contacts, response=resp, rpp=rpp)

    def enrich_contacts(
        self, person_ids: Sequence[str], output_fields: Sequence[str] = DEFAULT_OUTPUT_FIELDS
    ) -> EnrichBatch:
        """Enrich up to 25 people by ZoomInfo person id (the first enrichment of a record is billed)."""
        if not 1 <= len(person_ids) <= ENRICH_MAX:
            raise ValueError(f"enrich_contacts takes 1..{ENRICH_MAX} ids, got {len(person_ids)}")
        ids = [str(pid) for pid in person_ids]
        inputs = [{"personId": int(pid) if pid.isdigit() else pid} for pid in ids]
        path, body = self._enrich_request(inputs, list(output_fields))
        resp = self._call(path, body, paid=True)
        outcomes = enrich_outcomes(resp.data, ids)
        if outcomes is None:
            # Valid JSON of the wrong shape after a paid call: as unreadable as a truncated body.
            if self.http.calls:
                self.http.calls[-1].outcome = "failed"
                self.http.calls[-1].error = "enrich answer holds no result list"
            raise UnreadablePaidResponse(
                self.vendor, f"{path}: no result list in {resp.text[:200]!r}", text=resp.text, status=resp.status,
            )
        data = resp.data.get("data")
        results = data.get("result") if isinstance(data, Mapping) else data
        batch = EnrichBatch(outcomes=outcomes, response=resp, results=list(results or []))
        if self.http.calls:
            self.http.calls[-1].credits = batch.credits
        return batch

    def pause_before_retry(self, attempt: int) -> None:
        """Wait as the transport does between attempts (exponential backoff with jitter)."""
        self.http.pause_before_retry(attempt)


# --------------------------------------------------------------------------------------------
# Legacy Enterprise API.
# --------------------------------------------------------------------------------------------


class ZoomInfoClient(ZoomInfoApiClient):
    """The legacy Enterprise API: `/authenticate` (JWT), `/search/contact`, `/enrich/contact`."""

    api = "legacy"

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str | None = None,
        *,
        client_id: str | None = None,
        private_key: str | None = None,
        **options: Any,
    ):
        self.username = username
        self.password = password
        self.client_id = client_id
        self.private_key = private_key
        self.pki = bool(client_id and private_key)
        self.credential_setting = PKI_SETTINGS if self.pki else PASSWORD_SETTINGS
        super().__init__(base_url, **options)

    @property
    def jwt(self) -> str | None:
        """The access JWT in use (None before the first call)."""
        return self.token

    def authenticate(self) -> str:
        """Fetch an access JWT (form login, or PKI client JWT) and use it from now on."""
        if self.pki:
            body = _Form(None, {"Authorization": f"Bearer {self._client_jwt()}"})
        else:
            if not self.username or not self.password:
                raise VendorAuthError(self.vendor, f"no credentials: set {PASSWORD_SETTINGS}")
            body = _Form({"username": self.username, "password": self.password}, {"Authorization": None})
        resp = self.http.request("POST", AUTH_PATH, endpoint_class="auth", json_body=body)
        token = resp.data.get("jwt") if isinstance(resp.data, dict) else None
        if not isinstance(token, str) or not token:
            raise VendorAuthError(
                self.vendor, f"{AUTH_PATH}: the answer holds no jwt ({resp.text[:120]!r}); check {self.credential_setting}"
            )
        claims = jwt_claims(token)
        exp, iat = claims.get("exp"), claims.get("iat")
        if isinstance(exp, int | float) and not isinstance(exp, bool):
            lifetime = float(exp) - (float(iat) if isinstance(iat, int | float) else self.clock())
            return self._use_token(token, lifetime, float(exp))
        return self._use_token(token, None)

    def _client_jwt(self) -> str:
        import jwt  # PyJWT (with cryptography for RS256); only the PKI flow needs it

        now = int(self.clock())
        claims = {
            "aud": CLIENT_JWT_AUD,
            "iss": CLIENT_JWT_ISS,
            "iat": now,
            "exp": now + 300,
            "client_id": self.client_id,
            "username": self.username,
        }
        return jwt.encode(claims, self.private_key, algorithm="RS256")

    def _search_request(self, query, page, rpp):
        return SEARCH_PATH, {**query, "rpp": rpp, "page": page}, None

    def _enrich_request(self, inputs, output_fields):
        return ENRICH_PATH, {"matchPersonInput": inputs, "outputFields": output_fields}


# --------------------------------------------------------------------------------------------
# GTM API.
# --------------------------------------------------------------------------------------------


class ZoomInfoGtmClient(ZoomInfoApiClient):
    """The GTM API: OAuth2 client-credentials token, JSON:API `/gtm/data/v1/contacts/{search,enrich}`."""

    api = "gtm"
    credential_setting = GTM_SETTINGS
    media_type = JSON_API

    def __init__(self, base_url: str, client_id: str | None, client_secret: str | None, *,
                 token_url: str | None = None, **options: Any):
        self.client_id = client_id
        self.client_secret = client_secret
        super().__init__(base_url, **options)
        self.token_url = token_url or f"{base_url.rstrip('/')}{GTM_TOKEN_PATH}"
        self.token_http = self._transport(self.token_url, {"Accept": "application/json"})

    def authenticate(self) -> str:
        """Fetch an access token with the client-credentials grant and use it from now on."""
        if not self.client_id or not self.client_secret:
            raise VendorAuthError(self.vendor, f"no credentials: set {GTM_SETTINGS}")
        basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        body = _Form({"grant_type": "client_credentials"}, {"Authorization": f"Basic {basic}"})
        try:
            resp = self.token_http.request("POST", "", endpoint_class="auth", json_body=body)
        finally:
            self.http.calls.extend(self.token_http.drain_calls())  # one call log per client
        data = resp.data if isinstance(resp.data, dict) else {}
        token, lifetime = data.get("access_token"), data.get("expires_in")
        if not isinstance(token, str) or not token:
            raise VendorAuthError(
                self.vendor, f"token endpoint: the answer holds no access_token ({resp.text[:120]!r}); "
                f"check {GTM_SETTINGS}"
            )
        if isinstance(lifetime, str) and lifetime.strip().isdigit():
            lifetime = int(lifetime.strip())
        valid = isinstance(lifetime, int | float) and not isinstance(lifetime, bool) and lifetime > 0
        return self._use_token(token, float(lifetime) if valid else None)

    def _search_request(self, query, page, rpp):
        body = {"data": {"type": "ContactSearch", "attributes": dict(query)}}
        return GTM_SEARCH_PATH, body, {"page[number]": page, "page[size]": rpp}

    def _enrich_request(self, inputs, output_fields):
        attributes = {"matchPersonInput": inputs, "outputFields": output_fields}
        return GTM_ENRICH_PATH, {"data": {"type": "ContactEnrich", "attributes": attributes}}


def make_zoominfo_client(
    api: str | None,
    base_url: str,
    *,
    username: str | None = None,
    password: str | None = None,
    client_id: str | None = None,
    private_key: str | None = None,
    gtm_client_id: str | None = None,
    gtm_client_secret: str | None = None,
    gtm_token_url: str | None = None,
    **options: Any,
) -> ZoomInfoApiClient:
    """The client `ZOOMINFO_API` names (`legacy` when unset); ValueError for any other value."""
    api = (api or "legacy").strip().lower()
    if api == "gtm":
        return ZoomInfoGtmClient(base_url, gtm_client_id, gtm_client_secret, token_url=gtm_token_url, **options)
    if api == "legacy":
        return ZoomInfoClient(base_url, username or "", password, client_id=client_id, private_key=private_key,
                              **options)
    raise ValueError(f"ZOOMINFO_API={api!r}: expected one of {', '.join(APIS)}")


def missing_credentials(api: str | None, *, username: str | None, password: str | None, client_id: str | None,
                        private_key: str | None, gtm_client_id: str | None, gtm_client_secret: str | None) -> str | None:
    """The settings to set before ZoomInfo can be called with `api` (None when they are set)."""
    if (api or "legacy").strip().lower() == "gtm":
        return None if gtm_client_id and gtm_client_secret else GTM_SETTINGS
    if username and (password or (client_id and private_key)):
        return None
    return "ZOOMINFO_USERNAME with ZOOMINFO_PASSWORD (or ZOOMINFO_CLIENT_ID and ZOOMINFO_PRIVATE_KEY)"
