"""CRM export configuration: `config/crm.yaml` (mapping, rules, batching) plus the environment.

The YAML holds what is versioned with the code; the environment says which CRM to use and
how to reach it:

| variable | default | what it is |
|---|---|---|
| `CRM_TARGET` | unset | `hubspot` or `salesforce`; unset: no CRM sync (the status says so) |
| `HUBSPOT_BASE_URL` | `https://api.hubapi.com` | HubSpot API base URL (or the sandbox) |
| `HUBSPOT_ACCESS_TOKEN` | unset | private app token (scopes: crm.objects.contacts.read/.write, crm.schemas.contacts.read/.write) |
| `HUBSPOT_LINKEDIN_ID_PROPERTY` | `lead_sprint_linkedin_url` | unique contact property holding the canonical LinkedIn URL |
| `HUBSPOT_ACCOUNT_TIME_ZONE` | unset (UTC) | the portal's time zone: its DAILY API limit resets at that midnight |
| `SALESFORCE_LOGIN_URL` | unset | token host: the org's My Domain (required for client credentials); JWT: login.salesforce.com |
| `SALESFORCE_CLIENT_ID`, `SALESFORCE_CLIENT_SECRET` | unset | connected app credentials |
| `SALESFORCE_API_VERSION` | `62.0` | REST/Bulk API version |
| `SALESFORCE_EXTERNAL_ID_FIELD` | `LinkedIn_URL__c` | External ID field on Lead holding the canonical LinkedIn URL |
| `SALESFORCE_AUTH_FLOW` | `client_credentials` | or `jwt_bearer` with `SALESFORCE_USERNAME` and `SALESFORCE_JWT_KEY_FILE` |

Nothing here imports Dagster or a client.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from lead_assets.core.lead_schema import LEAD_COLUMNS

CRM_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config" / "crm.yaml"
CRMS = ("hubspot", "salesforce")
FIELD_TYPES = ("string", "number")
TOO_LONG_RULES = ("truncate", "reject")
HUBSPOT_BATCH_MAX = 100


@dataclass(frozen=True)
class FieldRule:
    """One lead field -> one CRM field, with its length rule."""

    lead_field: str
    target: str
    type: str = "string"
    max_length: int | None = None
    on_too_long: str = "reject"
    fallback: str | None = None
    required: bool = False


@dataclass(frozen=True)
class HubSpotSettings:
    """How to reach HubSpot and what to send it."""

    base_url: str
    access_token: str | None
    linkedin_id_property: str
    account_time_zone: str | None  # IANA name; None: UTC
    batch_size: int
    ten_second_limit: int
    daily_limit: int | None
    margin_seconds: float
    timeout: tuple[float, float]
    max_attempts: int
    permanent_categories: frozenset[str]
    fields: tuple[FieldRule, ...]
    custom_properties: tuple[dict, ...]


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


@dataclass(frozen=True)
class CrmConfig:
    """The whole CRM export configuration; `target` None means no CRM sync."""

    target: str | None
    max_attempts_per_record: int
    max_records_per_run: int | None
    max_consecutive_call_failures: int
    hubspot: HubSpotSettings
    salesforce: SalesforceSettings
    version: int = 1
    extra: dict = field(default_factory=dict)

    def rules(self, crm: str) -> tuple[FieldRule, ...]:
        """The field rules of `crm`."""
        return self.hubspot.fields if crm == "hubspot" else self.salesforce.fields

    def with_target(self, target: str | None) -> CrmConfig:
        """The same configuration aimed at another CRM (or none)."""
        return replace(self, target=_target(target))


def _target(value: str | None) -> str | None:
    value = (value or "").strip().lower() or None
    if value is not None and value not in CRMS:
        raise ValueError(f"CRM_TARGET must be one of {CRMS} or unset, not {value!r}")
    return value


def _rules(raw: Mapping[str, Any], target_key: str, section: str) -> tuple[FieldRule, ...]:
    rules = []
    for lead_field, spec in (raw or {}).items():
        if lead_field not in LEAD_COLUMNS:
            raise ValueError(f"crm.yaml {section}.fields: {lead_field!r} is not a lead column")
        if not isinstance(spec, Mapping) or not spec.get(target_key):
            raise ValueError(f"crm.yaml {section}.fields.{lead_field} needs a {target_key!r}")
        rule = FieldRule(
            lead_field=lead_field,
            target=str(spec[target_key]),
            type=str(spec.get("type", "string")),
            max_length=int(spec["max_length"]) if spec.get("max_length") else None,
            on_too_long=str(spec.get("on_too_long", "reject")),
            fallback=spec.get("fallback"),
            required=bool(spec.get("required", False)),
        )
        if rule.type not in FIELD_TYPES:
            raise ValueError(f"crm.yaml {section}.fields.{lead_field}: type must be one of {FIELD_TYPES}")
        if rule.on_too_long not in TOO_LONG_RULES:
            raise ValueError(
                f"crm.yaml {section}.fields.{lead_field}: on_too_long must be one of {TOO_LONG_RULES}"
            )
        if rule.fallback is not None and rule.fallback not in LEAD_COLUMNS:
            raise ValueError(
                f"crm.yaml {section}.fields.{lead_field}: fallback {rule.fallback!r} is not a lead column"
            )
        rules.append(rule)
    targets = [r.target for r in rules]
    dupes = sorted({t for t in targets if targets.count(t) > 1})
    if dupes:
        raise ValueError(f"crm.yaml {section}.fields map several lead fields to {dupes}")
    return tuple(rules)


def _time_zone(name: str | None) -> str | None:
    if not name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"HUBSPOT_ACCOUNT_TIME_ZONE={name!r} is not an IANA time zone (e.g. America/New_York)"
        ) from None
    return name


def _pair(value: Any, default: tuple[float, float]) -> tuple[float, float]:
    if not value:
        return default
    a, b = value
    return float(a), float(b)


def load_crm_config(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None) -> CrmConfig:
    """Parse `crm.yaml` (or `path`) and apply the environment (`env`, default `os.environ`)."""
    env = os.environ if env is None else env
    raw = yaml.safe_load(Path(path or CRM_CONFIG_PATH).read_text())
    sync, hs, sf = raw.get("sync") or {}, raw.get("hubspot") or {}, raw.get("salesforce") or {}
    limits = hs.get("rate_limit") or {}
    batch_size = int(hs.get("batch_size", HUBSPOT_BATCH_MAX))
    if not 1 <= batch_size <= HUBSPOT_BATCH_MAX:
        raise ValueError(f"crm.yaml hubspot.batch_size must be 1..{HUBSPOT_BATCH_MAX}")
    hubspot = HubSpotSettings(
        base_url=env.get("HUBSPOT_BASE_URL") or hs.get("base_url", "https://api.hubapi.com"),
        access_token=env.get("HUBSPOT_ACCESS_TOKEN") or None,
        linkedin_id_property=env.get("HUBSPOT_LINKEDIN_ID_PROPERTY")
        or hs.get("linkedin_id_property", "lead_sprint_linkedin_url"),
        account_time_zone=_time_zone(env.get("HUBSPOT_ACCOUNT_TIME_ZONE") or hs.get("account_time_zone")),
        batch_size=batch_size,
        ten_second_limit=int(limits.get("ten_secondly", 100)),
        daily_limit=int(limits["day"]) if limits.get("day") else None,
        margin_seconds=float(hs.get("margin_seconds", 0.2)),
        timeout=_pair(hs.get("timeout_seconds"), (5.0, 30.0)),
        max_attempts=int(hs.get("max_attempts", 3)),
        permanent_categories=frozenset(hs.get("permanent_categories") or ()),
        fields=_rules(hs.get("fields"), "property", "hubspot"),
        custom_properties=tuple(dict(p) for p in hs.get("custom_properties") or ()),
    )
    salesforce = SalesforceSettings(
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
        timeout=_pair(sf.get("timeout_seconds"), (5.0, 60.0)),
        max_attempts=int(sf.get("max_attempts", 3)),
        permanent_errors=frozenset(sf.get("permanent_errors") or ()),
        fields=_rules(sf.get("fields"), "field", "salesforce"),
    )
    cap = sync.get("max_records_per_run")
    return CrmConfig(
        target=_target(env.get("CRM_TARGET")),
        max_attempts_per_record=int(sync.get("max_attempts_per_record", 3)),
        max_records_per_run=int(cap) if cap else None,
        max_consecutive_call_failures=int(sync.get("max_consecutive_call_failures", 3)),
        hubspot=hubspot,
        salesforce=salesforce,
        version=int(raw.get("version", 1)),
    )
