"""Resources: configuration and clients, read through `EnvVar` so secrets stay out of run config."""


import logging
import os
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from lead_assets.clients.apollo import ApolloClient
from lead_assets.clients.notify import Notifier
from lead_assets.config.environment import apply_sandbox_env, env_or_default
from lead_assets.config.settings import STATE_DIR, default_database_url, sprint_config
from lead_assets.store.dedup_index import DedupIndex
from lead_assets.store.lead_store import LeadStore


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


class SalesNavigatorImportResource(dg.ConfigurableResource):
    """The folder where lawfully held Sales Navigator lead lists (CSV) are dropped for import."""

    import_dir: str = ""

    def path(self) -> Path:
        return Path(self.import_dir or STATE_DIR / "imports" / "sales_navigator")


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


def _env(name: str) -> str | dg.EnvVar:
    """EnvVar when the operator set it (the UI shows the name, never the value), else the default."""
    return dg.EnvVar(name) if os.environ.get(name) else (env_or_default(name) or "")


@dg.definitions
def resources() -> dg.Definitions:
    apply_sandbox_env()
    return dg.Definitions(
        resources={
            "lead_store": LeadStoreResource(database_url=_env("LEADS_DATABASE_URL"), redis_url=_env("REDIS_URL")),
            "apollo": ApolloResource(base_url=_env("APOLLO_BASE_URL"), api_key=_env("APOLLO_API_KEY")),
            "sales_navigator": SalesNavigatorImportResource(import_dir=_env("SALES_NAVIGATOR_IMPORT_DIR")),
            "notifier": NotifierResource(
                slack_bot_token=_env("SLACK_BOT_TOKEN"), slack_channel=_env("SLACK_CHANNEL"),
                slack_base_url=_env("SLACK_BASE_URL"), smtp_url=_env("SMTP_URL"),
                alert_email_to=_env("ALERT_EMAIL_TO"), alert_email_from=_env("ALERT_EMAIL_FROM"),
            ),
        }
    )
