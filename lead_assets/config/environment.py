"""Environment variables the project reads, in one place (README's settings table mirrors this).

`LEAD_SPRINT_SANDBOX=1` points every vendor base URL at the built-in sandbox and fills sandbox
credentials where none are set. Reading settings never changes the environment and never
starts a process: `effective_settings()` computes them (a running sandbox's URL comes from its
state file); the sandbox itself is started by the CLI before it starts Dagster
(`lead-sprint demo`, `make dev`), or lazily when a resource first builds a client inside a
run (`run_settings()`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from lead_assets.config.settings import STATE_DIR

SANDBOX_STATE_FILE = STATE_DIR / "sandbox.json"  # as this process started; sandbox_state_file() reads it now

# name -> (default, what it is); None default = unset unless the operator sets it.
SETTINGS: dict[str, tuple[str | None, str]] = {
    "LEADS_DATABASE_URL": (None, "Lead store. PostgreSQL in production; unset: SQLite at .lead_sprint/leads.db"),
    "REDIS_URL": (None, "Dedup index and shared rate limits: redis://, redis+cluster://host:port[,host:port], "
                  "redis+sentinel://host:port[,host:port]/service[/db]. Unset (or unreachable): the database "
                  "answers dedup lookups, limits are counted in-process"),
    "APOLLO_BASE_URL": ("https://api.apollo.io", "Apollo API base URL (sandbox or any compatible endpoint)"),
    "APOLLO_API_KEY": (None, "Apollo master API key (sent as x-api-key)"),
    "ZOOMINFO_API": ("legacy", "legacy | gtm: which ZoomInfo API to call (legacy Enterprise API, or the GTM API "
                     "/gtm/data/v1 with an OAuth2 client-credentials token)"),
    "ZOOMINFO_BASE_URL": ("https://api.zoominfo.com", "ZoomInfo API host (both APIs)"),
    "ZOOMINFO_USERNAME": (None, "ZoomInfo API user; unset: ZoomInfo is not collected"),
    "ZOOMINFO_PASSWORD": (None, "ZoomInfo password (username/password authentication)"),
    "ZOOMINFO_CLIENT_ID": (None, "ZoomInfo client id (PKI authentication, instead of the password)"),
    "ZOOMINFO_PRIVATE_KEY": (None, "ZoomInfo PKI private key (PEM text)"),
    "ZOOMINFO_GTM_CLIENT_ID": (None, "GTM API: DevPortal app client id (client-credentials grant enabled); "
                               "unset with ZOOMINFO_API=gtm: ZoomInfo is not collected"),
    "ZOOMINFO_GTM_CLIENT_SECRET": (None, "GTM API: DevPortal app client secret"),
    "ZOOMINFO_GTM_TOKEN_URL": (None, "GTM API OAuth2 token endpoint (default ZOOMINFO_BASE_URL + /gtm/oauth/v1/token)"),
    "SALES_NAVIGATOR_IMPORT_DIR": (None, "Folder of lawfully held Sales Navigator lead lists (CSV) to import "
                                   "(default .lead_sprint/imports/sales_navigator)"),
    "HUNTER_BASE_URL": ("https://api.hunter.io", "Hunter.io API base (email finder and verifier)"),
    "HUNTER_API_KEY": (None, "Hunter.io API key; unset: Hunter is left out of the waterfall"),
    "NEVERBOUNCE_BASE_URL": ("https://api.neverbounce.com", "NeverBounce API base (single check)"),
    "NEVERBOUNCE_API_KEY": (None, "NeverBounce API key (secret_...); unset: Hunter's own verification is used"),
    "CLEARBIT_BASE_URL": ("https://company.clearbit.com", "Clearbit-style company lookup by domain"),
    "CLEARBIT_API_KEY": (None, "Clearbit key; unset: company data is not enriched"),
    "CRM_TARGET": (None, "hubspot | salesforce; unset: no CRM sync (status says so)"),
    "HUBSPOT_BASE_URL": ("https://api.hubapi.com", "HubSpot API base"),
    "HUBSPOT_ACCESS_TOKEN": (None, "HubSpot private-app token; scopes: crm.objects.contacts.write, "
                             "crm.objects.contacts.read (erasure search), crm.schemas.contacts.read (every sync "
                             "and crm setup read the contact properties), crm.schemas.contacts.write (crm setup)"),
    "HUBSPOT_LINKEDIN_ID_PROPERTY": ("lead_sprint_linkedin_url", "Unique contact property holding the LinkedIn URL"),
    "HUBSPOT_ACCOUNT_TIME_ZONE": (None, "The HubSpot account's time zone (IANA name, e.g. America/New_York; "
                                  "Settings > Account Defaults): the DAILY API limit resets at its midnight. "
                                  "Unset: UTC"),
    "SALESFORCE_LOGIN_URL": (None, "Salesforce token host: your org's My Domain URL, e.g. "
                             "https://acme.my.salesforce.com. Required for client_credentials (login.salesforce.com "
                             "and test.salesforce.com refuse that flow); jwt_bearer: default "
                             "https://login.salesforce.com"),
    "SALESFORCE_CLIENT_ID": (None, "Connected-app client id"),
    "SALESFORCE_CLIENT_SECRET": (None, "Connected-app client secret (client-credentials flow)"),
    "SALESFORCE_API_VERSION": ("62.0", "Salesforce REST API version"),
    "SALESFORCE_EXTERNAL_ID_FIELD": ("LinkedIn_URL__c", "External-id field on Lead holding the LinkedIn URL"),
    "SALESFORCE_AUTH_FLOW": ("client_credentials", "client_credentials | jwt_bearer"),
    "SALESFORCE_USERNAME": (None, "User for the JWT bearer flow"),
    "SALESFORCE_JWT_KEY_FILE": (None, "Private key file for the JWT bearer flow"),
    "SLACK_BOT_TOKEN": (None, "Slack bot token (chat:write, files:write); unset: alerts go to the log"),
    "SLACK_CHANNEL": (None, "Slack channel (id preferred) for alerts and reports"),
    "SLACK_BASE_URL": ("https://slack.com", "Slack Web API base (the client appends /api/)"),
    "SMTP_URL": (None, "smtp://user:pass@host:587 or smtps://...; with ALERT_EMAIL_TO, alerts also go by email"),
    "ALERT_EMAIL_TO": (None, "Comma-separated recipients of alert and report emails"),
    "ALERT_EMAIL_FROM": (None, "Sender address of alert emails"),
    "LEAD_SPRINT_HOURLY_REPORT_CRON": ("10 * * * *", "When the hourly report goes out (cron, UTC)"),
    "LEADS_BACKUP_DIR": (None, "Where the daily lead-store backups go (default .lead_sprint/backups)"),
    "LEADS_BACKUP_KEEP_DAYS": ("7", "Backups older than this many days are pruned"),
    "RAW_RETENTION_DAYS": ("30", "Raw vendor payloads (raw_landings) older than this are purged daily"),
    "LEAD_SPRINT_SANDBOX": ("0", "1: point every vendor at the built-in sandbox (the CLI and make dev start it "
                            "first; else the first run that builds a client does)"),
    "LEAD_SPRINT_SANDBOX_POPULATION": (None, "Population of a sandbox this starts: full (the full 24-hour "
                                       "sprint's 30,000 records) or a number of records; unset: 6,000"),
    "LEAD_SPRINT_START": (None, "First hour partition of the sprint, e.g. 2026-11-27-00:00 (default: sprint.yaml)"),
    "LEAD_SPRINT_CONFIG": (None, "Path to an alternative sprint.yaml"),
    "LEAD_SPRINT_STATE_DIR": (None, "Where SQLite, the sandbox state and reports live (default .lead_sprint/)"),
    "LEAD_SPRINT_ID": (None, "Sprint id namespacing Redis keys, rate-limit buckets, pools, reports and backups "
                       "(default: the brief's sprint.id)"),
    "LEAD_SPRINT_STORAGE_URL": (None, "Where reports, imports and backups go: a folder path (default .lead_sprint/) "
                                "or s3://bucket/prefix"),
    "DAGSTER_HOME": (None, "Dagster instance directory (make demo/dev use .lead_sprint/dagster_home)"),
}

SANDBOX_DEFAULTS = {
    "APOLLO_API_KEY": "sandbox-apollo-key",
    "ZOOMINFO_USERNAME": "sandbox-zoominfo-user",
    "ZOOMINFO_PASSWORD": "sandbox-zoominfo-password",
    "ZOOMINFO_GTM_CLIENT_ID": "sandbox-zoominfo-gtm-client",
    "ZOOMINFO_GTM_CLIENT_SECRET": "sandbox-zoominfo-gtm-secret",
    "HUNTER_API_KEY": "sandbox-hunter-key",
    "NEVERBOUNCE_API_KEY": "secret_sandbox-neverbounce-key",
    "CLEARBIT_API_KEY": "sk_sandbox-clearbit-key",
    "CRM_TARGET": "hubspot",
    "HUBSPOT_ACCESS_TOKEN": "sandbox-hubspot-token",
    "SALESFORCE_CLIENT_ID": "sandbox-salesforce-client",
    "SALESFORCE_CLIENT_SECRET": "sandbox-salesforce-secret",
    "SLACK_BOT_TOKEN": "xoxb-sandbox-token",
    "SLACK_CHANNEL": "lead-sprint",
}
# Each vendor lives under its own prefix on the sandbox; the client appends the vendor's real paths.
SANDBOX_BASE_URL_VARS = {
    "APOLLO_BASE_URL": "/apollo",
    "ZOOMINFO_BASE_URL": "/zoominfo",
    "ZOOMINFO_GTM_TOKEN_URL": "/zoominfo/gtm/oauth/v1/token",
    "HUNTER_BASE_URL": "/hunter",
    "NEVERBOUNCE_BASE_URL": "/neverbounce",
    "CLEARBIT_BASE_URL": "/clearbit",
    "HUBSPOT_BASE_URL": "/hubspot",
    "SALESFORCE_LOGIN_URL": "/salesforce",
    "SLACK_BASE_URL": "/slack",
}


def sandbox_enabled(env: Mapping[str, str] | None = None) -> bool:
    value = (os.environ if env is None else env).get("LEAD_SPRINT_SANDBOX") or "0"
    return value.strip().lower() in ("1", "true", "yes")


def sandbox_state_file() -> Path:
    """Where the sandbox records its URL and pid (`LEAD_SPRINT_STATE_DIR` as it is now)."""
    return Path(os.environ.get("LEAD_SPRINT_STATE_DIR") or STATE_DIR) / "sandbox.json"


def sandbox_population() -> int | str | None:
    """`LEAD_SPRINT_SANDBOX_POPULATION` as the sandbox takes it (None: unset, the sandbox's default).

    ValueError when it is neither a profile name nor a number of records.
    """
    value = os.environ.get("LEAD_SPRINT_SANDBOX_POPULATION", "").strip()
    if not value:
        return None
    from lead_assets.sandbox.population import population_setting

    return population_setting(value)


def running_sandbox_url() -> str | None:
    """The URL of the sandbox the state file records, when its process still runs (starts nothing)."""
    from lead_assets.sandbox.launcher import recorded_sandbox_url

    return recorded_sandbox_url(sandbox_state_file())


def ensure_sandbox_url() -> str | None:
    """With LEAD_SPRINT_SANDBOX=1: the running sandbox's URL, starting one if none runs; else None.

    A sandbox it starts serves `LEAD_SPRINT_SANDBOX_POPULATION`; when that is set and the running
    sandbox serves another population, RuntimeError says to stop it first (`lead-sprint sandbox stop`).
    """
    if not sandbox_enabled():
        return None
    from lead_assets.sandbox.launcher import ensure_sandbox

    population = sandbox_population()
    return ensure_sandbox(sandbox_state_file(), **({} if population is None else {"population": population}))


def effective_settings(env: Mapping[str, str] | None = None, sandbox_url: str | None = None) -> dict[str, str]:
    """The settings clients should use (set ones only), computed without touching `os.environ`.

    `env` (default `os.environ`) as set; with LEAD_SPRINT_SANDBOX=1 and a sandbox at `sandbox_url`
    (default: the running one, from its state file) every vendor base URL points at the sandbox
    and sandbox credentials fill what is unset. Sandbox mode with no sandbox running yet leaves
    the values as set: nothing is sent to a real vendor with sandbox credentials.
    """
    env = os.environ if env is None else env
    values = {name: env[name] for name in SETTINGS if env.get(name)}
    if not sandbox_enabled(env):
        return values
    url = sandbox_url or running_sandbox_url()
    if url is None:
        return values
    base = {var: url.rstrip("/") + prefix for var, prefix in SANDBOX_BASE_URL_VARS.items()}
    return {**SANDBOX_DEFAULTS, **values, **base}


def run_settings(values: Mapping[str, str]) -> dict[str, str]:
    """A resource's settings as a run uses them: with LEAD_SPRINT_SANDBOX=1, pointed at the sandbox.

    Starts the sandbox when none runs yet (the first client built inside a run), so a code
    location loaded before the sandbox started still reaches it. `values` win over sandbox
    credentials; base URLs always go to the sandbox, as in `effective_settings`.
    """
    values = {k: v for k, v in values.items() if v}
    if not sandbox_enabled():
        return values
    url = running_sandbox_url() or ensure_sandbox_url()  # the state file first: no lock, no request
    return effective_settings({**values, "LEAD_SPRINT_SANDBOX": "1"}, sandbox_url=url) if url else values


def apply_sandbox_env() -> str | None:
    """For a CLI process that sets up its own environment: start the sandbox, write its settings to `os.environ`.

    Only the CLI commands call this (`lead-sprint demo/run/sync/report/crm setup`, forecast,
    privacy): what they run in-process and the daemon the demo starts inherit the settings.
    Loading the Dagster definitions never calls it; they read `effective_settings()`.
    Returns the sandbox's URL (None without LEAD_SPRINT_SANDBOX=1).
    """
    url = ensure_sandbox_url()
    if url is not None:
        os.environ.update(effective_settings(sandbox_url=url))
    return url


def env_or_default(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value else SETTINGS[name][0]
