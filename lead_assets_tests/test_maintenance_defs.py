"""The maintenance layer: the backup asset's metadata, the retention job, the schedules and settings."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import text

from lead_assets.defs import maintenance as m
from lead_assets.defs.resources import LeadStoreResource
from lead_assets.pipeline.backups import backup_filename, default_backup_dir
from lead_assets.store.lead_store import LeadStore, ts_param, utc_now


@pytest.fixture(params=["postgresql", "sqlite"])
def store_url(request, tmp_path):
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    return f"sqlite:///{tmp_path / 'leads.db'}"


def _seed(url: str) -> LeadStore:
    store = LeadStore(url)
    with store.transaction() as conn:
        conn.execute(text("DELETE FROM raw_landings WHERE partition_key = 'maint|apollo'"))
    now = utc_now()
    for key, age in (("old", 40), ("new", 1)):
        with store.transaction() as conn:
            conn.execute(
                text("""INSERT INTO raw_landings (source, partition_key, request_kind, request_key, payload,
                                                  fetched_at)
                        VALUES ('apollo', 'maint|apollo', 'search_page', :k, '{}', :at)"""),
                {"k": key, "at": ts_param(now - timedelta(days=age), store.dialect)},
            )
    return store


def test_definitions_register_the_asset_job_schedules_and_settings():
    from lead_assets.definitions import defs

    d = defs()
    asset = d.resolve_assets_def("lead_store_backup")
    assert asset.group_names_by_key[asset.key] == "maintenance"
    assert "Grain:" in asset.descriptions_by_key[asset.key]
    backup = d.resolve_schedule_def("lead_store_backup_schedule")
    purge = d.resolve_schedule_def("raw_landings_retention_schedule")
    assert (backup.cron_schedule, backup.execution_timezone) == ("0 3 * * *", "UTC")
    assert (purge.cron_schedule, purge.execution_timezone) == ("30 3 * * *", "UTC")
    assert backup.job_name == "lead_store_backup_job" and purge.job_name == "raw_landings_retention"
    assert d.resolve_job_def("raw_landings_retention")
    assert isinstance(d.resources["maintenance"], m.MaintenanceSettings)


def test_settings_read_the_environment_by_name(monkeypatch):
    for name in ("LEADS_BACKUP_DIR", "LEADS_BACKUP_KEEP_DAYS", "RAW_RETENTION_DAYS"):
        monkeypatch.delenv(name, raising=False)
    defaults = m.maintenance().resources["maintenance"]
    assert (defaults.backup_dir, defaults.backup_keep_days, defaults.raw_retention_days) == ("", 7, 30)
    assert defaults.backup_path() == default_backup_dir() and default_backup_dir().name == "backups"

    monkeypatch.setenv("LEADS_BACKUP_DIR", "/srv/backups")
    monkeypatch.setenv("LEADS_BACKUP_KEEP_DAYS", "14")
    monkeypatch.setenv("RAW_RETENTION_DAYS", "60")
    configured = m.maintenance().resources["maintenance"]
    # EnvVar: the UI and run config show the variable's name, resolved at run time.
    assert configured.backup_dir == dg.EnvVar("LEADS_BACKUP_DIR")
    assert configured.backup_keep_days.name == "LEADS_BACKUP_KEEP_DAYS"  # an IntEnvVar
    with dg.instance_for_test() as instance:
        result = dg.materialize([_probe], resources={"maintenance": configured}, instance=instance)
    assert result.output_for_node("_probe") == ("/srv/backups", 14, 60)


@dg.asset
def _probe(maintenance: m.MaintenanceSettings):
    return maintenance.backup_dir, maintenance.backup_keep_days, maintenance.raw_retention_days


def test_backup_asset_materialises_with_its_file_size_and_row_counts(store_url, tmp_path):
    store = _seed(store_url)
    counts = {t: int(store.read_sql(f"SELECT count(*) AS n FROM {t}")["n"][0])
              for t in ("leads", "raw_landings", "schema_version")}
    store.dispose()
    backup_dir = tmp_path / "backups"
    backup_dir.mkdir()
    stale = backup_dir / backup_filename(_db_name(store_url), "db" if "sqlite" in store_url else "dump",
                                         utc_now() - timedelta(days=10))
    stale.write_bytes(b"old")
    resources = {
        "lead_store": LeadStoreResource(database_url=store_url),
        "maintenance": m.MaintenanceSettings(backup_dir=str(backup_dir), backup_keep_days=7),
    }
    with dg.instance_for_test() as instance:
        result = dg.materialize([m.lead_store_backup], resources=resources, instance=instance)
    assert result.success
    (event,) = result.get_asset_materialization_events()
    meta = event.materialization.metadata
    path = Path(meta["backup_path"].value)
    assert path.exists() and path.parent == backup_dir
    assert meta["backup_bytes"].value == path.stat().st_size > 0
    assert meta["pruned_backups"].value == 1 and not stale.exists()
    for table, rows in counts.items():
        assert meta[f"rows/{table}"].value == rows
    assert meta["dagster/row_count"].value == sum(v.value for k, v in meta.items() if k.startswith("rows/"))
    expected = "online backup API" if "sqlite" in store_url else "pg_dump -Fc"
    assert expected in meta["method"].value


def test_retention_job_purges_old_landings(store_url):
    store = _seed(store_url)
    resources = {
        "lead_store": LeadStoreResource(database_url=store_url),
        "maintenance": m.MaintenanceSettings(raw_retention_days=30),
    }
    result = m.raw_landings_retention.execute_in_process(resources=resources)
    assert result.success
    assert result.output_for_node("purge_raw_landings") >= 1
    keys = store.read_sql("SELECT request_key FROM raw_landings WHERE partition_key = 'maint|apollo'")
    assert keys["request_key"].tolist() == ["new"]
    store.dispose()


def _db_name(url: str) -> str:
    return Path(url.rsplit("/", 1)[1]).stem
