"""Maintenance: the daily lead store backup (kept 7 days) and the raw payload retention purge.

The work lives in `pipeline/backups.py` and `pipeline/retention.py`; this module wires it
to a resource, an asset, a job and two schedules.
"""

import os
from pathlib import Path

import dagster as dg

from lead_assets.config.settings import default_database_url
from lead_assets.defs.keys import sprint_key_prefix
from lead_assets.defs.resources import LeadStoreResource
from lead_assets.pipeline import backups, retention
from lead_assets.store.files import FileStorage, LocalStorage
from lead_assets.store.lead_store import utc_now


class MaintenanceSettings(dg.ConfigurableResource):
    """Where backups go and how long backups and raw vendor payloads are kept."""

    backup_dir: str = ""  # '' = .lead_sprint/backups
    backup_keep_days: int = backups.DEFAULT_KEEP_DAYS
    raw_retention_days: int = retention.DEFAULT_RETENTION_DAYS

    def backup_path(self) -> Path:
        return Path(self.backup_dir) if self.backup_dir else backups.default_backup_dir()

    def backup_storage(self) -> FileStorage:
        """The backup folder, or `backups/` of the sprint's storage (an object store where deployed)."""
        return LocalStorage(self.backup_dir) if self.backup_dir else backups.default_backup_storage()


@dg.asset(key_prefix=sprint_key_prefix(), group_name="maintenance", kinds={"python", "sql"})
def lead_store_backup(
    context: dg.AssetExecutionContext, lead_store: LeadStoreResource, maintenance: MaintenanceSettings
) -> dg.MaterializeResult:
    """A full backup of the lead store, taken daily and kept `LEADS_BACKUP_KEEP_DAYS` days.

    Grain: one backup file per materialisation, covering every table of the store.
    PostgreSQL: `pg_dump -Fc` of one snapshot; SQLite: a consistent copy through sqlite3's
    online backup API. Backups older than the retention are pruned after a successful
    backup (the newest is always kept). Restore with `lead-sprint restore FILE --database NAME`.
    """
    now = utc_now()
    try:
        storage = maintenance.backup_storage()
        result, location = backups.backup_to_storage(lead_store.database_url or default_database_url(), storage, now)
    except backups.BackupError as exc:  # its message is password-free; prune nothing after a failure
        raise dg.Failure(description=str(exc)) from exc
    pruned = backups.prune_stored_backups(storage, maintenance.backup_keep_days, now)
    context.log.info(
        f"backup {result.path.name}: {backups.human_bytes(result.bytes)} in {result.seconds:.2f}s "
        f"({result.method}); pruned {len(pruned)} older than {maintenance.backup_keep_days} days"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": result.total_rows,
            "backup_path": dg.MetadataValue.path(location),
            "backup_bytes": result.bytes,
            "backup_seconds": result.seconds,
            "method": result.method,
            "dialect": result.dialect,
            "keep_days": maintenance.backup_keep_days,
            "pruned_backups": len(pruned),
            **{f"rows/{table}": rows for table, rows in result.tables.items()},
        }
    )


lead_store_backup_job = dg.define_asset_job(
    "lead_store_backup_job", selection=[lead_store_backup], description="Back up the lead store now."
)

lead_store_backup_schedule = dg.ScheduleDefinition(
    name="lead_store_backup_schedule",
    job=lead_store_backup_job,
    cron_schedule="0 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Back up the lead store every day at 03:00 UTC and prune backups past their retention.",
)


@dg.op
def purge_raw_landings(
    context: dg.OpExecutionContext, lead_store: LeadStoreResource, maintenance: MaintenanceSettings
) -> dg.Output[int]:
    """Delete vendor payloads (`raw_landings`) fetched more than `RAW_RETENTION_DAYS` days ago."""
    now = utc_now()
    days = maintenance.raw_retention_days
    purged = retention.purge_raw_landings(lead_store.store(), days, now)
    cutoff = retention.retention_cutoff(days, now)
    context.log.info(f"purged {purged} raw landings fetched before {cutoff.isoformat()}")
    return dg.Output(purged, metadata={"purged_landings": purged, "retention_days": days,
                                       "cutoff": cutoff.isoformat()})


@dg.job(description="Purge raw vendor payloads older than RAW_RETENTION_DAYS (leads are kept).")
def raw_landings_retention():
    purge_raw_landings()


raw_landings_retention_schedule = dg.ScheduleDefinition(
    name="raw_landings_retention_schedule",
    job=raw_landings_retention,
    cron_schedule="30 3 * * *",  # after the 03:00 backup, so the last backup still holds what is purged
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Purge raw vendor payloads past their retention every day at 03:30 UTC.",
)


def _setting(name: str, default, *, integer: bool = False):
    """EnvVar when the operator set it (the UI shows the name), else the default."""
    if not os.environ.get(name):
        return default
    return dg.EnvVar.int(name) if integer else dg.EnvVar(name)


@dg.definitions
def maintenance() -> dg.Definitions:
    # A module with a @dg.definitions function is loaded through it alone: list everything.
    return dg.Definitions(
        assets=[lead_store_backup],
        jobs=[lead_store_backup_job, raw_landings_retention],
        schedules=[lead_store_backup_schedule, raw_landings_retention_schedule],
        resources={
            "maintenance": MaintenanceSettings(
                backup_dir=_setting(backups.BACKUP_DIR_ENV, ""),
                backup_keep_days=_setting(backups.KEEP_DAYS_ENV, backups.DEFAULT_KEEP_DAYS, integer=True),
                raw_retention_days=_setting(retention.RETENTION_ENV, retention.DEFAULT_RETENTION_DAYS,
                                            integer=True),
            )
        }
    )
