"""Backups: a sandbox sprint backed up and restored table for table; pruning; no password leaks."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import traceback
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import text

from lead_assets import maintenance_cli
from lead_assets.clients.apollo import ApolloClient
from lead_assets.config.settings import sprint_config
from lead_assets.pipeline import backups
from lead_assets.pipeline.backups import (
    BackupError,
    backup_store,
    compare_fingerprints,
    prune_backups,
    restore_backup,
    table_fingerprints,
)
from lead_assets.pipeline.search_plan import hour_keys
from lead_assets.sandbox import SandboxConfig, start_sandbox
from lead_assets.sources.collector import collect_hour, collection_context
from lead_assets.store.dedup_index import DedupIndex
from lead_assets.store.lead_store import LeadStore
from lead_assets_tests.conftest import PG_ADMIN_URL

CFG = sprint_config()
HOURS = hour_keys(CFG.start, CFG.hours)
SPRINT_TABLES = ("leads", "lead_sources", "raw_landings", "dedup_keys", "quarantine", "search_slices",
                 "vendor_calls")
NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
PASSWORD = "S3cr3t p@ss:w/rd%"  # trust auth ignores it; it must never show up anywhere but PGPASSWORD


def _admin():
    return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)


def _url(name: str, password: str | None = None) -> str:
    from urllib.parse import quote

    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    if password:
        scheme, rest = base.split("://", 1)
        user, host = rest.split("@", 1)
        base = f"{scheme}://{user}:{quote(password, safe='')}@{host}"
    return f"{base}/{name}"


@pytest.fixture(scope="module")
def scratch():
    """Names of scratch databases; every one is dropped at the end of the module."""
    names: list[str] = []

    def new(label: str) -> str:
        name = f"leadsprint_bk_{label}_{os.getpid()}"
        names.append(name)
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return name

    yield new
    with _admin() as admin:
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def sprint_db(scratch):
    """A scratch database holding three hours of a small sandbox sprint."""
    name = scratch("src")
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _url(name)
    store = LeadStore(url)
    with start_sandbox(SandboxConfig(population=1500)) as sandbox:
        client = ApolloClient(f"{sandbox.base_url}/apollo", "sandbox-apollo-key", sleep=lambda s: None)
        ctx = collection_context(CFG, store, DedupIndex(store, None), client=client)
        for hour in HOURS[:3]:
            collect_hour(ctx, hour)
    store.dispose()
    return url


def test_postgres_backup_restores_every_table_row_for_row(sprint_db, scratch, tmp_path):
    source = table_fingerprints(sprint_db)
    assert {t for t in SPRINT_TABLES if source[t][0] == 0} == set(), "the sprint must fill every table"

    result = backup_store(sprint_db, tmp_path, NOW)
    assert result.path.name == f"lead_store-{sprint_db.rsplit('/', 1)[1]}-20261128T030000Z.dump"
    assert result.path.read_bytes()[:5] == b"PGDMP" and result.bytes == result.path.stat().st_size
    assert result.tables == {t: rows for t, (rows, _) in source.items()}
    assert backups.read_manifest(result.path)["tables"] == result.tables
    assert not list(tmp_path.glob("*.partial"))
    print(f"\nPG backup of the test sprint: {result.total_rows} rows, {result.bytes} bytes, {result.seconds:.3f}s")

    target = _url(scratch("restored"))
    restored = restore_backup(result.path, target)
    assert restored.created and restored.mismatches() == {}
    assert compare_fingerprints(source, table_fingerprints(target)) == {}
    print(f"PG restore into a new database: {restored.seconds:.3f}s")

    # The restored store is a working store: identities continue, landings stay immutable.
    store = LeadStore(target)
    try:
        assert store.ensure_schema() == []
        assert store.land_raw("apollo", "x|apollo", "search_page", "after-restore", "{}", 200, None)
        with pytest.raises(Exception, match="immutable"):
            with store.transaction() as conn:
                conn.execute(text("UPDATE raw_landings SET payload = 'x'"))
        with store.transaction() as conn:
            conn.execute(text("UPDATE leads SET full_name = 'Changed' WHERE lead_id = "
                              "(SELECT min(lead_id) FROM leads)"))
    finally:
        store.dispose()
    assert set(compare_fingerprints(source, table_fingerprints(target))) == {"leads", "raw_landings"}

    # Restoring again over the changed copy (--clean) brings back exactly the backup.
    again = restore_backup(result.path, target)
    assert not again.created
    assert compare_fingerprints(source, table_fingerprints(target)) == {}


def test_restore_refuses_what_it_cannot_do(sprint_db, scratch, tmp_path):
    result = backup_store(sprint_db, tmp_path, NOW)
    missing = _url(scratch("never_created"))
    with pytest.raises(BackupError, match="does not exist"):
        restore_backup(result.path, missing, create=False)
    with pytest.raises(BackupError, match="postgresql backup; it cannot be restored into sqlite"):
        restore_backup(result.path, f"sqlite:///{tmp_path / 'x.db'}")
    junk = tmp_path / "junk.dump"
    junk.write_bytes(b"not a backup")
    with pytest.raises(BackupError, match="neither"):
        restore_backup(junk, missing)
    truncated = tmp_path / "truncated.dump"
    truncated.write_bytes(result.path.read_bytes()[:2000])
    with pytest.raises(BackupError, match="pg_restore of truncated.dump"):
        restore_backup(truncated, missing)
    with _admin() as admin:  # the database created for the failed restore is gone again
        assert admin.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                             (missing.rsplit("/", 1)[1],)).fetchone() is None


def test_prune_keeps_seven_days_and_the_newest_of_each_database(tmp_path):
    for days in range(12):
        stamp = (NOW - timedelta(days=days)).strftime("%Y%m%dT%H%M%SZ")
        (tmp_path / f"lead_store-leads-{stamp}.dump").write_bytes(b"PGDMP")
        (tmp_path / f"lead_store-leads-{stamp}.dump.json").write_text("{}")
    (tmp_path / "lead_store-archive-20261001T030000Z.dump").write_bytes(b"PGDMP")  # only backup of its db
    (tmp_path / "notes.txt").write_text("not a backup")

    deleted = prune_backups(tmp_path, 7, NOW)

    assert sorted(p.name[len("lead_store-leads-"):][:8] for p in deleted) == [
        f"202611{d:02d}" for d in range(17, 21)
    ]  # 8..11 days old
    kept = sorted(p.name for p in backups.list_backups(tmp_path))
    assert len(kept) == 9 and "lead_store-archive-20261001T030000Z.dump" in kept  # 0..7 days + archive
    assert "lead_store-leads-20261121T030000Z.dump" in kept  # exactly 7 days old: kept
    assert (tmp_path / "notes.txt").exists()
    assert not any((tmp_path / (p.name + ".json")).exists() for p in deleted)
    assert prune_backups(tmp_path, 7, NOW) == []
    with pytest.raises(ValueError):
        prune_backups(tmp_path, 0, NOW)


def test_sqlite_backup_is_a_consistent_copy_and_restores(tmp_path):
    url = f"sqlite:///{tmp_path / 'leads.db'}"
    store = LeadStore(url)  # stays open: committed rows may still sit in the WAL, not the main file
    for i in range(50):
        store.land_raw("apollo", "2026-11-27-00:00|apollo", "search_page", f"k{i}", f'{{"page": {i}}}', 200, None)
    store.record_vendor_calls([{"vendor": "apollo", "endpoint": "api_search", "outcome": "ok"}])
    store.upsert_slices([{"source": "apollo", "slice_key": "s1", "hour_key": "h", "query": {"q": 1}}])

    result = backup_store(url, tmp_path / "backups", NOW)
    assert result.dialect == "sqlite" and "online backup API" in result.method
    assert result.path.read_bytes()[:16] == b"SQLite format 3\x00"
    assert result.tables["raw_landings"] == 50 and result.tables["vendor_calls"] == 1
    assert not list((tmp_path / "backups").glob("*-wal"))  # one self-contained file
    source = table_fingerprints(url)
    assert table_fingerprints(f"sqlite:///{result.path}") == source

    target = f"sqlite:///{tmp_path / 'restored' / 'leads.db'}"
    restored = restore_backup(result.path, target)
    assert restored.created and restored.mismatches() == {}
    assert compare_fingerprints(source, table_fingerprints(target)) == {}

    # Restoring over a store that moved on brings it back to the backup.
    store.land_raw("apollo", "2026-11-27-01:00|apollo", "search_page", "later", "{}", 200, None)
    restore_backup(result.path, url)
    assert compare_fingerprints(source, table_fingerprints(url)) == {}
    store.dispose()
    with pytest.raises(BackupError, match="does not exist"):
        restore_backup(result.path, f"sqlite:///{tmp_path / 'nope.db'}", create=False)


def test_password_stays_out_of_command_lines_logs_and_errors(sprint_db, scratch, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    calls: list[tuple[list[str], dict]] = []
    real_run = subprocess.run

    def spy(argv, *args, **kwargs):
        calls.append((list(argv), dict(kwargs.get("env") or {})))
        return real_run(argv, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", spy)
    src = sprint_db.rsplit("/", 1)[1]
    result = backup_store(_url(src, PASSWORD), tmp_path, NOW)
    restore_backup(result.path, _url(scratch("pw"), PASSWORD))
    assert [argv[0] for argv, _ in calls] == ["pg_dump", "pg_restore"]
    secrets = backups._secrets(backups._pg_url(_url(src, PASSWORD)))
    assert PASSWORD in secrets and len(secrets) >= 2  # decoded and URL-encoded forms
    for argv, env in calls:
        assert not any(s in arg for arg in argv for s in secrets), argv
        assert env["PGPASSWORD"] == PASSWORD
    assert "***" in result.database and not any(s in result.database for s in secrets)

    def leaked(exc: BaseException) -> bool:
        shown = "".join(traceback.format_exception(exc)) + repr(exc)
        return any(s in shown for s in secrets)

    # A real failure from the server side...
    with pytest.raises(BackupError) as missing_db:
        backup_store(_url("leadsprint_no_such_db", PASSWORD), tmp_path, NOW)
    assert "does not exist" in str(missing_db.value) and not leaked(missing_db.value)
    with pytest.raises(BackupError) as no_create:
        restore_backup(result.path, _url("leadsprint_no_such_db", PASSWORD), create=False)
    assert not leaked(no_create.value)
    # ...and a tool that echoes the password back is scrubbed before anyone sees it.
    monkeypatch.setattr(subprocess, "run", lambda argv, *a, **k: subprocess.CompletedProcess(
        argv, 1, "", f"pg_dump: error: bad password {PASSWORD} / {secrets[-1]}"))
    with pytest.raises(BackupError) as echoed:
        backup_store(_url(src, PASSWORD), tmp_path, NOW)
    assert "***" in str(echoed.value) and not leaked(echoed.value)
    assert not list(tmp_path.glob("*.partial"))
    assert not any(s in record.getMessage() for record in caplog.records for s in secrets)


def test_cli_backs_up_and_restores_into_a_named_database(sprint_db, scratch, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LEADS_DATABASE_URL", sprint_db)
    monkeypatch.setenv("LEADS_BACKUP_DIR", str(tmp_path))
    assert maintenance_cli.cmd_backup(argparse.Namespace(database_url=None, dir=None, keep_days=None,
                                                         no_prune=False)) == 0
    out = capsys.readouterr().out
    assert "pg_dump -Fc" in out and "pruned 0 backup(s) older than 7 days" in out
    (file,) = backups.list_backups(tmp_path)

    name = scratch("cli")
    args = argparse.Namespace(file=str(file), database=name, database_url=None, no_create=False, force=False)
    assert maintenance_cli.cmd_restore(args) == 0
    out = capsys.readouterr().out
    assert f"/{name} (created)" in out and "row counts match the backup's manifest" in out
    assert compare_fingerprints(table_fingerprints(sprint_db), table_fingerprints(_url(name))) == {}

    live = argparse.Namespace(file=str(file), database=sprint_db.rsplit("/", 1)[1], database_url=None,
                              no_create=False, force=False)
    with pytest.raises(SystemExit, match="live lead store"):
        maintenance_cli.cmd_restore(live)
