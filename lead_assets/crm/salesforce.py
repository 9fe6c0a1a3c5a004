"""Salesforce as a CRM adapter: settings, client, mapping validation, Bulk API 2.0 run, setup, erasure.

| variable | default | what it is |
|---|---|---|
| `SALESFORCE_LOGIN_URL` | unset | token host: the org's My Domain (required for client credentials); JWT: login.salesforce.com |
| `SALESFORCE_CLIENT_ID`, `SALESFORCE_CLIENT_SECRET` | unset | connected app credentials |
| `SALESFORCE_API_VERSION` | `62.0` | REST/Bulk API version |
| `SALESFORCE_EXTERNAL_ID_FIELD` | `LinkedIn_URL__c` | External ID field on Lead holding the canonical LinkedIn URL |
| `SALESFORCE_AUTH_FLOW` | `client_credentials` | or `jwt_bearer` with `SALESFORCE_USERNAME` and `SALESFORCE_JWT_KEY_FILE` |

Leads are upserted on the External ID by Bulk API 2.0 ingest jobs (CSV, `salesforce_run.csv_payload`); a job
that fails as a whole is resubmitted in halves until the bad record stands alone. Fields cannot
be created through these APIs: `setup` only validates and lists what an admin must add.
Erasure: `DELETE /sobjects/Lead/{id}` of each lead id the sync recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lead_assets.clients.errors import VendorRequestError
from lead_assets.clients.salesforce import CrmAuthError, CrmLimitError, SalesforceClient
from lead_assets.core.crm_config import CrmConfig, FieldRule, field_rules, timeout_pair
from lead_assets.core.crm_mapping import MappingReport, record_check
from lead_assets.crm.adapter import CrmAdapter, ErasureSubject
from lead_assets.crm.salesforce_run import SalesforceRun
from lead_assets.crm.setup import SetupReport

SF_TEXT_TYPES = frozenset(
    {"string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox", "encryptedstring"}
)
SF_NUMBER_TYPES = frozenset({"int", "double", "currency", "percent", "long"})


@dataclass(frozen=True)
class SalesforceSettings:
    """How to reach Salesforce and what to send it."""

    login_url: str | None  # None: no default can work for client credentials (the client says so)
    client_id: str | None
    client_secret: str | None
    api_version: str
    external_id_field: str
    auth_flow: str
    username: str | None
    jwt_key_file: str | None
    job_size: int
    max_job_bytes: int
    poll_interval: float
    poll_max_interval: float
    job_timeout: float
    timeout: tuple[float, float]
    max_attempts: int
    permanent_errors: frozenset[str]
    fields: tuple[FieldRule, ...]


def validate_salesforce_mapping(
    rules: Sequence[FieldRule], describe: Mapping, external_id_field: str
) -> MappingReport:
    """Check fields exist, are createable/updateable, type-compatible; the External ID; required fields mapped."""
    report = MappingReport("salesforce")
    fields = {f.get("name"): f for f in describe.get("fields") or []}
    for rule in rules:
        f = fields.get(rule.target)
        if f is None:
            record_check(report, rule.lead_field, rule.target, rule.type, "-",
                         f"field does not exist on {describe.get('name', 'Lead')}")
            continue
        crm_type = str(f.get("type"))
        problem = None
        if not f.get("createable") or not f.get("updateable"):
            problem = "field is not createable and updateable"
        elif rule.type == "string" and crm_type not in SF_TEXT_TYPES:
            problem = f"mistyped: the mapping sends text, the field is {crm_type}"
        elif rule.type == "number" and crm_type not in SF_NUMBER_TYPES | SF_TEXT_TYPES:
            problem = f"mistyped: the mapping sends a number, the field is {crm_type}"
        if f.get("length"):
            report.max_lengths[rule.target] = int(f["length"])
        record_check(report, rule.lead_field, rule.target, rule.type, crm_type, problem)
    _check_external_id(report, fields.get(external_id_field), external_id_field)
    mapped = {r.target for r in rules} | {external_id_field}
    for name, f in fields.items():
        required = not f.get("nillable", True) and f.get("createable") and not f.get("defaultedOnCreate")
        if required and name not in mapped:
            report.problems.append(
                f"{name}: required on {describe.get('name', 'Lead')} but no lead field maps to it"
            )
    return report


def _check_external_id(report: MappingReport, f: Mapping | None, external_id_field: str) -> None:
    if f is None:
        problem, crm_type = "External ID field does not exist (create it in Setup: Text, External ID, Unique)", "-"
    else:
        crm_type = str(f.get("type"))
        problem = None if f.get("externalId") else "field is not marked External ID"
        if f.get("length"):
            report.max_lengths[external_id_field] = int(f["length"])
    record_check(report, "linkedin_url", external_id_field, "string (external id)", crm_type, problem)


class SalesforceAdapter(CrmAdapter):
    """Salesforce Leads, upserted on the External ID field by Bulk API 2.0."""

    name = "salesforce"
    label = "Salesforce"
    run_class = SalesforceRun
    stop_errors = (CrmAuthError, CrmLimitError)

    def load_settings(self, section: Mapping[str, Any], env: Mapping[str, str]) -> SalesforceSettings:
        sf = section
        return SalesforceSettings(
            login_url=env.get("SALESFORCE_LOGIN_URL") or sf.get("login_url") or None,
            client_id=env.get("SALESFORCE_CLIENT_ID") or None,
            client_secret=env.get("SALESFORCE_CLIENT_SECRET") or None,
            api_version=str(env.get("SALESFORCE_API_VERSION") or sf.get("api_version", "62.0")).lstrip("v"),
            external_id_field=env.get("SALESFORCE_EXTERNAL_ID_FIELD")
            or sf.get("external_id_field", "LinkedIn_URL__c"),
            auth_flow=env.get("SALESFORCE_AUTH_FLOW") or sf.get("auth_flow", "client_credentials"),
            username=env.get("SALESFORCE_USERNAME") or None,
            jwt_key_file=env.get("SALESFORCE_JWT_KEY_FILE") or None,
            job_size=int(sf.get("job_size", 10_000)),
            max_job_bytes=int(sf.get("max_job_bytes", 100_000_000)),
            poll_interval=float(sf.get("poll_interval_seconds", 0.5)),
            poll_max_interval=float(sf.get("poll_max_interval_seconds", 5.0)),
            job_timeout=float(sf.get("job_timeout_seconds", 3600)),
            timeout=timeout_pair(sf.get("timeout_seconds"), (5.0, 60.0)),
            max_attempts=int(sf.get("max_attempts", 3)),
            permanent_errors=frozenset(sf.get("permanent_errors") or ()),
            fields=field_rules(sf.get("fields"), "field", "salesforce"),
        )

    def build_client(self, config: CrmConfig, *, logger: logging.Logger | None = None,
                     sleep=None) -> SalesforceClient:
        sf = self.settings(config)
        if not sf.client_id:
            raise ValueError("CRM_TARGET=salesforce needs SALESFORCE_CLIENT_ID (and a secret or a JWT key)")
        key = Path(sf.jwt_key_file).read_text() if sf.jwt_key_file else None
        return SalesforceClient(
            sf.login_url,
            sf.client_id,
            sf.client_secret,
            api_version=sf.api_version,
            auth_flow=sf.auth_flow,
            username=sf.username,
            private_key=key,
            timeout=sf.timeout,
            max_attempts=sf.max_attempts,
            logger=logger,
            sleep=sleep,
        )

    def identity_field(self, config: CrmConfig) -> str:
        return self.settings(config).external_id_field

    def validate_mapping(self, client: Any, config: CrmConfig) -> MappingReport:
        sf = self.settings(config)
        return validate_salesforce_mapping(sf.fields, client.describe("Lead"), sf.external_id_field)

    def setup(self, client: Any, config: CrmConfig, log: logging.Logger) -> SetupReport:
        """Nothing to create through these APIs: the report lists what an admin must add in Setup."""
        return SetupReport(self.name, [], [], self.validate_mapping(client, config))

    def erase(self, client: Any, subject: ErasureSubject) -> list[str]:
        """Delete each Lead the sync recorded for the person."""
        return [_delete_lead(client, i) for i in sorted(subject.crm_ids)]


def _delete_lead(client: Any, crm_id: str) -> str:
    try:
        client._call("DELETE", f"/sobjects/Lead/{crm_id}", expect_json=False)
    except VendorRequestError as exc:
        if exc.status == 404:
            return "not_found"
        raise
    return "deleted"
