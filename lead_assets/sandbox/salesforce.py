"""Salesforce emulator: OAuth token endpoint, Lead describe, the Bulk API 2.0 ingest job state machine.

Contract (vendor-apis.md §8 and §10):

* ``POST /services/oauth2/token`` (form-encoded): ``client_credentials`` (HTTP Basic or
  ``client_id``/``client_secret`` fields), ``password`` and JWT bearer (the assertion's ``iss`` must
  be a known client and ``sub`` a known user; the signature is not checked: the sandbox holds no
  certificate) -> ``{access_token, instance_url, id, token_type, issued_at, signature}``. The mount
  itself plays the org's My Domain host; ``/login/services/oauth2/token`` and
  ``/test/services/oauth2/token`` play login.salesforce.com and test.salesforce.com, which answer
  ``client_credentials`` 400 ``invalid_grant`` "request not supported on this domain"
  (vendor-apis.md Corrections 4; the body as reported by SDK users) and issue the other grants. Tokens live
  ``token_ttl_seconds``; an expired or unknown one answers 401
  ``[{"errorCode": "INVALID_SESSION_ID", ...}]``.
* ``GET /services/data/vXX.X/sobjects/Lead/describe``: the Lead fields (lengths, types,
  ``externalId``), including a custom external-id field ``LinkedIn_URL__c``.
* Bulk 2.0 ingest: ``POST .../jobs/ingest`` (object, operation, ``externalIdFieldName`` for upsert,
  CSV, delimiter, line ending) -> ``PUT .../batches`` (``text/csv``; one upload per job, 201) ->
  ``PATCH {"state": "UploadComplete"}`` -> ``InProgress`` -> ``JobComplete`` | ``Failed`` (processing
  takes ``job_seconds_base`` + ``job_seconds_per_1000`` per thousand rows) -> ``successfulResults/``
  (``sf__Id,sf__Created`` + the row as sent), ``failedResults/`` (``sf__Id,sf__Error`` + row),
  ``unprocessedrecords/`` (rows as sent), in shuffled order. These are CSV resources: an ``Accept``
  that rules CSV out (e.g. ``application/json``) answers 406 ``NOT_ACCEPTABLE`` (Corrections 5; the
  exact Salesforce body is UNCONFIRMED). Upsert matches on the external id;
  insert needs ``LastName`` and ``Company`` (``REQUIRED_FIELD_MISSING``); values longer than the
  field fail ``STRING_TOO_LONG``; an empty cell leaves the stored value alone. An unknown column
  fails the whole job (``InvalidBatch : Field name not found``).
* Every authenticated call counts against ``limits.salesforce.api.day`` (403
  ``REQUEST_LIMIT_EXCEEDED`` beyond) and reports ``Sforce-Limit-Info: api-usage=N/M``.

Emulator settings (``DEFAULT_SETTINGS``; ``POST /salesforce/__sandbox/settings`` or
:meth:`SalesforceApp.configure`): ``crm_fail_rate`` / ``crm_transient_share`` /
``crm_transient_failures`` as for HubSpot (permanent: ``FIELD_CUSTOM_VALIDATION_EXCEPTION``;
transient: ``UNABLE_TO_LOCK_ROW``); ``crm_fail_mode`` = ``"batch"`` makes a job holding a failing
record fail as a whole (every row unprocessed), so clients must split it to isolate the record.

Admin read-back under the mount (no auth or limits; the fault plan still applies):
``GET /salesforce/__sandbox/leads``, ``GET /salesforce/__sandbox/uploads`` (the CSV bodies exactly as
received), ``GET /salesforce/__sandbox/jobs``, ``GET|POST /salesforce/__sandbox/settings``,
``POST /salesforce/__sandbox/expire_tokens``.
"""

from __future__ import annotations

import base64
import copy
import csv
import io
import json
import random
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from .hubspot import EMAIL_RE, fail_kind
from .server import BadRequestBody, Request, Response, SandboxContext, VendorApp

TOKEN_PATH = "/services/oauth2/token"
# Sub-mounts that play the generic login hosts (every org's), as opposed to the org's My Domain.
GENERIC_LOGIN_PREFIXES = {"/login": "login.salesforce.com", "/test": "test.salesforce.com"}
DATA_RE = re.compile(r"^/services/data/v(\d{2}\.\d)(/.*)?$")
VERSIONS = [f"{v}.0" for v in range(31, 67)]
ADMIN = "/__sandbox/"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"

# This vendor's entries in the sandbox config: an org's daily API request allowance.
DEFAULT_LIMITS = {"api": {"day": 100_000}}
DEFAULT_KEYS = {
    "clients": {"sandbox-salesforce-client": "sandbox-salesforce-secret"},
    "users": ["integration@lead-sprint.example"],
}
DEFAULT_SETTINGS: dict[str, Any] = {
    "crm_fail_rate": 0.0,
    "crm_transient_share": 0.5,
    "crm_transient_failures": 1,
    "crm_fail_mode": "record",  # "record": failedResults rows; "batch": the whole job fails
    "token_ttl_seconds": 7200.0,
    "job_seconds_base": 0.05,
    "job_seconds_per_1000": 0.02,
    "shuffle_results": True,
    "max_upload_bytes": 150 * 1024 * 1024,
    "bulk_records_per_day": 150_000_000,
    "lead_fields_drop": [],  # describe (and ingest) act as if these Lead fields did not exist
}
OPERATIONS = ("insert", "upsert", "update", "delete", "hardDelete")
DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
TERMINAL = ("JobComplete", "Failed", "Aborted")


def _field(name: str, label: str, type_: str = "string", length: int = 0, **extra: Any) -> dict:
    """One describe field."""
    field = {
        "name": name,
        "label": label,
        "type": type_,
        "length": length,
        "nillable": True,
        "createable": True,
        "updateable": True,
        "externalId": False,
        "unique": False,
        "custom": name.endswith("__c"),
        "defaultedOnCreate": False,
        "picklistValues": [],
    }
    field.update(extra)
    return field


def lead_fields() -> list[dict]:
    """The Lead object's fields (API names and lengths of vendor-apis.md §8.5)."""
    statuses = ["Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"]
    return [
        _field(
            "Id",
            "Lead ID",
            "id",
            18,
            nillable=False,
            createable=False,
            updateable=False,
            defaultedOnCreate=True,
        ),
        _field("FirstName", "First Name", length=40),
        _field("LastName", "Last Name", length=80, nillable=False),
        _field("Company", "Company", length=255, nillable=False),
        _field("Title", "Title", length=128),
        _field("Email", "Email", "email", 80),
        _field("Phone", "Phone", "phone", 40),
        _field("MobilePhone", "Mobile Phone", "phone", 40),
        _field("Website", "Website", "url", 255),
        _field("Industry", "Industry", "picklist", 255),
        _field("NumberOfEmployees", "Employees", "int", 0),
        _field("AnnualRevenue", "Annual Revenue", "currency", 0),
        _field("LeadSource", "Lead Source", "picklist", 255),
        _field(
            "Status",
            "Status",
            "picklist",
            255,
            nillable=False,
            defaultedOnCreate=True,
            picklistValues=[
                {"value": s, "label": s, "active": True, "defaultValue": i == 0}
                for i, s in enumerate(statuses)
            ],
        ),
        _field("Street", "Street", "textarea", 255),
        _field("City", "City", length=40),
        _field("State", "State/Province", length=80),
        _field("PostalCode", "Zip/Postal Code", length=20),
        _field("Country", "Country", length=80),
        _field("Description", "Description", "textarea", 32_000),
        _field("LinkedIn_URL__c", "LinkedIn URL", length=255, externalId=True, unique=True),
        _field(
            "CreatedDate", "Created Date", "datetime", 0, nillable=False, createable=False, updateable=False
        ),
        _field(
            "LastModifiedDate",
            "Last Modified Date",
            "datetime",
            0,
            nillable=False,
            createable=False,
            updateable=False,
        ),
    ]


def _sf_error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> Response:
    # Salesforce REST errors are a JSON array.
    return Response.json(status, [{"message": message, "errorCode": code, "fields": []}], headers)


def _accepts_csv(accept: str | None) -> bool:
    """True when an ``Accept`` header admits text/csv (no header admits anything)."""
    if not accept or not accept.strip():
        return True
    kinds = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    return bool(kinds & {"text/csv", "text/*", "*/*"})


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def _csv_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    writer.writerows(rows)
    return out.getvalue()


class Job:
    """One Bulk 2.0 ingest job and what became of its rows."""

    def __init__(self, job_id: str, spec: dict, api_version: str):
        self.id = job_id
        self.spec = spec
        self.api_version = api_version
        self.state = "Open"
        self.created = _now_iso()
        self.modstamp = self.created
        self.csv: bytes | None = None
        self.closed_at: float | None = None
        self.due_at: float | None = None
        self.error_message: str | None = None
        self.header: list[str] = []
        self.successful: list[list[str]] = []
        self.failed: list[list[str]] = []
        self.unprocessed: list[list[str]] = []
        self.rows_total = 0
        self.processing_ms = 0

    def info(self) -> dict:
        """The job info body Salesforce returns."""
        body = {
            "id": self.id,
            "operation": self.spec["operation"],
            "object": self.spec["object"],
            "createdById": "005000000000001AAA",
            "createdDate": self.created,
            "systemModstamp": self.modstamp,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.api_version),
            "contentUrl": f"services/data/v{self.api_version}/jobs/ingest/{self.id}/batches",
            "lineEnding": self.spec["lineEnding"],
            "columnDelimiter": self.spec["columnDelimiter"],
            "jobType": "V2Ingest",
            "numberRecordsProcessed": len(self.successful) + len(self.failed),
            "numberRecordsFailed": len(self.failed),
            "retries": 0,
            "totalProcessingTime": self.processing_ms,
            "apiActiveProcessingTime": self.processing_ms,
            "apexProcessingTime": 0,
        }
        if self.spec.get("externalIdFieldName"):
            body["externalIdFieldName"] = self.spec["externalIdFieldName"]
        if self.error_message:
            body["errorMessage"] = self.error_message
        return body


class SalesforceApp(VendorApp):
    """The Salesforce emulator (Lead object, OAuth, Bulk API 2.0 ingest)."""

    name = "salesforce"
    prefixes = ("/services/",)

    def __init__(self, ctx: SandboxContext):
        super().__init__(ctx)
        self._lock = threading.RLock()
        self._overrides: dict[str, Any] = {}
        self.reset()

    # -- settings, state, stats -----------------------------------------------------------

    def settings(self) -> dict:
        """Effective emulator settings: defaults, a ``vendors.salesforce`` config section, overrides."""
        section = (self.ctx.config.get("vendors") or {}).get(self.name) or {}
        return {**DEFAULT_SETTINGS, **section, **self._overrides}

    def configure(self, patch: Mapping[str, Any]) -> dict:
        """Change emulator settings (unknown names raise ValueError); returns the effective settings."""
        unknown = set(patch) - set(DEFAULT_SETTINGS)
        if unknown:
            raise ValueError(f"unknown salesforce settings: {sorted(unknown)}")
        if "crm_fail_mode" in patch and patch["crm_fail_mode"] not in ("record", "batch"):
            raise ValueError("crm_fail_mode must be 'record' or 'batch'")
        with self._lock:
            self._overrides.update(copy.deepcopy(dict(patch)))
        return self.settings()

    def reset(self) -> None:
        """Empty the org (leads, jobs, tokens), counters and settings overrides."""
        with self._lock:
            self.leads: dict[str, dict] = {}
            self.by_external: dict[str, dict[str, str]] = {}
            self.jobs: dict[str, Job] = {}
            self.uploads: list[dict] = []
            self.tokens: dict[str, float] = {}  # token -> issued at
            self.counters: Counter = Counter()
            self.transient_seen: Counter = Counter()
            self._seq = 0
            self._lead_seq = 0
            self._overrides = {}
            self._rng = random.Random(f"salesforce:{self.ctx.config.get('seed')}")

    def expire_tokens(self) -> int:
        """Expire every issued token (a session timeout); returns how many."""
        with self._lock:
            n = len(self.tokens)
            self.tokens = dict.fromkeys(self.tokens, 0.0)
            return n

    def stats(self) -> dict:
        """Org contents summary and counters."""
        with self._lock:
            states = Counter(j.state for j in self.jobs.values())
            return {
                "leads_total": len(self.leads),
                "leads_created": self.counters["created"],
                "leads_updated": self.counters["updated"],
                "records_failed": self.counters["failed"],
                "records_failed_injected": self.counters["failed_injected"],
                "jobs_total": len(self.jobs),
                "jobs_by_state": dict(states),
                "tokens_issued": self.counters["tokens"],
                "token_rejections": self.counters["invalid_session"],
                "request_limit_refusals": self.counters["request_limit"],
            }

    def leads_snapshot(self) -> list[dict]:
        """Every Lead record the org holds, by id."""
        with self._lock:
            return [copy.deepcopy(self.leads[k]) for k in sorted(self.leads)]

    def uploads_snapshot(self) -> list[dict]:
        """The CSV bodies received, exactly as sent (decoded as UTF-8), oldest first."""
        with self._lock:
            return [dict(u) for u in self.uploads]

    def _fields(self) -> dict[str, dict]:
        dropped = set(self.settings()["lead_fields_drop"] or [])
        return {f["name"]: f for f in lead_fields() if f["name"] not in dropped}

    # -- plumbing -------------------------------------------------------------------------

    def endpoint_of(self, path: str) -> str:
        """Stats label: the path with version and job id folded (``jobs/ingest/{id}/batches``)."""
        match = DATA_RE.match("/" + path.strip("/"))
        if match is None:
            return path.strip("/")
        rest = (match.group(2) or "/").strip("/")
        return re.sub(r"^jobs/ingest/[^/]+", "jobs/ingest/{id}", rest) if rest != "jobs/ingest" else rest

    def fault_response(self, kind: str, req: Request) -> Response:
        """Injected faults in Salesforce's shapes (503 SERVER_UNAVAILABLE, 429-free: SF uses 403)."""
        if kind == "503":
            return _sf_error(503, "SERVER_UNAVAILABLE", "Server is temporarily unavailable")
        if kind == "429":
            return _sf_error(
                429, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.", {"Retry-After": "1"}
            )
        return super().fault_response(kind, req)

    def handle(self, req: Request) -> Response:
        """Admin, token endpoint, then authenticated REST / Bulk calls."""
        path = "/" + req.path.strip("/")
        if path.startswith(ADMIN.rstrip("/")):
            return self._admin(req, path[len(ADMIN) :].strip("/"))
        generic = next((p for p in GENERIC_LOGIN_PREFIXES if path == p + TOKEN_PATH), None)
        if path == TOKEN_PATH or generic:
            return (
                self._token(req, generic_host=generic is not None)
                if req.method == "POST"
                else _sf_error(405, "METHOD_NOT_ALLOWED", "POST only")
            )
        if path == "/services/data":
            return Response.json(
                200, [{"label": "Sandbox", "url": f"/services/data/v{v}", "version": v} for v in VERSIONS]
            )
        match = DATA_RE.match(path)
        if match is None or match.group(1) not in VERSIONS:
            return _sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        if not self._authorised(req):
            with self._lock:
                self.counters["invalid_session"] += 1
            return _sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        refused, headers = self._count_request()
        if refused is not None:
            return refused
        try:
            resp = self._route(req, match.group(1), (match.group(2) or "/").rstrip("/") or "/")
        except BadRequestBody as exc:
            resp = _sf_error(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}")
        resp.headers = {**headers, **resp.headers}
        return resp

    def _count_request(self) -> tuple[Response | None, dict[str, str]]:
        limit = ((self.ctx.config["limits"].get(self.name) or {}).get("api") or {}).get("day")
        if not limit:
            return None, {}
        windows = self.ctx.config.get("windows") or {}
        decision = self.ctx.limiter.acquire(
            self.name, "org", "api", {"day": int(limit)}, {"day": windows.get("day", 86_400)}
        )
        used = decision.windows[0].used if decision.windows else 0
        headers = {"Sforce-Limit-Info": f"api-usage={used}/{int(limit)}"}
        if not decision.allowed:
            with self._lock:
                self.counters["request_limit"] += 1
            return _sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", headers), headers
        return None, headers

    def _authorised(self, req: Request) -> bool:
        auth = req.header("Authorization") or ""
        if not auth.lower().startswith("bearer "):
            return False
        token = auth[7:].strip()
        with self._lock:
            issued = self.tokens.get(token)
        ttl = float(self.settings()["token_ttl_seconds"])
        return issued is not None and time.time() - issued < ttl

    def _admin(self, req: Request, name: str) -> Response:
        try:
            if name == "leads" and req.method == "GET":
                leads = self.leads_snapshot()
                return Response.json(200, {"totalSize": len(leads), "records": leads})
            if name == "uploads" and req.method == "GET":
                return Response.json(200, {"uploads": self.uploads_snapshot()})
            if name == "jobs" and req.method == "GET":
                with self._lock:
                    return Response.json(200, {"jobs": [j.info() for j in self.jobs.values()]})
            if name == "expire_tokens" and req.method == "POST":
                return Response.json(200, {"expired": self.expire_tokens()})
            if name == "settings":
                if req.method == "POST":
                    return Response.json(200, self.configure(req.json() or {}))
                return Response.json(200, self.settings())
        except (ValueError, BadRequestBody) as exc:
            return Response.json(400, {"error": str(exc)})
        return Response.json(404, {"error": f"unknown salesforce admin endpoint {req.method} {name}"})

    # -- OAuth ----------------------------------------------------------------------------

    def _token(self, req: Request, generic_host: bool = False) -> Response:
        try:
            form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8"), keep_blank_values=True).items()}
        except UnicodeDecodeError:
            form = {}
        keys = self.ctx.config["keys"].get(self.name, {})
        clients: dict = keys.get("clients") or {}
        users = set(keys.get("users") or [])
        grant = form.get("grant_type")
        if grant == "client_credentials" and generic_host:
            # login/test.salesforce.com serve every org: they cannot tell whose client this is.
            return Response.json(
                400, {"error": "invalid_grant", "error_description": "request not supported on this domain"}
            )
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = req.header("Authorization") or ""
        if auth.lower().startswith("basic "):
            try:
                client_id, _, secret = base64.b64decode(auth[6:].strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                client_id = secret = None
        if grant == "client_credentials" or grant == "password":
            if client_id not in clients:
                return Response.json(
                    400, {"error": "invalid_client_id", "error_description": "client identifier invalid"}
                )
            if clients[client_id] != secret:
                return Response.json(
                    400, {"error": "invalid_client", "error_description": "invalid client credentials"}
                )
            if grant == "password" and form.get("username") not in users:
                return Response.json(
                    400, {"error": "invalid_grant", "error_description": "authentication failure"}
                )
        elif grant == JWT_GRANT:
            claims = _jwt_claims(form.get("assertion") or "")
            if claims is None or claims.get("iss") not in clients:
                return Response.json(
                    400, {"error": "invalid_client_id", "error_description": "client identifier invalid"}
                )
            if claims.get("sub") not in users:
                return Response.json(
                    400, {"error": "invalid_grant", "error_description": "user hasn't approved this consumer"}
                )
            if not isinstance(claims.get("exp"), int | float) or claims["exp"] < time.time():
                return Response.json(
                    400, {"error": "invalid_grant", "error_description": "expired authorization code"}
                )
        else:
            return Response.json(
                400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"}
            )
        token = "00D000000000001!" + secrets.token_urlsafe(48)
        host = req.header("Host") or "127.0.0.1"
        with self._lock:
            self.tokens[token] = time.time()
            self.counters["tokens"] += 1
        return Response.json(
            200,
            {
                "access_token": token,
                "instance_url": f"http://{host}/{self.name}",
                "id": "https://login.salesforce.com/id/00D000000000001AAA/005000000000001AAA",
                "token_type": "Bearer",
                "issued_at": str(int(time.time() * 1000)),
                "signature": base64.b64encode(secrets.token_bytes(32)).decode(),
                "scope": "api",
            },
        )

    # -- REST / Bulk routing --------------------------------------------------------------

    def _route(self, req: Request, version: str, rest: str) -> Response:
        method = req.method
        if rest.startswith("/sobjects/") and rest.endswith("/describe") and method == "GET":
            obj = rest.split("/")[2]
            if obj != "Lead":
                return _sf_error(404, "NOT_FOUND", f"The requested resource does not exist: {obj}")
            return Response.json(
                200,
                {
                    "name": "Lead",
                    "label": "Lead",
                    "createable": True,
                    "updateable": True,
                    "custom": False,
                    "fields": list(self._fields().values()),
                },
            )
        if rest == "/limits" and method == "GET":
            limit = ((self.ctx.config["limits"].get(self.name) or {}).get("api") or {}).get("day") or 0
            return Response.json(
                200,
                {
                    "DailyApiRequests": {"Max": limit, "Remaining": limit},
                    "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
                },
            )
        if rest == "/jobs/ingest":
            if method == "POST":
                return self._create_job(req, version)
            if method == "GET":
                with self._lock:
                    records = [j.info() for j in self.jobs.values()]
                return Response.json(200, {"done": True, "records": records, "nextRecordsUrl": None})
        m = re.match(
            r"^/jobs/ingest/([^/]+)(?:/(batches|successfulResults|failedResults|unprocessedrecords))?$", rest
        )
        if m:
            with self._lock:
                job = self.jobs.get(m.group(1))
                if job is None:
                    return _sf_error(404, "NOT_FOUND", "The requested resource does not exist")
                return self._job_call(req, job, m.group(2))
        m = re.match(r"^/sobjects/Lead/([^/]+)$", rest)
        if m and method == "DELETE":
            with self._lock:
                record = self.leads.pop(m.group(1), None)
                if record is None:
                    return _sf_error(404, "ENTITY_IS_DELETED", "entity is deleted")
                for ext, idx in self.by_external.items():
                    if idx.get(record.get(ext)) == m.group(1):
                        idx.pop(record[ext])
                self.counters["deleted"] += 1
            return Response(204)
        return _sf_error(404, "NOT_FOUND", "The requested resource does not exist")

    def _create_job(self, req: Request, version: str) -> Response:
        body = req.json()
        if not isinstance(body, dict):
            return _sf_error(400, "INVALIDJOB", "Invalid job request body")
        spec = {
            "object": body.get("object"),
            "operation": body.get("operation"),
            "externalIdFieldName": body.get("externalIdFieldName"),
            "contentType": body.get("contentType", "CSV"),
            "columnDelimiter": body.get("columnDelimiter", "COMMA"),
            "lineEnding": body.get("lineEnding", "LF"),
        }
        if spec["object"] != "Lead":
            return _sf_error(400, "INVALIDJOB", f"Unable to find object: {spec['object']}")
        if spec["operation"] not in OPERATIONS:
            return _sf_error(400, "INVALIDJOB", f"Invalid operation: {spec['operation']}")
        if (
            spec["contentType"] != "CSV"
            or spec["columnDelimiter"] not in DELIMITERS
            or spec["lineEnding"]
            not in (
                "LF",
                "CRLF",
            )
        ):
            return _sf_error(400, "INVALIDJOB", "Invalid contentType, columnDelimiter or lineEnding")
        if spec["operation"] == "upsert":
            ext = self._fields().get(spec["externalIdFieldName"] or "")
            if ext is None or not ext["externalId"]:
                return _sf_error(
                    400,
                    "INVALIDJOB",
                    f"The field {spec['externalIdFieldName']!r} is not an External ID field of Lead",
                )
        with self._lock:
            self._seq += 1
            job = Job(f"7505e00000{self._seq:08d}", spec, version)
            self.jobs[job.id] = job
            return Response.json(200, job.info())

    def _job_call(self, req: Request, job: Job, sub: str | None) -> Response:
        """One call on an existing job (caller holds the lock)."""
        self._advance(job)
        if sub == "batches":
            if req.method != "PUT":
                return _sf_error(405, "METHOD_NOT_ALLOWED", "PUT only")
            if job.state != "Open":
                return _sf_error(400, "INVALIDJOBSTATE", f"Job is not in Open state: {job.state}")
            if job.csv is not None:
                return _sf_error(400, "INVALIDJOBSTATE", "Job already has data; one upload per job")
            if not (req.header("Content-Type") or "").lower().startswith("text/csv"):
                return _sf_error(400, "INVALIDCONTENTTYPE", "Content-Type must be text/csv")
            if len(req.body) > int(self.settings()["max_upload_bytes"]):
                return _sf_error(413, "EXCEEDED_QUOTA", "Upload exceeds the 150 MB limit")
            job.csv = bytes(req.body)
            self.uploads.append({"job_id": job.id, "csv": job.csv.decode("utf-8", "replace")})
            del self.uploads[:-200]  # bounded: the newest uploads are what tests read back
            return Response(201)
        if sub in ("successfulResults", "failedResults", "unprocessedrecords"):
            if req.method != "GET":
                return _sf_error(405, "METHOD_NOT_ALLOWED", "GET only")
            if not _accepts_csv(req.header("Accept")):
                return _sf_error(
                    406, "NOT_ACCEPTABLE", f"{sub} is CSV: send Accept: text/csv (got {req.header('Accept')!r})"
                )
            if job.state not in TERMINAL:
                return _sf_error(400, "INVALIDJOBSTATE", f"Job is not complete: {job.state}")
            if sub == "successfulResults":
                text = _csv_text([["sf__Id", "sf__Created", *job.header], *job.successful])
            elif sub == "failedResults":
                text = _csv_text([["sf__Id", "sf__Error", *job.header], *job.failed])
            else:
                text = _csv_text([job.header, *job.unprocessed]) if job.header else ""
            return Response.text(200, text, "text/csv; charset=UTF-8")
        if req.method == "GET":
            return Response.json(200, job.info())
        if req.method == "DELETE":
            if job.state not in TERMINAL:
                return _sf_error(
                    400, "INVALIDJOBSTATE", "Only a completed, failed or aborted job can be deleted"
                )
            del self.jobs[job.id]
            return Response(204)
        if req.method == "PATCH":
            body = req.json()
            target = body.get("state") if isinstance(body, dict) else None
            if target == "UploadComplete":
                if job.state != "Open":
                    return _sf_error(400, "INVALIDJOBSTATE", f"Job is not in Open state: {job.state}")
                job.state = "UploadComplete"
                job.closed_at = time.time()
                rows = job.csv.count(b"\n") if job.csv else 0
                s = self.settings()
                job.due_at = (
                    job.closed_at
                    + float(s["job_seconds_base"])
                    + float(s["job_seconds_per_1000"]) * rows / 1000
                )
            elif target == "Aborted":
                if job.state in TERMINAL:
                    return _sf_error(400, "INVALIDJOBSTATE", f"Job is already {job.state}")
                job.state = "Aborted"
                job.unprocessed = self._rows(job)[1] if job.csv else []
            else:
                return _sf_error(400, "INVALIDJOBSTATE", f"Invalid state change: {target}")
            job.modstamp = _now_iso()
            return Response.json(200, job.info())
        return _sf_error(405, "METHOD_NOT_ALLOWED", f"{req.method} not allowed")

    # -- processing -----------------------------------------------------------------------

    def _advance(self, job: Job) -> None:
        """Move a closed job along its state machine as time passes (processing happens lazily)."""
        if job.state not in ("UploadComplete", "InProgress") or job.due_at is None:
            return
        now = time.time()
        if job.state == "UploadComplete":
            job.state = "InProgress"
        if now >= job.due_at:
            started = time.perf_counter()
            self._process(job)
            job.processing_ms = int(
                (time.perf_counter() - started) * 1000 + (job.due_at - job.closed_at) * 1000
            )
            job.modstamp = _now_iso()

    def _rows(self, job: Job) -> tuple[list[str], list[list[str]]]:
        text = (job.csv or b"").decode("utf-8", "replace")
        if job.spec["lineEnding"] == "CRLF":
            text = text.replace("\r\n", "\n")
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITERS[job.spec["columnDelimiter"]])
        rows = [r for r in reader if r]
        return (rows[0], rows[1:]) if rows else ([], [])

    def _fail_job(self, job: Job, message: str, rows: list[list[str]]) -> None:
        job.state = "Failed"
        job.error_message = message
        job.unprocessed = rows
        self.counters["jobs_failed"] += 1

    def _process(self, job: Job) -> None:
        try:
            header, rows = self._rows(job)
        except csv.Error as exc:
            self._fail_job(job, f"InvalidBatch : Failed to parse CSV: {exc}", [])
            return
        job.header = header
        job.rows_total = len(rows)
        fields = self._fields()
        unknown = [h for h in header if h not in fields or not fields[h]["createable"]]
        if unknown:
            self._fail_job(job, f"InvalidBatch : Field name not found : {unknown[0]}", rows)
            return
        ext = job.spec.get("externalIdFieldName")
        if job.spec["operation"] == "upsert" and ext not in header:
            self._fail_job(
                job, f"InvalidBatch : Field name provided, {ext} does not match an External ID for Lead", rows
            )
            return
        if job.spec["operation"] not in ("insert", "upsert"):
            self._fail_job(job, f"InvalidBatch : operation {job.spec['operation']} is not emulated", rows)
            return
        if any(len(r) != len(header) for r in rows):
            bad = next(i for i, r in enumerate(rows) if len(r) != len(header))
            self._fail_job(
                job,
                f"InvalidBatch : Failed to parse CSV: row {bad + 2} has {len(rows[bad])} columns, "
                f"the header {len(header)}",
                rows,
            )
            return
        day = self.counters["bulk_records_today"] + len(rows)
        if day > int(self.settings()["bulk_records_per_day"]):
            self._fail_job(
                job, "InvalidBatch : Exceeded the 24-hour limit of records processed by Bulk API", rows
            )
            return
        self.counters["bulk_records_today"] = day
        outcomes = [self._check_row(header, row, fields, ext) for row in rows]
        if job.spec["operation"] == "upsert":
            keys = Counter(row[header.index(ext)] for row in rows)
            for i, row in enumerate(rows):
                value = row[header.index(ext)]
                if value and keys[value] > 1 and outcomes[i] is None:
                    outcomes[i] = f"DUPLICATE_EXTERNAL_ID:Duplicate external id specified: {value}:{ext} --"
        if self.settings()["crm_fail_mode"] == "batch" and any(o is not None for o in outcomes):
            first = next(i for i, o in enumerate(outcomes) if o is not None)
            self.counters["failed_injected"] += sum(
                1 for o in outcomes if o and o.startswith(("FIELD_CUSTOM", "UNABLE"))
            )
            self._fail_job(job, f"InvalidBatch : record {first + 1} rejected: {outcomes[first]}", rows)
            return
        successful, failed = [], []
        for row, error in zip(rows, outcomes, strict=True):
            existing = self._existing(header, row, ext, job.spec["operation"])
            if error is None and existing is None:
                error = self._required_missing(header, row)
            if error is not None:
                self.counters["failed"] += 1
                self.counters["failed_injected"] += error.startswith(("FIELD_CUSTOM", "UNABLE"))
                failed.append([existing or "", error, *row])
                continue
            lead_id, created = self._write(header, row, existing, ext)
            successful.append([lead_id, "true" if created else "false", *row])
        if self.settings()["shuffle_results"]:
            self._rng.shuffle(successful)
            self._rng.shuffle(failed)
        job.successful, job.failed = successful, failed
        job.state = "JobComplete"

    def _check_row(self, header: list[str], row: list[str], fields: dict, ext: str | None) -> str | None:
        """The first record-level error of a row, or None."""
        for name, value in zip(header, row, strict=True):
            if value == "" or value == "#N/A":
                continue
            field = fields[name]
            if field["type"] in ("int", "currency", "double", "percent"):
                try:
                    float(value)
                except ValueError:
                    return (
                        f"INVALID_TYPE_ON_FIELD_IN_RECORD:{field['label']}: value not of required type: "
                        f"{value[:40]}:{name} --"
                    )
            elif field["length"] and len(value) > field["length"]:
                return (
                    f"STRING_TOO_LONG:{field['label']}: data value too large: {value[:40]} "
                    f"(max length={field['length']}):{name} --"
                )
            if field["type"] == "email" and not EMAIL_RE.match(value):
                return (
                    f"INVALID_EMAIL_ADDRESS:{field['label']}: invalid email address: {value[:40]}:{name} --"
                )
        key = row[header.index(ext)] if ext in header else ""
        if ext and not key:
            return f"MISSING_ARGUMENT:{ext} not specified:--"
        return self._injected(key or "|".join(row))

    def _injected(self, key: str) -> str | None:
        s = self.settings()
        kind = fail_kind(
            int(self.ctx.config.get("seed") or 0),
            self.name,
            key,
            float(s["crm_fail_rate"]),
            float(s["crm_transient_share"]),
        )
        if kind == "transient":
            if self.transient_seen[key] >= int(s["crm_transient_failures"]):
                return None
            self.transient_seen[key] += 1
            return "UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or 1 records:--"
        if kind == "permanent":
            return "FIELD_CUSTOM_VALIDATION_EXCEPTION:Lead rejected by validation rule Sandbox_Lead_Rule:--"
        return None

    def _existing(self, header: list[str], row: list[str], ext: str | None, operation: str) -> str | None:
        if operation != "upsert" or not ext:
            return None
        return self.by_external.get(ext, {}).get(row[header.index(ext)])

    @staticmethod
    def _required_missing(header: list[str], row: list[str]) -> str | None:
        values = dict(zip(header, row, strict=True))
        missing = [f for f in ("LastName", "Company") if not values.get(f) or values.get(f) == "#N/A"]
        if missing:
            return (
                f"REQUIRED_FIELD_MISSING:Required fields are missing: [{', '.join(missing)}]:{missing[0]} --"
            )
        return None

    def _write(
        self, header: list[str], row: list[str], existing: str | None, ext: str | None
    ) -> tuple[str, bool]:
        now = _now_iso()
        if existing is None:
            self._lead_seq += 1
            lead_id = f"00Q5e00000{self._lead_seq:08d}"
            record = {"Id": lead_id, "Status": "Open - Not Contacted", "CreatedDate": now}
            self.leads[lead_id] = record
            self.counters["created"] += 1
        else:
            lead_id, record = existing, self.leads[existing]
            self.counters["updated"] += 1
        for name, value in zip(header, row, strict=True):
            if value == "":
                continue  # Bulk API: an empty cell leaves the field as it is
            record[name] = None if value == "#N/A" else value
        record["LastModifiedDate"] = now
        if ext and record.get(ext):
            self.by_external.setdefault(ext, {})[record[ext]] = lead_id
        return lead_id, existing is None


def _jwt_claims(assertion: str) -> dict | None:
    """The claims of a JWT (unverified: the sandbox has no certificate to check the signature with)."""
    parts = assertion.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, UnicodeDecodeError):
        return None
    return claims if isinstance(claims, dict) else None


def create_app(ctx: SandboxContext) -> SalesforceApp:
    """Entry point the server's vendor registry calls."""
    return SalesforceApp(ctx)
