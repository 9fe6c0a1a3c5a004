"""The CRM export: one adapter per CRM (`adapter.CrmAdapter`), registered in `registry.CRMS`.

* `registry`: `CRMS`, `crm_adapter(name)`, `build_crm_client(config)`;
* `runner`: `sync_to_crm` and `CrmRun`, the run every CRM shares; `report`: `SyncReport`;
* `setup`: `crm_setup`, `SetupReport`; `status`: `crm_status`;
* `hubspot` / `hubspot_run`, `salesforce` / `salesforce_run`: the two CRMs.

Nothing here imports Dagster: `lead_assets.core.crm_config` reads the registry.
"""

from lead_assets.crm.registry import CRMS, build_crm_client, crm_adapter
from lead_assets.crm.report import CrmSyncError, SyncReport
from lead_assets.crm.runner import sync_to_crm
from lead_assets.crm.setup import SetupReport, crm_setup
from lead_assets.crm.status import crm_status

__all__ = [
    "CRMS",
    "CrmSyncError",
    "SetupReport",
    "SyncReport",
    "build_crm_client",
    "crm_adapter",
    "crm_setup",
    "crm_status",
    "sync_to_crm",
]
