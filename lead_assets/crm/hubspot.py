"""HubSpot as a CRM adapter: settings, client, mapping validation, setup and erasure.

The send path (payloads, batch upserts, outcomes) is `hubspot_run.HubSpotRun`.

| variable | default | what it is |
|---|---|---|
| `HUBSPOT_BASE_URL` | `https://api.hubapi.com` | HubSpot API base URL (or the sandbox) |
| `HUBSPOT_ACCESS_TOKEN` | unset | private app token (scopes: crm.objects.contacts.read/.write, crm.schemas.contacts.read/.write) |
| `HUBSPOT_LINKEDIN_ID_PROPERTY` | `lead_sprint_linkedin_url` | unique contact property holding the canonical LinkedIn URL |
| `HUBSPOT_ACCOUNT_TIME_ZONE` | unset (UTC) | the portal's time zone: its DAILY API limit resets at that midnight |

Erasure: HubSpot's GDPR delete (`POST /crm/v3/objects/contacts/gdpr-delete`) of each contact
found, by the id the sync recorded or else by a search on the person's emails and LinkedIn id
property; when none is found the delete by email is still sent, which blocklists the address.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lead_assets.clients.errors import VendorRequestError
from lead_assets.clients.hubspot import DailyLimitReached, HubSpotClient
from lead_assets.core.crm_config import CrmConfig, FieldRule, field_rules, timeout_pair
from lead_assets.core.crm_mapping import MappingReport, record_check
from lead_assets.crm.adapter import CrmAdapter, ErasureSubject
from lead_assets.crm.hubspot_run import HubSpotRun
from lead_assets.crm.setup import SetupReport

HUBSPOT_BATCH_MAX = 100
HUBSPOT_TEXT_TYPES = frozenset({"string"})
HUBSPOT_NUMBER_TYPES = frozenset({"number"})


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


def validate_hubspot_mapping(
    rules: Sequence[FieldRule], properties: Sequence[Mapping], id_property: str
) -> MappingReport:
    """Check every mapped property exists, is writable and takes what we send; and the unique id property."""
    report = MappingReport("hubspot")
    props = {p.get("name"): p for p in properties if not p.get("archived")}
    for rule in rules:
        prop = props.get(rule.target)
        if prop is None:
            record_check(report, rule.lead_field, rule.target, rule.type, "-",
                         "property does not exist in the portal (run `lead-sprint crm setup` for custom ones)")
            continue
        crm_type = str(prop.get("type"))
        problem = None
        if (prop.get("modificationMetadata") or {}).get("readOnlyValue"):
            problem = "property is read-only"
        elif rule.type == "string" and crm_type not in HUBSPOT_TEXT_TYPES:
            problem = f"mistyped: the mapping sends text, the property is {crm_type}"
        elif rule.type == "number" and crm_type not in HUBSPOT_NUMBER_TYPES | HUBSPOT_TEXT_TYPES:
            problem = f"mistyped: the mapping sends a number, the property is {crm_type}"
        record_check(report, rule.lead_field, rule.target, rule.type, crm_type, problem)
    prop = props.get(id_property)
    if prop is None:
        problem, crm_type = "unique id property does not exist (run `lead-sprint crm setup`)", "-"
    else:
        crm_type = str(prop.get("type"))
        problem = None
        if not prop.get("hasUniqueValue"):
            problem = "id property must have hasUniqueValue=true to upsert by it"
        elif crm_type != "string":
            problem = f"mistyped: the id property must be a string, it is {crm_type}"
    record_check(report, "linkedin_url", id_property, "string (unique id)", crm_type, problem)
    return report


def hubspot_property_definitions(config: CrmConfig) -> list[dict]:
    """The unique LinkedIn id property plus the configured custom properties, as POST bodies."""
    hs = config.settings["hubspot"]
    defs = [
        {
            "name": hs.linkedin_id_property,
            "label": "LinkedIn URL (canonical, lead-sprint)",
            "description": "Canonical LinkedIn profile URL; lead-sprint upserts contacts without an email by it.",
            "type": "string",
            "fieldType": "text",
            "groupName": "contactinformation",
            "hasUniqueValue": True,
        }
    ]
    for prop in hs.custom_properties:
        defs.append({"groupName": "contactinformation", "description": "Written by lead-sprint.", **prop})
    return defs


class HubSpotAdapter(CrmAdapter):
    """HubSpot contacts, upserted by email or the unique LinkedIn id property."""

    name = "hubspot"
    label = "HubSpot"
    run_class = HubSpotRun
    deferral_errors = (DailyLimitReached,)

    def load_settings(self, section: Mapping[str, Any], env: Mapping[str, str]) -> HubSpotSettings:
        hs, limits = section, section.get("rate_limit") or {}
        batch_size = int(hs.get("batch_size", HUBSPOT_BATCH_MAX))
        if not 1 <= batch_size <= HUBSPOT_BATCH_MAX:
            raise ValueError(f"crm.yaml hubspot.batch_size must be 1..{HUBSPOT_BATCH_MAX}")
        return HubSpotSettings(
            base_url=env.get("HUBSPOT_BASE_URL") or hs.get("base_url", "https://api.hubapi.com"),
            access_token=env.get("HUBSPOT_ACCESS_TOKEN") or None,
            linkedin_id_property=env.get("HUBSPOT_LINKEDIN_ID_PROPERTY")
            or hs.get("linkedin_id_property", "lead_sprint_linkedin_url"),
            account_time_zone=_time_zone(env.get("HUBSPOT_ACCOUNT_TIME_ZONE") or hs.get("account_time_zone")),
            batch_size=batch_size,
            ten_second_limit=int(limits.get("ten_secondly", 100)),
            daily_limit=int(limits["day"]) if limits.get("day") else None,
            margin_seconds=float(hs.get("margin_seconds", 0.2)),
            timeout=timeout_pair(hs.get("timeout_seconds"), (5.0, 30.0)),
            max_attempts=int(hs.get("max_attempts", 3)),
            permanent_categories=frozenset(hs.get("permanent_categories") or ()),
            fields=field_rules(hs.get("fields"), "property", "hubspot"),
            custom_properties=tuple(dict(p) for p in hs.get("custom_properties") or ()),
        )

    def build_client(self, config: CrmConfig, *, logger: logging.Logger | None = None, sleep=None) -> HubSpotClient:
        hs = self.settings(config)
        if not hs.access_token:
            raise ValueError("CRM_TARGET=hubspot needs HUBSPOT_ACCESS_TOKEN")
        return HubSpotClient(
            hs.base_url,
            hs.access_token,
            ten_second_limit=hs.ten_second_limit,
            daily_limit=hs.daily_limit,
            margin=hs.margin_seconds,
            account_time_zone=hs.account_time_zone,
            timeout=hs.timeout,
            max_attempts=hs.max_attempts,
            logger=logger,
            sleep=sleep,
        )

    def identity_field(self, config: CrmConfig) -> str:
        return self.settings(config).linkedin_id_property

    def erasure_search_property(self, config: CrmConfig) -> str | None:
        return self.settings(config).linkedin_id_property

    def validate_mapping(self, client: Any, config: CrmConfig) -> MappingReport:
        hs = self.settings(config)
        return validate_hubspot_mapping(hs.fields, client.list_properties(), hs.linkedin_id_property)

    def setup(self, client: Any, config: CrmConfig, log: logging.Logger) -> SetupReport:
        """Create the unique LinkedIn id property and the custom properties the portal lacks."""
        present = {p.get("name") for p in client.list_properties() if not p.get("archived")}
        created, existing = [], []
        for definition in hubspot_property_definitions(config):
            if definition["name"] in present:
                existing.append(definition["name"])
                continue
            if client.create_property(definition) is not None:
                created.append(definition["name"])
                log.info("created HubSpot contact property %s", definition["name"])
            else:
                existing.append(definition["name"])
        return SetupReport(self.name, created, existing, self.validate_mapping(client, config))

    def erase(self, client: Any, subject: ErasureSubject) -> list[str]:
        """Delete every contact found for the person; blocklist their emails when none was found.

        A contact counts as found when the sync state recorded its id or a search finds it by email
        or by the LinkedIn id property; only such a contact's delete is audited `deleted`.
        """
        recorded = sorted(subject.crm_ids)
        outcomes = [_gdpr_delete(client, i) for i in recorded]
        if "deleted" in outcomes:
            return outcomes
        found: list[str] = []
        searches = [("email", e) for e in sorted(subject.emails)]
        if subject.search_property:
            searches += [(subject.search_property, u) for u in sorted(subject.linkedin_urls)]
        for prop, value in searches:
            found += [i for i in client.search_ids(prop, value) if i not in found and i not in recorded]
        outcomes += [_gdpr_delete(client, i) for i in found]
        if "deleted" in outcomes or "unsupported" in outcomes:
            return outcomes
        for email in sorted(subject.emails):
            # No contact holds the address: HubSpot still answers 204 and blocklists it (never "deleted").
            client.gdpr_delete(email, id_property="email")
            outcomes.append("not_found_blocklisted")
        return outcomes


def _gdpr_delete(client: Any, contact_id: str) -> str:
    try:
        client.gdpr_delete(contact_id)
    except VendorRequestError as exc:
        if exc.status == 404:
            return "unsupported" if "No route" in str(exc) else "not_found"
        raise
    return "deleted"
