"""Resources: configuration and clients, read through `EnvVar` so secrets stay out of run config."""


import logging
import os
from collections.abc import Mapping
from typing import ClassVar

import dagster as dg
from pydantic import PrivateAttr

from lead_assets.clients.apollo import ApolloClient
from lead_assets.clients.notify import Notifier
from lead_assets.config.environment import SETTINGS, effective_settings, run_settings
from lead_assets.config.settings import SprintConfig, default_database_url, load_sprint_config, sprint_config
from lead_assets.sources import import_sources
from lead_assets.store.dedup_index import DedupIndex
from lead_assets.store.lead_store import LeadStore


class SprintBriefResource(dg.ConfigurableResource):
    """The sprint brief (`sprint.yaml`, or `config_path`): targets, roles, metros, prices, rate windows."""

    config_path: str = ""  # '' = LEAD_SPRINT_CONFIG or the packaged sprint.yaml

    def brief(self) -> SprintConfig:
        return load_sprint_config(self.config_path) if self.config_path else sprint_config()


class LeadStoreResource(dg.ConfigurableResource):
    """The lead store (SQLAlchemy URL) and its dedup index (Redis URL, or '' for database-only)."""

    database_url: str = ""
    redis_url: str = ""

    _store: LeadStore | None = PrivateAttr(default=None)
    _index: DedupIndex | None = PrivateAttr(default=None)

    def store(self) -> LeadStore:
        if self._store is None:
            self._store = LeadStore(self.database_url or default_database_url())
            self._store.ensure_schema()
        return self._store

    def dedup_index(self, logger: logging.Logger | None = None) -> DedupIndex:
        if self._index is None:
            self._index = DedupIndex(self.store(), self.redis_url or None, logger=logger)
        return self._index


class _VendorSourceResource(dg.ConfigurableResource):
    """A paged vendor's resource: field `x` is setting `<PREFIX>_X`; its client, built only here, gets the
    brief's rate windows, timeouts and retry budget for the source."""

    def run_values(self) -> dict[str, str]:
        """The fields as a run uses them: in sandbox mode pointed at (and if need be starting) the sandbox."""
        prefix = self.source.upper()
        names = {field: f"{prefix}_{field.upper()}" for field in type(self).model_fields}
        values = {f: v.get_value() if isinstance(v, dg.EnvVar) else v for f in names if (v := getattr(self, f))}
        live = run_settings({names[f]: v for f, v in values.items() if isinstance(v, str)})
        return {f: live.get(name) or values.get(f) or "" for f, name in names.items()}

    def transport(self, brief: SprintConfig) -> dict:
        """Rate windows, timeouts and attempts of this source from the brief."""
        coll = brief.collection.get(self.source, {})
        connect, read = coll.get("timeout_seconds", [5, 30])
        return {"limits": brief.rate_limits.get(self.source), "timeout": (float(connect), float(read)),
                "max_attempts": int(coll.get("max_attempts", 3))}


class ApolloResource(_VendorSourceResource):
    """Apollo.io: base URL and master API key; limits and retry budget from the brief."""

    source: ClassVar[str] = "apollo"
    base_url: str = "https://api.apollo.io"
    api_key: str = ""

    def client(self, brief: SprintConfig, logger: logging.Logger | None = None) -> ApolloClient:
        values = self.run_values()
        if not values["api_key"]:
            raise dg.Failure(
                description="APOLLO_API_KEY is not set: set it (or LEAD_SPRINT_SANDBOX=1) to collect from Apollo.",
                allow_retries=False,
            )
        return ApolloClient(values["base_url"], values["api_key"], logger=logger, **self.transport(brief))


class ZoomInfoResource(_VendorSourceResource):
    """ZoomInfo: which API (legacy or GTM), base URL and that API's credentials."""

    source: ClassVar[str] = "zoominfo"
    api: str = "legacy"
    base_url: str = "https://api.zoominfo.com"
    username: str = ""
    password: str = ""
    client_id: str = ""
    private_key: str = ""
    gtm_client_id: str = ""
    gtm_client_secret: str = ""
    gtm_token_url: str = ""

    def client(self, brief: SprintConfig, logger: logging.Logger | None = None):
        from lead_assets.clients.zoominfo import make_zoominfo_client, missing_credentials

        values = self.run_values()
        api, base_url, token_url = values.pop("api") or "legacy", values.pop("base_url"), values.pop("gtm_token_url")
        missing = missing_credentials(api, **values)
        if missing:
            raise dg.Failure(
                description=f"{missing} not set: set them (or LEAD_SPRINT_SANDBOX=1) to collect from ZoomInfo.",
                allow_retries=False,
            )
        try:
            return make_zoominfo_client(api, base_url, **{k: v or None for k, v in values.items()},
                                        gtm_token_url=token_url or None, logger=logger, **self.transport(brief))
        except ValueError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from exc


class ImportFolderResource(dg.ConfigurableResource):
    """The folder where an import source's files (lawfully held lead lists, CSV exports) are dropped."""

    import_dir: str = ""  # '' = imports/<source>/ of the sprint's storage (LEAD_SPRINT_STORAGE_URL)

    def storage(self, source: str):
        from lead_assets.sources.file_imports import import_storage

        return import_storage(source, self.import_dir)


class _SettingsResource(dg.ConfigurableResource):
    """A resource whose fields are environment settings (field `x_y` <- setting `X_Y`)."""

    def settings(self) -> dict[str, str]:
        """The fields as settings, as a run uses them: pointed at the sandbox in sandbox mode (see `run_settings`)."""
        out = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, dg.EnvVar):  # outside a run Dagster has not resolved it yet
                value = value.get_value()
            if isinstance(value, str) and value:
                out[name.upper()] = value
        return run_settings(out)


class EnrichmentResource(_SettingsResource):
    """Waterfall providers (Hunter, NeverBounce, Clearbit): base URLs and keys. A provider without a key is skipped."""

    hunter_base_url: str = ""
    hunter_api_key: str = ""
    neverbounce_base_url: str = ""
    neverbounce_api_key: str = ""
    clearbit_base_url: str = ""
    clearbit_api_key: str = ""

    def clients(self, config, logger: logging.Logger | None = None) -> dict:
        from lead_assets.pipeline.enrichment import clients_from_env

        return clients_from_env(config, self.settings(), logger=logger)


class NotifierResource(_SettingsResource):
    """Where alerts and reports go: Slack and/or email when configured, always the log."""

    slack_bot_token: str = ""
    slack_channel: str = ""
    slack_base_url: str = ""
    smtp_url: str = ""
    alert_email_to: str = ""
    alert_email_from: str = ""

    def notifier(self, logger: logging.Logger | None = None) -> Notifier:
        return Notifier.from_env(self.settings(), logger=logger)


class CrmResource(_SettingsResource):
    """The CRM the export writes to (CRM_TARGET) and its credentials."""

    crm_target: str = ""
    hubspot_base_url: str = ""
    hubspot_access_token: str = ""
    hubspot_linkedin_id_property: str = ""
    hubspot_account_time_zone: str = ""
    salesforce_login_url: str = ""
    salesforce_client_id: str = ""
    salesforce_client_secret: str = ""
    salesforce_api_version: str = ""
    salesforce_external_id_field: str = ""
    salesforce_auth_flow: str = ""
    salesforce_username: str = ""
    salesforce_jwt_key_file: str = ""

    def config(self):
        from lead_assets.core.crm_config import load_crm_config

        return load_crm_config(env=self.settings())

    def client(self, config, logger: logging.Logger | None = None):
        from lead_assets.crm.registry import build_crm_client

        try:
            return build_crm_client(config, logger=logger)
        except (ValueError, OSError) as exc:  # a missing token or key file: a retry would not help
            raise dg.Failure(description=f"CRM client not configured: {exc}", allow_retries=False) from exc


def _env(name: str, settings: Mapping[str, str]) -> str | dg.EnvVar:
    """EnvVar when the operator's value is the one used (the UI shows the name, never the value),
    else the effective value (the sandbox's) or the default."""
    known = name in SETTINGS  # an import source's folder (`<SOURCE>_IMPORT_DIR`) is read as set
    value = settings.get(name) if known else os.environ.get(name)
    if value and value == os.environ.get(name):
        return dg.EnvVar(name)
    return value or (SETTINGS[name][0] if known else None) or ""


def _settings_fields(resource: type[_SettingsResource], settings: Mapping[str, str]) -> dict:
    return {field: _env(field.upper(), settings) for field in resource.model_fields}


@dg.definitions
def resources() -> dg.Definitions:
    # Computed, not applied: loading the definitions neither starts the sandbox nor changes
    # os.environ. A running sandbox's URL comes from its state file; resources that build
    # clients at run time point at (and if need be start) the sandbox then (`run_settings`).
    settings = effective_settings()

    def env(name: str) -> str | dg.EnvVar:
        return _env(name, settings)

    return dg.Definitions(
        resources={
            "sprint": SprintBriefResource(config_path=env("LEAD_SPRINT_CONFIG")),
            "lead_store": LeadStoreResource(database_url=env("LEADS_DATABASE_URL"), redis_url=env("REDIS_URL")),
            "apollo": ApolloResource(base_url=env("APOLLO_BASE_URL"), api_key=env("APOLLO_API_KEY")),
            "zoominfo": ZoomInfoResource(
                api=env("ZOOMINFO_API"), base_url=env("ZOOMINFO_BASE_URL"), username=env("ZOOMINFO_USERNAME"),
                password=env("ZOOMINFO_PASSWORD"), client_id=env("ZOOMINFO_CLIENT_ID"),
                private_key=env("ZOOMINFO_PRIVATE_KEY"), gtm_client_id=env("ZOOMINFO_GTM_CLIENT_ID"),
                gtm_client_secret=env("ZOOMINFO_GTM_CLIENT_SECRET"), gtm_token_url=env("ZOOMINFO_GTM_TOKEN_URL"),
            ),
            **{s.name: ImportFolderResource(import_dir=env(s.folder_setting)) for s in import_sources()},
            "enrichment": EnrichmentResource(**_settings_fields(EnrichmentResource, settings)),
            "crm": CrmResource(**_settings_fields(CrmResource, settings)),
            "notifier": NotifierResource(**_settings_fields(NotifierResource, settings)),
        }
    )
