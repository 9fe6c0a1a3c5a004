"""Salesforce client: OAuth token, Lead describe and Bulk API 2.0 ingest jobs.

Contract: shared/vendor-apis.md section 8 and Corrections 4-5. Settings: `SALESFORCE_LOGIN_URL`
(the token host), `SALESFORCE_CLIENT_ID`, `SALESFORCE_CLIENT_SECRET`, `SALESFORCE_API_VERSION`;
the JWT bearer flow also needs `SALESFORCE_USERNAME` and a private key (PyJWT signs the assertion).

The client-credentials flow works only on the org's My Domain host: login.salesforce.com and
test.salesforce.com answer it `invalid_grant` "request not supported on this domain". So that
flow has no default host, and a generic login host is refused here, before any request, with
a message naming `SALESFORCE_LOGIN_URL`. The JWT bearer flow works on the generic hosts and
defaults to login.salesforce.com.

An expired session (401 `INVALID_SESSION_ID`) is refreshed once per call; when the fresh
token is refused too, `CrmAuthError` stops the caller with a message naming the settings.
`VendorHttp` only sends JSON bodies, so CSV uploads and form-encoded token requests go
through a session that understands a `RawBody` marker in place of the JSON body.
"""

from __future__ import annotations

import base64
import csv
import io
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from lead_assets.clients.errors import VendorAuthError, VendorCallFailed, VendorError, VendorRequestError
from lead_assets.clients.http import VendorHttp, VendorResponse

TOKEN_PATH = "/services/oauth2/token"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TERMINAL_STATES = ("JobComplete", "Failed", "Aborted")
RESULT_SETS = ("successfulResults", "failedResults", "unprocessedrecords")
JWT_DEFAULT_LOGIN_URL = "https://login.salesforce.com"
# Hosts that serve every org and therefore cannot know which org a client-credentials request is for.
GENERIC_LOGIN_HOSTS = frozenset({"login.salesforce.com", "test.salesforce.com"})


class SalesforceConfigError(ValueError):
    """The settings cannot work (e.g. client credentials without a My Domain host); nothing was sent."""


def check_login_url(login_url: str | None, auth_flow: str) -> str:
    """The token host to use for `auth_flow`; raises `SalesforceConfigError` naming the setting."""
    if auth_flow == "jwt_bearer":
        return (login_url or JWT_DEFAULT_LOGIN_URL).rstrip("/")
    if not login_url:
        raise SalesforceConfigError(
            "SALESFORCE_LOGIN_URL is unset: the client-credentials flow needs your org's My Domain URL, "
            "e.g. https://acme.my.salesforce.com (Setup > My Domain); login.salesforce.com and "
            "test.salesforce.com refuse that flow"
        )
    host = (urlsplit(login_url).hostname or "").lower()
    if host in GENERIC_LOGIN_HOSTS:
        raise SalesforceConfigError(
            f"SALESFORCE_LOGIN_URL={login_url} cannot issue client-credentials tokens: {host} refuses that "
            "flow ('request not supported on this domain'). Set it to your org's My Domain URL, e.g. "
            "https://acme.my.salesforce.com (or use SALESFORCE_AUTH_FLOW=jwt_bearer)"
        )
    return login_url.rstrip("/")


class CrmAuthError(VendorError):
    """The CRM refused our credentials even after one token refresh: the sync must stop."""


class CrmLimitError(VendorError):
    """The org's API allowance is spent (403 REQUEST_LIMIT_EXCEEDED): the sync must stop."""


@dataclass(frozen=True)
class RawBody:
    """A non-JSON request body (CSV, form), or none but extra headers, passed where `VendorHttp`
    expects the JSON body."""

    data: bytes | None
    content_type: str | None
    headers: Mapping[str, str] | None = None


# Bulk 2.0 result sets are CSV resources: they are asked for as CSV (vendor-apis.md Corrections 5).
ACCEPT_CSV = RawBody(None, None, {"Accept": "text/csv"})


class _RawBodySession(requests.Session):
    """A `requests.Session` that sends a `RawBody` as raw bytes with its own content type."""

    def request(self, method, url, *args, json=None, **kwargs):  # noqa: A002 - requests' own keyword
        if isinstance(json, RawBody):
            headers = dict(kwargs.pop("headers", None) or {})
            if json.content_type:
                headers["Content-Type"] = json.content_type
            headers.update(json.headers or {})
            return super().request(method, url, *args, data=json.data, headers=headers, **kwargs)
        return super().request(method, url, *args, json=json, **kwargs)


@dataclass
class JobResults:
    """The three result sets of a finished ingest job, rows as dicts keyed by column."""

    info: dict
    successful: list[dict]
    failed: list[dict]
    unprocessed: list[dict]


def parse_csv(text: str) -> list[dict]:
    """A result CSV as a list of dicts (empty body: no rows)."""
    if not text.strip():
        return []
    return list(csv.DictReader(io.StringIO(text, newline="")))


class SalesforceClient:
    """Plain `requests` client for the Salesforce calls the CRM export needs."""

    vendor = "salesforce"

    def __init__(
        self,
        login_url: str | None,
        client_id: str,
        client_secret: str | None = None,
        *,
        api_version: str = "62.0",
        auth_flow: str = "client_credentials",
        username: str | None = None,
        private_key: str | None = None,
        timeout: tuple[float, float] = (5.0, 60.0),
        max_attempts: int = 3,
        backoff_base: float = 0.5,
        max_wait: float = 90.0,
        logger: logging.Logger | None = None,
        sleep: Callable[[float], None] | None = None,
    ):
        if auth_flow not in ("client_credentials", "jwt_bearer"):
            raise ValueError(f"auth_flow must be client_credentials or jwt_bearer, not {auth_flow!r}")
        self.login_url = check_login_url(login_url, auth_flow)
        self.client_id = client_id
        self.client_secret = client_secret
        self.api_version = api_version.lstrip("v")
        self.auth_flow = auth_flow
        self.username = username
        self.private_key = private_key
        self.sleep = sleep or time.sleep
        self.log = logger or logging.getLogger("lead_sprint.salesforce")
        common = dict(
            timeout=timeout,
            max_attempts=max_attempts,
            backoff_base=backoff_base,
            max_wait=max_wait,
            logger=logger,
            sleep=self.sleep,
        )
        self.login_http = VendorHttp(
            self.vendor,
            self.login_url,
            headers={"Accept": "application/json"},
            credential_setting="SALESFORCE_CLIENT_ID / SALESFORCE_CLIENT_SECRET",
            **common,
        )
        self.login_http.session = _RawBodySession()
        self.login_http.session.headers.update({"Accept": "application/json"})
        # The API host is the token's instance_url, known after the first token.
        self.http = VendorHttp(
            self.vendor,
            "http://instance-url-unknown",
            headers={"Accept": "application/json"},
            credential_setting="SALESFORCE_CLIENT_ID / SALESFORCE_CLIENT_SECRET",
            **common,
        )
        self.http.session = _RawBodySession()
        self.http.session.headers.update({"Accept": "application/json"})
        self.instance_url: str | None = None
        self.token_refreshes = 0

    # -- auth -----------------------------------------------------------------------------

    def authenticate(self) -> None:
        """Fetch an access token (client credentials or JWT bearer) and the instance URL."""
        headers: dict[str, str] = {}
        if self.auth_flow == "client_credentials":
            form = {"grant_type": "client_credentials"}
            basic = base64.b64encode(f"{self.client_id}:{self.client_secret or ''}".encode()).decode()
            headers["Authorization"] = f"Basic {basic}"
        else:
            form = {"grant_type": JWT_GRANT, "assertion": self._jwt_assertion()}
        body = RawBody(urlencode(form).encode(), "application/x-www-form-urlencoded", headers)
        try:
            resp = self.login_http.request("POST", TOKEN_PATH, endpoint_class="auth", json_body=body)
        except (VendorRequestError, VendorAuthError) as exc:
            raise CrmAuthError(
                self.vendor,
                f"the token request was refused ({exc}); check SALESFORCE_CLIENT_ID, SALESFORCE_CLIENT_SECRET, "
                "SALESFORCE_LOGIN_URL (client credentials need the org's My Domain host) and the connected app",
                status=exc.status,
            ) from None
        data = resp.data if isinstance(resp.data, dict) else {}
        token, instance = data.get("access_token"), data.get("instance_url")
        if not token or not instance:
            raise CrmAuthError(
                self.vendor, f"the token answer has no access_token/instance_url: {resp.text[:200]!r}"
            )
        self.instance_url = str(instance).rstrip("/")
        self.http.base_url = self.instance_url
        self.http.session.headers["Authorization"] = f"Bearer {token}"

    def _jwt_assertion(self) -> str:
        if not self.username or not self.private_key:
            raise CrmAuthError(self.vendor, "the JWT bearer flow needs SALESFORCE_USERNAME and a private key")
        import jwt  # PyJWT (with cryptography for RS256); only this flow needs it

        claims = {
            "iss": self.client_id,
            "sub": self.username,
            "aud": self.login_url,
            "exp": int(time.time()) + 180,
        }
        return jwt.encode(claims, self.private_key, algorithm="RS256")

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        expect_json: bool = True,
        endpoint_class: str = "api",
    ) -> VendorResponse:
        """One API call; a 401 refreshes the token once, a second 401 stops with `CrmAuthError`."""
        if self.instance_url is None:
            self.authenticate()
        full = f"/services/data/v{self.api_version}{path}"
        for attempt in (1, 2):
            try:
                return self.http.request(
                    method, full, endpoint_class=endpoint_class, json_body=body, expect_json=expect_json
                )
            except VendorAuthError as exc:
                if exc.status == 403 and "REQUEST_LIMIT_EXCEEDED" in str(exc):
                    raise CrmLimitError(
                        self.vendor, f"the org's API request allowance is spent: {exc}", status=403
                    ) from None
                if exc.status != 401:
                    raise
                if attempt == 2:
                    raise CrmAuthError(
                        self.vendor,
                        "Salesforce refused a freshly issued token (401 INVALID_SESSION_ID) after one refresh; "
                        "the sync stopped. Check the connected app's session policy, IP restrictions and "
                        "SALESFORCE_CLIENT_ID / SALESFORCE_CLIENT_SECRET",
                        status=401,
                    ) from None
                self.log.info("salesforce session expired (INVALID_SESSION_ID); fetching a new token once")
                self.token_refreshes += 1
                self.authenticate()
        raise AssertionError("unreachable")

    # -- metadata -------------------------------------------------------------------------

    def describe(self, sobject: str = "Lead") -> dict:
        """`GET /sobjects/{sobject}/describe`: the object's fields, lengths, types, external ids."""
        resp = self._call("GET", f"/sobjects/{sobject}/describe")
        if not isinstance(resp.data, dict) or not isinstance(resp.data.get("fields"), list):
            raise VendorCallFailed(self.vendor, f"describe {sobject}: no fields in {resp.text[:200]!r}")
        return resp.data

    # -- Bulk API 2.0 ingest --------------------------------------------------------------

    def create_job(self, sobject: str, operation: str, external_id_field: str | None = None) -> dict:
        """Open an ingest job (CSV, comma, LF)."""
        body = {
            "object": sobject,
            "operation": operation,
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        }
        if external_id_field:
            body["externalIdFieldName"] = external_id_field
        resp = self._call("POST", "/jobs/ingest", body=body)
        if not isinstance(resp.data, dict) or not resp.data.get("id"):
            raise VendorCallFailed(self.vendor, f"create job: no id in {resp.text[:200]!r}")
        return resp.data

    def upload(self, job_id: str, csv_text: str) -> None:
        """Upload the job's one CSV body (`PUT .../batches`, 201)."""
        self._call(
            "PUT",
            f"/jobs/ingest/{job_id}/batches",
            body=RawBody(csv_text.encode("utf-8"), "text/csv"),
            expect_json=False,
        )

    def close(self, job_id: str) -> dict:
        """Mark the upload complete: Salesforce starts processing."""
        return self._call("PATCH", f"/jobs/ingest/{job_id}", body={"state": "UploadComplete"}).data or {}

    def abort(self, job_id: str) -> dict:
        """Abort an unfinished job."""
        return self._call("PATCH", f"/jobs/ingest/{job_id}", body={"state": "Aborted"}).data or {}

    def job_info(self, job_id: str) -> dict:
        """The job's state and counters."""
        resp = self._call("GET", f"/jobs/ingest/{job_id}", endpoint_class="poll")
        return resp.data if isinstance(resp.data, dict) else {}

    def results(self, job_id: str, info: dict) -> JobResults:
        """Successful, failed and unprocessed rows of a finished job (row order is not input order)."""
        sets = {}
        for name in RESULT_SETS:
            resp = self._call("GET", f"/jobs/ingest/{job_id}/{name}/", body=ACCEPT_CSV, expect_json=False)
            sets[name] = parse_csv(resp.text)
        return JobResults(info, sets["successfulResults"], sets["failedResults"], sets["unprocessedrecords"])

    def wait(
        self,
        job_ids: Sequence[str],
        *,
        poll_interval: float = 0.5,
        max_interval: float = 5.0,
        timeout: float = 3600.0,
    ) -> dict[str, dict]:
        """Poll until every job is terminal; returns job id -> final info.

        The interval grows by half each round up to `max_interval`: short jobs finish fast,
        long ones are not polled hundreds of times (each poll is an API request).
        """
        pending, done = list(job_ids), {}
        deadline = time.monotonic() + timeout
        interval = poll_interval
        while pending:
            for job_id in list(pending):
                info = self.job_info(job_id)
                if info.get("state") in TERMINAL_STATES:
                    done[job_id] = info
                    pending.remove(job_id)
            if not pending:
                break
            if time.monotonic() > deadline:
                raise VendorCallFailed(self.vendor, f"jobs {pending} not finished after {timeout:.0f}s")
            self.sleep(interval)
            interval = min(max_interval, interval * 1.5)
        return done

    def drain_calls(self):
        """The calls made since the last drain, token requests included."""
        return self.login_http.drain_calls() + self.http.drain_calls()
