"""What a CRM is to the export: one `CrmAdapter` per CRM, registered in `registry.CRMS`.

An adapter holds everything that differs between CRMs, and nothing else:

* `load_settings`: its `crm.yaml` section plus its environment variables -> its settings;
* `build_client`: the API client from those settings (ValueError names a missing setting);
* `identity_field`: the CRM field that receives the canonical LinkedIn URL (the upsert key);
* `validate_mapping`: the field rules checked against the CRM's own schema (`MappingReport`);
* `map_leads`: the leads mapped onto the CRM's fields (`MappedLeads`), what the runner sends;
* `run_class`: its `CrmRun` subclass, which builds the payloads, sends them in bulk and
  records each record's outcome (the shared run machinery is `runner.CrmRun`);
* `setup`: create what the mapping needs in the CRM, where the API allows it (`SetupReport`);
* `erase`: find and delete one person in the CRM (`ErasureSubject`), returning outcomes.

The exceptions a client raises that the runner must treat specially are declared here too:
`deferral_errors` (a daily allowance spent: the run is deferred to `exc.resume_at`) and
`stop_errors` (credentials or an org limit: nothing more can succeed in this run).
Nothing in `lead_assets.crm` imports Dagster.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from lead_assets.core.crm_config import CrmConfig
from lead_assets.core.crm_mapping import MappedLeads, MappingReport, map_leads

if TYPE_CHECKING:
    from lead_assets.crm.runner import CrmRun
    from lead_assets.crm.setup import SetupReport


@dataclass(frozen=True)
class ErasureSubject:
    """Who to delete from a CRM: their emails, canonical LinkedIn URLs and the ids this CRM gave them."""

    emails: frozenset[str] = frozenset()
    linkedin_urls: frozenset[str] = frozenset()
    crm_ids: frozenset[str] = frozenset()  # recorded by the sync (`crm_sync_state.crm_id`)
    search_property: str | None = None  # the CRM field to search the LinkedIn URLs by, if any


class CrmAdapter(ABC):
    """One CRM: its settings, client, mapping validator, payloads (via its runner), setup and erasure."""

    name: ClassVar[str]  # the CRM_TARGET value and the `crm` column of `crm_sync_state`
    label: ClassVar[str]  # how messages name it ("HubSpot")
    run_class: ClassVar[type[CrmRun]]
    deferral_errors: ClassVar[tuple[type[Exception], ...]] = ()
    stop_errors: ClassVar[tuple[type[Exception], ...]] = ()

    @abstractmethod
    def load_settings(self, section: Mapping[str, Any], env: Mapping[str, str]) -> Any:
        """This CRM's settings from its `crm.yaml` section and the environment; ValueError if invalid."""

    @abstractmethod
    def build_client(self, config: CrmConfig, *, logger: logging.Logger | None = None, sleep=None) -> Any:
        """The API client; ValueError (or OSError for an unreadable key file) names a missing setting."""

    @abstractmethod
    def identity_field(self, config: CrmConfig) -> str:
        """The CRM field holding the canonical LinkedIn URL, the key every record is upserted by."""

    @abstractmethod
    def validate_mapping(self, client: Any, config: CrmConfig) -> MappingReport:
        """The field rules checked against the CRM's schema, fetched with `client`."""

    @abstractmethod
    def setup(self, client: Any, config: CrmConfig, log: logging.Logger) -> SetupReport:
        """Create what the mapping needs where the API allows it, then validate the mapping."""

    @abstractmethod
    def erase(self, client: Any, subject: ErasureSubject) -> list[str]:
        """Delete the person; one outcome per attempt: deleted, not_found, not_found_blocklisted, unsupported.

        A `VendorError` propagates: the caller audits it as failed.
        """

    def settings(self, config: CrmConfig) -> Any:
        """This CRM's settings in `config`."""
        return config.settings[self.name]

    def map_leads(self, leads: pd.DataFrame, config: CrmConfig, mapping: MappingReport) -> MappedLeads:
        """The leads mapped onto this CRM's fields, capped by the field lengths the validation read."""
        return map_leads(leads, config.rules(self.name), self.identity_field(config),
                         max_lengths=mapping.max_lengths)

    def erasure_search_property(self, config: CrmConfig) -> str | None:
        """The field an erasure searches LinkedIn URLs by (None: the CRM is not searched by it)."""
        return None
