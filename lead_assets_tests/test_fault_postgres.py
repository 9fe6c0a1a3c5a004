"""PostgreSQL connections killed in the middle of a batch write, then a re-run.

Simulated restart: the shared server is never stopped. When the store is about to run a
chosen write statement of a batch (the dedup-key registration, the leads upsert or the
lead_sources insert), every backend of the test database that the store opened is terminated
with ``pg_terminate_backend`` from a separate admin connection, so the statement runs on a
dead connection inside its open transaction. The batch must fail whole (that transaction
rolled back, nothing of it visible), the run must stop with the error, and a re-run must
complete with every table consistent.
"""

from __future__ import annotations

import json

import psycopg
import pytest
import requests
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError

from lead_assets.clients.apollo import ApolloClient
from lead_assets.config.settings import sprint_config
from lead_assets.pipeline.apollo_collection import collect_hour
from lead_assets.pipeline.partition_work import collection_context
from lead_assets.pipeline.search_plan import hour_keys
from lead_assets.sandbox import SandboxConfig, start_sandbox
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
    """Terminates the store's backends right before the n-th statement containing `marker`."""

    def __init__(self, store: LeadStore, admin_url: str, marker: str, nth: int):
        self.store, self.admin_url, self.marker, self.nth = store, admin_url, marker, nth
        self.seen = 0
        self.killed = 0
        self.dbname = store.engine.url.database
        event.listen(store.engine, "before_cursor_execute", self._before)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        if self.marker not in statement:
            return
        self.seen += 1
        if self.seen != self.nth:
            return
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            rows = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND application_name = 'lead-sprint' AND pid <> pg_backend_pid()",
                (self.dbname,),
            ).fetchall()
        self.killed += sum(1 for (ok,) in rows if ok)

    def remove(self) -> None:
        event.remove(self.store.engine, "before_cursor_execute", self._before)


# A batch writes dedup_keys, leads and lead_sources in one transaction, so a death at any of the
# three statements leaves none of them; the re-run stores every listed person.
MARKERS = {"INTO dedup_keys": "dedup_keys", "INTO leads": "leads", "INTO lead_sources": "lead_sources"}


def kill_mid_batch(sandbox, pg_url, marker):
    """Run hour 0 until the third batch's `marker` write, killing the store's backends there."""
    from lead_assets_tests.conftest import PG_ADMIN_URL

    requests.post(f"{sandbox.base_url}/__sandbox/reset", json={"config": True}, timeout=5)
    store = LeadStore(pg_url)
    with store.transaction() as conn:
        conn.exec_driver_sql(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    index = DedupIndex(store, None)
    client = ApolloClient(f"{sandbox.base_url}/apollo", "sandbox-apollo-key", sleep=lambda s: None)
    snapshots: list[dict] = []
    ctx = collection_context(CFG, store, index, client=client,
                             on_batch=lambda report: snapshots.append(counts(store)))
    killer = BackendKiller(store, PG_ADMIN_URL, marker, nth=3)  # the third batch's write
    with pytest.raises(DBAPIError) as failure:
        collect_hour(ctx, HOURS[0])
    killer.remove()
    assert killer.killed >= 1, "no backend was terminated"
    assert "terminat" in str(failure.value).lower() or "closed" in str(failure.value).lower()
    after = counts(store)
    before = snapshots[-1]
    # The killed statement's own transaction left nothing: its table is as after batch 2.
    assert after[MARKERS[marker]] == before[MARKERS[marker]]
    assert after["raw_landings"] > before["raw_landings"]  # the page and its purchase were landed first
    print(f"\npg kill at {marker!r} (batch 3): backends terminated={killer.killed}; before={before}; "
          f"after failure={after}; dangling after failure={dangling(store)}")
    return store, ctx


@pytest.mark.parametrize("marker", [
    "INTO dedup_keys",
    "INTO leads",
    "INTO lead_sources",
])
def test_a_batch_killed_mid_write_leaves_nothing_half_written(sandbox, pg_url, marker):
    store, _ = kill_mid_batch(sandbox, pg_url, marker)
    gaps = dangling(store)
    store.dispose()
    assert gaps == dict.fromkeys(gaps, 0), gaps


@pytest.mark.parametrize("marker", [
    "INTO dedup_keys",
    "INTO leads",
    "INTO lead_sources",
])
def test_a_rerun_after_connections_killed_mid_batch_completes_consistently(sandbox, pg_url, marker):
    store, ctx = kill_mid_batch(sandbox, pg_url, marker)
    credits_before = requests.get(f"{sandbox.base_url}/__sandbox/stats", timeout=5).json()["vendors"]["apollo"][
        "credits_consumed"]
    report = collect_hour(ctx, HOURS[0])  # a fresh pool: pool_pre_ping replaces the dead connections
    assert report.slices_failed == 0 and report.errors == []
    assert report.pages_replayed >= 1
    vendor = requests.get(f"{sandbox.base_url}/__sandbox/stats", timeout=5).json()["vendors"]["apollo"]
    assert vendor["rebought"] == {}
    assert vendor["credits_consumed"] - credits_before == report.credits
    gaps = dangling(store)
    listed = {
        p["id"]
        for landing in store.landings("apollo", f"{HOURS[0]}|apollo", "search_page")
        for p in json.loads(landing["payload"])["people"]
    }
    accounted = set(store.read_sql("SELECT vendor_person_id FROM lead_sources")["vendor_person_id"])
    accounted |= set(store.read_sql("SELECT vendor_person_id FROM quarantine")["vendor_person_id"])
    dupes = store.read_sql("SELECT linkedin_url FROM leads WHERE linkedin_url IS NOT NULL "
                           "GROUP BY linkedin_url HAVING COUNT(*) > 1")
    print(f"re-run replayed {report.pages_replayed} pages, bought {report.bought} (credits {report.credits}), "
          f"skipped as known {report.already_known}; listed people {len(listed)}, never stored "
          f"{len(listed - accounted)}; dangling after re-run={gaps}; final counts={counts(store)}")
    store.dispose()
    assert dupes.empty
    assert gaps == dict.fromkeys(gaps, 0), gaps
    assert listed and listed <= accounted
