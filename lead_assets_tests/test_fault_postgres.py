"""PostgreSQL dropping the store's connections in the middle of a batch write, and restarting.

Three ways, each at a chosen write statement of the third batch of an hour of Apollo (the
dedup-key registration, the leads upsert or the lead_sources insert):

* every backend of the test database the store opened is terminated with ``pg_terminate_backend``
  from a separate admin connection, so the statement runs on a dead connection inside its open
  transaction: the batch's transaction rolls back whole (checked while the batch waits to be
  retried: the table is as the second batch left it), the batch runs again and the hour completes;
* the same, at every attempt (a database gone for good): after the retry budget the batch fails
  whole, the run stops with the error, and a re-run completes with every table consistent;
* the PostgreSQL server itself is stopped (fast shutdown) at that statement and started again
  two seconds later: the batch waits, reconnects and completes, nothing bought twice.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest
import requests
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError

from lead_assets.clients.apollo import ApolloClient
from lead_assets.config.settings import sprint_config
from lead_assets.pipeline.search_plan import hour_keys
from lead_assets.sandbox import SandboxConfig, start_sandbox
from lead_assets.sources.collector import collect_hour, collection_context
from lead_assets.store import database
from lead_assets.store.dedup_index import DedupIndex
from lead_assets.store.lead_store import LeadStore

CFG = sprint_config()
HOURS = hour_keys(CFG.start, CFG.hours)
TABLES = ("lead_sources, leads, raw_landings, dedup_keys, quarantine, search_slices, vendor_calls, "
          "cost_ledger, enrichment_ledger, field_provenance, crm_sync_state")


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(SandboxConfig(population=1500)) as sb:
        yield sb


def counts(store) -> dict[str, int]:
    row = store.read_sql(
        "SELECT (SELECT COUNT(*) FROM leads) AS leads, (SELECT COUNT(*) FROM lead_sources) AS lead_sources, "
        "(SELECT COUNT(*) FROM dedup_keys) AS dedup_keys, (SELECT COUNT(*) FROM quarantine) AS quarantine, "
        "(SELECT COUNT(*) FROM raw_landings) AS raw_landings"
    ).iloc[0]
    return {k: int(v) for k, v in row.items()}


def dangling(store) -> dict[str, int]:
    """Rows that point at a lead that is not there, and leads no source record explains."""
    q = {
        "keys_without_lead": "SELECT COUNT(*) AS n FROM dedup_keys k LEFT JOIN leads l ON l.lead_id = k.lead_id "
                             "WHERE l.lead_id IS NULL",
        "sources_without_lead": "SELECT COUNT(*) AS n FROM lead_sources s LEFT JOIN leads l "
                                "ON l.lead_id = s.lead_id WHERE l.lead_id IS NULL",
        "leads_without_source": "SELECT COUNT(*) AS n FROM leads l WHERE NOT EXISTS "
                                "(SELECT 1 FROM lead_sources s WHERE s.lead_id = l.lead_id)",
        "leads_without_key": "SELECT COUNT(*) AS n FROM leads l WHERE NOT EXISTS "
                             "(SELECT 1 FROM dedup_keys k WHERE k.lead_id = l.lead_id)",
    }
    return {name: int(store.read_sql(sql)["n"].iloc[0]) for name, sql in q.items()}


class BackendKiller:
    """Drops the store's connections right before the n-th statement containing `marker`.

    `every`: also before each later one (a database that stays gone). `action` does the
    dropping and returns how many backends it ended; by default `pg_terminate_backend`.
    """

    def __init__(self, store: LeadStore, admin_url: str, marker: str, nth: int, *, every: bool = False,
                 action=None):
        self.store, self.admin_url, self.marker, self.nth, self.every = store, admin_url, marker, nth, every
        self.action = action or self.terminate
        self.seen = 0
        self.killed = 0
        self.dbname = store.engine.url.database
        event.listen(store.engine, "before_cursor_execute", self._before)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        if self.marker not in statement:
            return
        self.seen += 1
        if self.seen == self.nth or (self.every and self.seen > self.nth):
            self.killed += self.action()

    def terminate(self) -> int:
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            rows = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND application_name = 'lead-sprint' AND pid <> pg_backend_pid()",
                (self.dbname,),
            ).fetchall()
        return sum(1 for (ok,) in rows if ok)

    def remove(self) -> None:
        event.remove(self.store.engine, "before_cursor_execute", self._before)


class AtRetry(logging.Handler):
    """Takes the store's row counts when a batch waits to be retried (the failed attempt rolled back)."""

    def __init__(self, store: LeadStore):
        super().__init__(logging.WARNING)
        self.store, self.seen, self._busy = store, [], False

    def emit(self, record: logging.LogRecord) -> None:
        if self._busy or "batch of" not in record.getMessage():
            return
        self._busy = True
        try:
            self.seen.append(counts(self.store))
        finally:
            self._busy = False


# A batch writes dedup_keys, leads and lead_sources in one transaction, so a death at any of the
# three statements leaves none of them.
MARKERS = {"INTO dedup_keys": "dedup_keys", "INTO leads": "leads", "INTO lead_sources": "lead_sources"}
WRITTEN_BY_BATCHES = ("leads", "lead_sources", "dedup_keys", "quarantine")


def hour_zero(sandbox, pg_url):
    """An empty store and a collection context for hour 0 whose batches snapshot the row counts."""
    requests.post(f"{sandbox.base_url}/__sandbox/reset", json={"config": True}, timeout=5)
    store = LeadStore(pg_url)
    with store.transaction() as conn:
        conn.exec_driver_sql(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    client = ApolloClient(f"{sandbox.base_url}/apollo", "sandbox-apollo-key", sleep=lambda s: None)
    snapshots: list[dict] = []
    ctx = collection_context(CFG, store, DedupIndex(store, None), client=client,
                             on_batch=lambda report: snapshots.append(counts(store)))
    return store, ctx, snapshots


def assert_consistent(sandbox, store, report) -> dict:
    """Every person the hour listed is a lead or a quarantine row, once; nothing dangles or was bought twice."""
    assert report.slices_failed == 0 and report.errors == []
    vendor = requests.get(f"{sandbox.base_url}/__sandbox/stats", timeout=5).json()["vendors"]["apollo"]
    assert vendor["rebought"] == {}
    gaps = dangling(store)
    assert gaps == dict.fromkeys(gaps, 0), gaps
    listed = {
        p["id"]
        for landing in store.landings("apollo", f"{HOURS[0]}|apollo", "search_page")
        for p in json.loads(landing["payload"])["people"]
    }
    accounted = set(store.read_sql("SELECT vendor_person_id FROM lead_sources")["vendor_person_id"])
    accounted |= set(store.read_sql("SELECT vendor_person_id FROM quarantine")["vendor_person_id"])
    assert listed and listed <= accounted, len(listed - accounted)
    dupes = store.read_sql("SELECT linkedin_url FROM leads WHERE linkedin_url IS NOT NULL "
                           "GROUP BY linkedin_url HAVING COUNT(*) > 1")
    assert dupes.empty
    return {"listed": len(listed), "credits": vendor["credits_consumed"], **counts(store)}


@pytest.mark.parametrize("marker", list(MARKERS))
def test_a_batch_whose_connection_dies_mid_write_is_retried_whole(sandbox, pg_url, marker):
    from lead_assets_tests.conftest import PG_ADMIN_URL

    store, ctx, snapshots = hour_zero(sandbox, pg_url)
    at_retry = AtRetry(store)
    logging.getLogger(database.__name__).addHandler(at_retry)
    killer = BackendKiller(store, PG_ADMIN_URL, marker, nth=3)
    try:
        report = collect_hour(ctx, HOURS[0])
    finally:
        killer.remove()
        logging.getLogger(database.__name__).removeHandler(at_retry)
    assert killer.killed >= 1, "no backend was terminated"
    assert len(at_retry.seen) == 1, at_retry.seen  # one batch retried, once
    # While it waited, the failed attempt had left nothing: the tables were as the batch before left them.
    before = next(s for s in reversed(snapshots) if s["raw_landings"] < at_retry.seen[0]["raw_landings"])
    assert {t: at_retry.seen[0][t] for t in WRITTEN_BY_BATCHES} == {t: before[t] for t in WRITTEN_BY_BATCHES}
    final = assert_consistent(sandbox, store, report)
    assert report.credits == final["credits"]  # every credit the vendor charged, booked once
    print(f"\npg backends killed at {marker!r}: {killer.killed}; at the retry {at_retry.seen[0]}; "
          f"after the previous batch {before}; final {final}")
    store.dispose()


@pytest.mark.parametrize("marker", list(MARKERS))
def test_a_database_gone_for_good_fails_the_batch_whole_and_a_rerun_completes(sandbox, pg_url, marker,
                                                                              monkeypatch):
    from lead_assets_tests.conftest import PG_ADMIN_URL

    monkeypatch.setattr(database, "RECONNECT_DELAYS", (0.01, 0.01))
    store, ctx, snapshots = hour_zero(sandbox, pg_url)
    killer = BackendKiller(store, PG_ADMIN_URL, marker, nth=3, every=True)
    with pytest.raises(DBAPIError) as failure:
        collect_hour(ctx, HOURS[0])
    killer.remove()
    assert killer.killed >= 3, killer.killed  # the first attempt and both retries
    assert "terminat" in str(failure.value).lower() or "closed" in str(failure.value).lower()
    after, before = counts(store), snapshots[-1]
    assert {t: after[t] for t in WRITTEN_BY_BATCHES} == {t: before[t] for t in WRITTEN_BY_BATCHES}
    assert after["raw_landings"] > before["raw_landings"]  # the page and its purchase were landed first
    gaps = dangling(store)
    assert gaps == dict.fromkeys(gaps, 0), gaps

    credits_before = requests.get(f"{sandbox.base_url}/__sandbox/stats", timeout=5).json()["vendors"]["apollo"][
        "credits_consumed"]
    report = collect_hour(ctx, HOURS[0])  # replays the landed pages: nothing bought again
    assert report.pages_replayed >= 1
    final = assert_consistent(sandbox, store, report)
    assert final["credits"] - credits_before == report.credits
    print(f"\npg gone at {marker!r}: failed after {killer.killed} kills, counts {after} (previous batch {before}); "
          f"re-run replayed {report.pages_replayed} pages, bought {report.bought}; final {final}")
    store.dispose()


def local_cluster() -> tuple[str, str] | None:
    """(version, name) of the local PostgreSQL cluster the tests use, when this machine runs it."""
    from lead_assets_tests.conftest import PG_ADMIN_URL

    if urlparse(PG_ADMIN_URL).hostname not in ("127.0.0.1", "localhost") or not shutil.which("pg_ctlcluster"):
        return None
    versions = sorted(p.name for p in Path("/etc/postgresql").glob("*") if (p / "main").is_dir())
    return (versions[-1], "main") if versions else None


def pg_ctl(cluster: tuple[str, str], action: str) -> None:
    extra = ["-m", "fast"] if action == "stop" else []
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, action, *extra], check=True,
                   capture_output=True, timeout=60)


def ensure_online(cluster: tuple[str, str], admin_url: str) -> None:
    """Leave the server running for the rest of the suite, whatever happened in the test."""
    for _ in range(60):
        try:
            psycopg.connect(admin_url, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, "start"], capture_output=True)
            time.sleep(0.5)
    raise AssertionError("PostgreSQL did not come back")


@pytest.mark.serial  # restarts the shared PostgreSQL server: `make test` runs it after the parallel tests
def test_postgres_restarted_during_a_batch_write(sandbox, pg_url, caplog):
    from lead_assets_tests.conftest import PG_ADMIN_URL

    cluster = local_cluster()
    if cluster is None:
        pytest.skip("needs the local PostgreSQL cluster (pg_ctlcluster) to restart it")
    caplog.set_level(logging.WARNING, logger=database.__name__)
    store, ctx, _ = hour_zero(sandbox, pg_url)
    starter: list[threading.Thread] = []
    down_at: list[float] = []

    def restart() -> int:
        pg_ctl(cluster, "stop")  # fast shutdown: every session ends, the open batch transaction with it
        down_at.append(time.monotonic())
        starter.append(threading.Timer(2.0, pg_ctl, (cluster, "start")))
        starter[0].start()
        return 1

    killer = BackendKiller(store, PG_ADMIN_URL, "INTO leads", nth=3, action=restart)
    try:
        report = collect_hour(ctx, HOURS[0])
        waited = time.monotonic() - down_at[0]
    finally:
        killer.remove()
        for thread in starter:
            thread.join()
        if down_at:
            ensure_online(cluster, PG_ADMIN_URL)
    assert killer.killed == 1
    retries = [r.getMessage() for r in caplog.records if "batch of" in r.getMessage()]
    assert retries, "the batch was not retried"
    final = assert_consistent(sandbox, store, report)
    assert report.credits == final["credits"]
    print(f"\npg restarted during batch 3's leads upsert: server down ~2 s, the batch retried {len(retries)} times "
          f"({retries[0]}); hour done {waited:.1f} s after the stop; final {final}")
    store.dispose()
