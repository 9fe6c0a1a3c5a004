"""The registered CRMs: `CRMS` maps each `CRM_TARGET` value to its adapter.

Everything that depends on which CRM is configured asks here (the sync, setup, erasure, the
resource, the CLI, `CRM_TARGET` validation); nothing else compares CRM names. A new CRM is one
adapter module plus one entry below.
"""

from __future__ import annotations

import logging
from typing import Any

from lead_assets.core.crm_config import CrmConfig
from lead_assets.crm.adapter import CrmAdapter
from lead_assets.crm.hubspot import HubSpotAdapter
from lead_assets.crm.salesforce import SalesforceAdapter

CRMS: dict[str, CrmAdapter] = {adapter.name: adapter for adapter in (HubSpotAdapter(), SalesforceAdapter())}


def crm_adapter(name: str) -> CrmAdapter:
    """The adapter of CRM `name`; ValueError naming the known CRMs otherwise."""
    try:
        return CRMS[name]
    except KeyError:
        raise ValueError(f"unknown CRM {name!r}: the known CRMs are {', '.join(sorted(CRMS))}") from None


def build_crm_client(config: CrmConfig, *, logger: logging.Logger | None = None, sleep=None) -> Any:
    """The client for `config.target` (None when no CRM is configured); ValueError names a missing setting."""
    if config.target is None:
        return None
    return crm_adapter(config.target).build_client(config, logger=logger, sleep=sleep)
