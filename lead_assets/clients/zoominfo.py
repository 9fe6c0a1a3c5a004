"""ZoomInfo client (legacy Enterprise API): JWT auth, contact search (free), contact enrich (paid).

Contract: shared/vendor-apis.md section 2. Settings: `ZOOMINFO_BASE_URL` (default
`https://api.zoominfo.com`), `ZOOMINFO_USERNAME` + `ZOOMINFO_PASSWORD` (form login), or PKI:
`ZOOMINFO_USERNAME` + `ZOOMINFO_CLIENT_ID` + `ZOOMINFO_PRIVATE_KEY` (an RS256 client JWT, signed with
PyJWT, exchanged for the access JWT).

The access JWT (about 60 minutes) is cached and fetched again shortly before its `exp`; a 401 on an
API call (expired or revoked early) re-authenticates once and repeats the call; a second 401 stops
with `VendorAuthError` naming the settings. The 401 that triggered a refresh is logged with outcome
`reauth`, not `failed`: nothing was wrong with the vendor. Enrichment is `paid=True` on the shared
transport: an unreadable answer is never retried (ZoomInfo may have billed the records already).
"""

from __future__ import annotations

import base64
import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests

from lead_assets.clients.errors import UnreadablePaidResponse, VendorAuthError, VendorCallFailed
from lead_assets.clients.http import VendorHttp, VendorResponse
from lead_assets.clients.rate_limit import make_limiter

AUTH_PATH = "/authenticate"
SEARCH_PATH = "/search/contact"
ENRICH_PATH = "/enrich/contact"
RPP_MAX = 100  # rpp above 100 is refused (UNCONFIRMED: ZoomInfo documents no maximum)
ENRICH_MAX = 25  # ZoomInfo enriches at most 25 records per call
MAX_RESULTS = 10_000  # rows reachable through paging of one query (UNCONFIRMED)
# The Standard package's windows (docs S42): per second fixed, per hour and per day sliding.
DEFAULT_LIMITS: dict[str, dict[str, int | None]] = {"api": {"second": 25, "hour": 54_000, "day": 648_000}}
PASSWORD_SETTINGS = "ZOOMINFO_USERNAME / ZOOMINFO_PASSWORD"
PKI_SETTINGS = "ZOOMINFO_USERNAME / ZOOMINFO_CLIENT_ID / ZOOMINFO_PRIVATE_KEY"
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
MATCH_STATUSES = ("FULL_MATCH", "NO_MATCH", "OPT_OUT")
CLIENT_JWT_AUD = "enterprise_api"
CLIENT_JWT_ISS = "api-client@zoominfo.com"

_REMAINING_HEADERS = {
    "second": "X-RateLimit-Remaining-Second",
    "hour": "X-RateLimit-Remaining-Hour",
    "day": "X-RateLimit-Remaining-Day",
}


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


@dataclass
class EnrichOutcome:
    """What ZoomInfo said about one person: FULL_MATCH with the contact, NO_MATCH or OPT_OUT."""

    status: str
    contact: dict[str, Any] | None = None


def enrich_outcomes(payload: Any, person_ids: Sequence[str]) -> dict[str, EnrichOutcome] | None:
    """person id -> outcome from an enrich answer (parsed JSON); None when its shape is unreadable.

    Results are matched to the ids by their echoed `input.personId`, else the contact's `id`,
    else their position.
    An id the answer does not mention is NO_MATCH; an unknown status counts as NO_MATCH too.
    """
    if not isinstance(payload, Mapping):
        return None
    data = payload.get("data")
    results = data.get("result") if isinstance(data, Mapping) else None
    if not isinstance(results, list):
        return None
    wanted = set(person_ids)
    out: dict[str, EnrichOutcome] = {}
    for position, result in enumerate(results):
        if not isinstance(result, Mapping):
            continue
        echoed = result.get("input")
        rows = result.get("data")
        contact = rows[0] if isinstance(rows, list) and rows and isinstance(rows[0], Mapping) else None
        pid = person_id_text(echoed.get("personId")) if isinstance(echoed, Mapping) else None
        if pid is None and contact is not None:
            pid = person_id_text(contact.get("id"))
        if pid is None and position < len(person_ids):
            pid = person_ids[position]
        if pid is None or pid in out or pid not in wanted:
            continue  # a person we did not ask about is not ours to record
        status = result.get("matchStatus")
        if status == "FULL_MATCH" and contact is not None:
            out[pid] = EnrichOutcome("FULL_MATCH", {**contact, "id": contact.get("id") or pid})
        elif status == "OPT_OUT":
            out[pid] = EnrichOutcome("OPT_OUT")
        else:
            out[pid] = EnrichOutcome("NO_MATCH")
    for pid in person_ids:
        out.setdefault(pid, EnrichOutcome("NO_MATCH"))
    return out


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
    """One enrich answer: an outcome per person id, and how many records ZoomInfo billed (FULL_MATCH)."""

    outcomes: dict[str, EnrichOutcome]
    response: VendorResponse
    matched: int = 0
    opted_out: int = 0
    results: list[Any] = field(default_factory=list)

    @property
    def credits(self) -> float:
        """Records ZoomInfo may have billed: every FULL_MATCH (a re-enrichment within 12 months is
        free, but the answer does not say which records were already Under Management)."""
        return float(self.matched)


@dataclass(frozen=True)
class _Form:
    """A form-encoded (or empty) request body for `/authenticate`, with per-request headers."""

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


class ZoomInfoClient:
    """Plain `requests` client for ZoomInfo's authenticate, contact search and contact enrich."""

    vendor = "zoominfo"

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str | None = None,
        *,
        client_id: str | None = None,
        private_key: str | None = None,
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
        self.username = username
        self.password = password
        self.client_id = client_id
        self.private_key = private_key
        self.pki = bool(client_id and private_key)
        self.credential_setting = PKI_SETTINGS if self.pki else PASSWORD_SETTINGS
        self.clock = clock
        self.log = logger or logging.getLogger("lead_sprint.zoominfo")
        # Shared through Redis when REDIS_URL answers, so parallel runs stay inside the vendor's limits together.
        # ZoomInfo counts per API user: the bucket is named by a hash of the username.
        limiter = make_limiter("zoominfo", limits, credential=username, window_seconds=window_seconds)
        extra = {"sleep": sleep} if sleep is not None else {}
        self.http = VendorHttp(
            self.vendor,
            base_url,
            headers={"Accept": "application/json", "Content-Type": "application/json"},
            credential_setting=self.credential_setting,
            limiter=limiter,
            timeout=timeout,
            max_attempts=max_attempts,
            backoff_base=backoff_base,
            max_wait=max_wait,
            logger=logger,
            **extra,
        )
        self.http.session = _ZoomInfoSession()
        self.http.session.headers.update({"Accept": "application/json", "Content-Type": "application/json"})
        self.jwt: str | None = None
        self.jwt_expires_at = 0.0
        self.authentications = 0  # JWTs fetched
        self.token_refreshes = 0  # re-authentications forced by a 401

    # -- auth -----------------------------------------------------------------------------

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
        now = self.clock()
        claims = jwt_claims(token)
        exp, iat = claims.get("exp"), claims.get("iat")
        if isinstance(exp, int | float) and not isinstance(exp, bool):
            lifetime = float(exp) - (float(iat) if isinstance(iat, int | float) else now)
            # Refresh a little early: a tenth of the lifetime, at most a minute.
            self.jwt_expires_at = float(exp) - min(60.0, max(0.0, lifetime) / 10)
        else:
            self.jwt_expires_at = now + 55 * 60  # ZoomInfo's JWTs live about 60 minutes
        self.jwt = token
        self.authentications += 1
        self.http.session.headers["Authorization"] = f"Bearer {token}"
        return token

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

    def _ensure_jwt(self) -> None:
        if self.jwt is None or self.clock() >= self.jwt_expires_at:
            self.authenticate()

    def _call(self, path: str, body: Any, *, paid: bool = False) -> VendorResponse:
        """One API call with a valid JWT; a 401 re-authenticates once, a second 401 stops the source."""
        self._ensure_jwt()
        for attempt in (1, 2):
            try:
                return self.http.request(
                    "POST", path, endpoint_class="api", json_body=body,
                    observe_headers=remaining_from_headers, paid=paid,
                )
            except VendorAuthError as exc:
                if exc.status != 401:
                    raise
                if attempt == 2:
                    raise VendorAuthError(
                        self.vendor,
                        f"{path}: ZoomInfo refused a freshly issued JWT (HTTP 401) after one re-authentication; "
                        f"the source stopped. Check {self.credential_setting} and the account's API access",
                        status=401,
                    ) from None
                if self.http.calls:
                    self.http.calls[-1].outcome = "reauth"
                    self.http.calls[-1].error = "JWT expired or revoked: re-authenticated"
                self.log.info("zoominfo JWT refused (%s); authenticating again once", exc)
                self.token_refreshes += 1
                self.jwt = None
                self.authenticate()
        raise AssertionError("unreachable")

    # -- endpoints ------------------------------------------------------------------------

    def search_contacts(self, query: Mapping[str, Any], page: int, rpp: int = RPP_MAX) -> ContactPage:
        """One page of contact search (free). `query` holds ZoomInfo filter names."""
        rpp = max(1, min(rpp, RPP_MAX))
        resp = self._call(SEARCH_PATH, {**query, "rpp": rpp, "page": page})
        data = resp.data if isinstance(resp.data, dict) else {}
        contacts = data.get("data")
        total = data.get("totalResults")
        if isinstance(total, str) and total.strip().isdigit():
            total = int(total.strip())
        if not isinstance(contacts, list) or isinstance(total, bool) or not isinstance(total, int | None):
            raise VendorCallFailed(self.vendor, f"{SEARCH_PATH}: unexpected body shape {resp.text[:200]!r}")
        return ContactPage(total_results=total, contacts=contacts, response=resp, rpp=rpp)

    def enrich_contacts(
        self, person_ids: Sequence[str], output_fields: Sequence[str] = DEFAULT_OUTPUT_FIELDS
    ) -> EnrichBatch:
        """Enrich up to 25 people by ZoomInfo person id (the first enrichment of a record is billed)."""
        if not 1 <= len(person_ids) <= ENRICH_MAX:
            raise ValueError(f"enrich_contacts takes 1..{ENRICH_MAX} ids, got {len(person_ids)}")
        ids = [str(pid) for pid in person_ids]
        body = {
            "matchPersonInput": [{"personId": int(pid) if pid.isdigit() else pid} for pid in ids],
            "outputFields": list(output_fields),
        }
        resp = self._call(ENRICH_PATH, body, paid=True)
        outcomes = enrich_outcomes(resp.data, ids)
        if outcomes is None:
            # Valid JSON of the wrong shape after a paid call: as unreadable as a truncated body.
            if self.http.calls:
                self.http.calls[-1].outcome = "failed"
                self.http.calls[-1].error = "enrich answer has no data.result list"
            raise UnreadablePaidResponse(
                self.vendor, f"{ENRICH_PATH}: no data.result list in {resp.text[:200]!r}",
                text=resp.text, status=resp.status,
            )
        matched = sum(o.status == "FULL_MATCH" for o in outcomes.values())
        if self.http.calls:
            self.http.calls[-1].credits = float(matched)
        results = resp.data["data"]["result"]
        return EnrichBatch(
            outcomes=outcomes,
            response=resp,
            matched=matched,
            opted_out=sum(o.status == "OPT_OUT" for o in outcomes.values()),
            results=results,
        )
