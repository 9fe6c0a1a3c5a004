"""Every Dagster resource pointed at a running sandbox, for tests that materialise assets."""

from __future__ import annotations

from pathlib import Path

from lead_assets.defs.resources import (
    ApolloResource,
    CrmResource,
    EnrichmentResource,
    ImportFolderResource,
    LeadStoreResource,
    NotifierResource,
    SprintBriefResource,
    ZoomInfoResource,
)


def sandbox_resources(base_url: str, tmp_path: Path, **overrides) -> dict:
    """Resources as `make demo` configures them, with a SQLite store under `tmp_path`."""
    resources = {
        "lead_store": LeadStoreResource(database_url=f"sqlite:///{tmp_path / 'leads.db'}"),
        "apollo": ApolloResource(base_url=f"{base_url}/apollo", api_key="sandbox-apollo-key"),
        "zoominfo": ZoomInfoResource(base_url=f"{base_url}/zoominfo", username="sandbox-zoominfo-user",
                                     password="sandbox-zoominfo-password"),
        "sales_navigator": ImportFolderResource(import_dir=str(tmp_path / "imports")),
        "sprint": SprintBriefResource(),
        "enrichment": EnrichmentResource(
            hunter_base_url=f"{base_url}/hunter", hunter_api_key="sandbox-hunter-key",
            neverbounce_base_url=f"{base_url}/neverbounce", neverbounce_api_key="secret_sandbox-neverbounce-key",
            clearbit_base_url=f"{base_url}/clearbit", clearbit_api_key="sk_sandbox-clearbit-key",
        ),
        "crm": CrmResource(crm_target="hubspot", hubspot_base_url=f"{base_url}/hubspot",
                           hubspot_access_token="sandbox-hubspot-token"),
        "notifier": NotifierResource(slack_bot_token="xoxb-sandbox-token", slack_channel="lead-sprint",
                                     slack_base_url=f"{base_url}/slack"),
    }
    resources.update(overrides)
    return resources
