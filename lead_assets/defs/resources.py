"""Resources: configuration and clients, read through `EnvVar` so secrets stay out of run config."""


import logging
import os

import dagster as dg
from pydantic import PrivateAttr

from lead_assets.clients.apollo import ApolloClient
from lead_assets.clients.notify import Notifier
from lead_assets.config.environment import SETTINGS, apply_sandbox_env, env_or_default
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


class ApolloResource(dg.ConfigurableResource):
    """Apollo.io: base URL and master API key; limits and retry budget from sprint.yaml."""

    base_url: str = "https://api.apollo.io"
    api_key: str = ""

    def client(self, logger: logging.Logger | None = None) -> ApolloClient:
        if not self.api_key:
            raise dg.Failure(
                description="APOLLO_API_KEY is not set: set it (or LEAD_SPRINT_SANDBOX=1) to collect from Apollo.",
                allow_retries=False,
            )
        cfg = sprint_config()
        coll = cfg.collection.get("apollo", {})
        connect, read = coll.get("timeout_seconds", [5, 30])
        return ApolloClient(
            self.base_url,
            self.api_key,
            limits=cfg.rate_limits.get("apollo"),
            timeout=(float(connect), float(read)),
            max_attempts=int(coll.get("max_attempts", 3)),
            logger=logger,
        )


class ZoomInfoResource(dg.ConfigurableResource):
    """ZoomInfo: which API (legacy or GTM), base URL and that API's credentials."""

    api: str = "legacy"
    base_url: str = "https://api.zoominfo.com"
    username: str = ""
    password: str = ""
    client_id: str = ""
    private_key: str = ""
    gtm_client_id: str = ""
    gtm_client_secret: str = ""
    gtm_token_url: str = ""

    def client(self, logger: logging.Logger | None = None):
        from lead_assets.clients.zoominfo import make_zoominfo_client, missing_credentials

        creds = {"username": self.username, "password": self.password, "client_id": self.client_id,
                 "private_key": self.private_key, "gtm_client_id": self.gtm_client_id,
                 "gtm_client_secret": self.gtm_client_secret}
        missing = missing_credentials(self.api, **creds)
        if missing:
            raise dg.Failure(
                description=f"{missing} not set: set them (or LEAD_SPRINT_SANDBOX=1) to collect from ZoomInfo.",
                allow_retries=False,
            )
        cfg = sprint_config()
        coll = cfg.collection.get("zoominfo", {})
        connect, read = coll.get("timeout_seconds", [5, 30])
        try:
            return make_zoominfo_client(
                self.api, self.base_url, **{k: v or None for k, v in creds.items()},
                gtm_token_url=self.gtm_token_url or None,
                limits=cfg.rate_limits.get("zoominfo"), timeout=(float(connect), float(read)),
                max_attempts=int(coll.get("max_attempts", 3)), logger=logger,
            )
        except ValueError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from exc


class ImportFolderResource(dg.ConfigurableResource):
    """The folder where an import source's files (lawfully held lead lists, CSV exports) are dropped."""

    import_dir: str = ""  # '' = imports/<source>/ of the sprint's storage (LEAD_SPRINT_STORAGE_URL)

    def storage(self, source: str):
        from lead_assets.sources.file_imports import import_storage

        return import_storage(source, self.import_dir)


class NotifierResource(dg.ConfigurableResource):
    """Where alerts and reports go: Slack and/or email when configured, always the log."""

    slack_bot_token: str = ""
    slack_channel: str = ""
    slack_base_url: str = ""
    smtp_url: str = ""
    alert_email_to: str = ""
    alert_email_from: str = ""

    def notifier(self, logger: logging.Logger | None = None) -> Notifier:
        env = {
            "SLACK_BOT_TOKEN": self.slack_bot_token, "SLACK_CHANNEL": self.slack_channel,
            "SLACK_BASE_URL": self.slack_base_url, "SMTP_URL": self.smtp_url,
            "ALERT_EMAIL_TO": self.alert_email_to, "ALERT_EMAIL_FROM": self.alert_email_from,
        }
        return Notifier.from_env(env, **({"logger": logger} if logger else {}))


class _SettingsResource(dg.ConfigurableResource):
    """A resource whose fields are environment settings (field `x_y` <- setting `X_Y`)."""

    def settings(self) -> dict[str, str]:
        out = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, dg.EnvVar):  # outside a run Dagster has not resolved it yet
                value = value.get_value()
            if isinstance(value, str) and value:
                out[name.upper()] = value
        return out


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

        return clients_from_env(config, self.settings(), **({"logger": logger} if logger else {}))


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


def _env(name: str) -> str | dg.EnvVar:
    """EnvVar when the operator set it (the UI shows the name, never the value), else the default."""
    if os.environ.get(name):
        return dg.EnvVar(name)
    return (env_or_default(name) if name in SETTINGS else None) or ""


@dg.definitions
def resources() -> dg.Definitions:
    apply_sandbox_env()
    return dg.Definitions(
        resources={
            "sprint": SprintBriefResource(config_path=_env("LEAD_SPRINT_CONFIG")),
            "lead_store": LeadStoreResource(database_url=_env("LEADS_DATABASE_URL"), redis_url=_env("REDIS_URL")),
            "apollo": ApolloResource(base_url=_env("APOLLO_BASE_URL"), api_key=_env("APOLLO_API_KEY")),
            "zoominfo": ZoomInfoResource(
                api=_env("ZOOMINFO_API"), base_url=_env("ZOOMINFO_BASE_URL"), username=_env("ZOOMINFO_USERNAME"),
                password=_env("ZOOMINFO_PASSWORD"), client_id=_env("ZOOMINFO_CLIENT_ID"),
                private_key=_env("ZOOMINFO_PRIVATE_KEY"), gtm_client_id=_env("ZOOMINFO_GTM_CLIENT_ID"),
                gtm_client_secret=_env("ZOOMINFO_GTM_CLIENT_SECRET"), gtm_token_url=_env("ZOOMINFO_GTM_TOKEN_URL"),
            ),
            **{s.name: ImportFolderResource(import_dir=_env(s.folder_setting)) for s in import_sources()},
            "enrichment": EnrichmentResource(**{f: _env(f.upper()) for f in EnrichmentResource.model_fields}),
            "crm": CrmResource(**{f: _env(f.upper()) for f in CrmResource.model_fields}),
            "notifier": NotifierResource(
                slack_bot_token=_env("SLACK_BOT_TOKEN"), slack_channel=_env("SLACK_CHANNEL"),
                slack_base_url=_env("SLACK_BASE_URL"), smtp_url=_env("SMTP_URL"),
                alert_email_to=_env("ALERT_EMAIL_TO"), alert_email_from=_env("ALERT_EMAIL_FROM"),
            ),
        }
    )
