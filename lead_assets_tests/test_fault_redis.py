"""A real Redis outage mid-sprint: our own redis-server is stopped and started again.

Dedup falls back to the database while Redis is down, goes back to Redis (re-warmed from
`dedup_keys`) once it answers again, counts the fallback, and no person is bought twice or
stored twice. The shared Redis on 6379 is never touched.
"""

from __future__ import annotations

import subprocess
import time

import pytest
import redis
import requests

from lead_assets.clients.apollo import ApolloClient
from lead_assets.config.settings import sprint_config
from lead_assets.pipeline.search_plan import hour_keys
from lead_assets.sandbox import SandboxConfig, start_sandbox
from lead_assets.sources.collector import collect_hour, collection_context
from lead_assets.store.dedup_index import DedupIndex
from lead_assets.store.lead_store import LeadStore
from lead_assets_tests.redis_servers import free_port, kill, start_redis

CFG = sprint_config()
HOURS = hour_keys(CFG.start, CFG.hours)
TABLES = ("lead_sources, leads, raw_landings, dedup_keys, quarantine, search_slices, vendor_calls, "
          "cost_ledger, enrichment_ledger, field_provenance, crm_sync_state")


class OwnRedis:
    """A throwaway redis-server on a loopback port of its own (no persistence)."""

    def __init__(self, port: int):
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = start_redis(port=self.port)

    def stop(self) -> None:
        kill(self.proc)
        self.proc = None


@pytest.fixture
def own_redis():
    server = OwnRedis(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(SandboxConfig(population=1500)) as sb:
        yield sb


def test_redis_stopped_and_restarted_mid_sprint(sandbox, pg_url, own_redis):
    requests.post(f"{sandbox.base_url}/__sandbox/reset", json={"config": True}, timeout=5)
    store = LeadStore(pg_url)
    with store.transaction() as conn:
        conn.exec_driver_sql(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    index = DedupIndex(store, own_redis.url, sprint_id="faulttest", retry_interval=0.2)
    assert index.stats["mode"] == "redis"
    events: list[str] = []
    batches = {"n": 0}

    def on_batch(report):
        batches["n"] += 1
        if batches["n"] == 3:
            own_redis.stop()
            events.append(f"stopped after batch {batches['n']}")
        elif batches["n"] == 8:
            own_redis.start()
            events.append(f"restarted after batch {batches['n']}")

    client = ApolloClient(f"{sandbox.base_url}/apollo", "sandbox-apollo-key", sleep=lambda s: None)
    ctx = collection_context(CFG, store, index, client=client, on_batch=on_batch)
    modes = []
    for hour in HOURS[:4]:
        report = collect_hour(ctx, hour)
        assert report.slices_failed == 0, report.errors
        modes.append(index.stats["mode"])
    assert len(events) == 2, f"only {batches['n']} batches: the outage did not land mid-sprint"
    # one more lookup after the retry interval: Redis is trusted again
    time.sleep(0.3)
    index.lookup(["li:nobody"])
    stats = index.stats
    assert stats["fallbacks"] >= 1
    assert stats["db_lookups"] > 0 and stats["redis_lookups"] > 0
    assert stats["rewarms"] >= 1 and stats["mode"] == "redis"
    r = redis.Redis.from_url(own_redis.url, decode_responses=True)
    keys_in_redis = sum(1 for _ in r.scan_iter(match="{ls:faulttest}:k:*", count=10_000))
    keys_in_db = int(store.read_sql("SELECT COUNT(*) AS n FROM dedup_keys")["n"].iloc[0])
    assert keys_in_redis == keys_in_db  # the restarted Redis was re-warmed with every key

    # Replay the same hours through the re-warmed Redis: everyone is known, nothing bought again.
    for hour in HOURS[:4]:
        collect_hour(ctx, hour)
    stats_vendor = requests.get(f"{sandbox.base_url}/__sandbox/stats", timeout=5).json()["vendors"]["apollo"]
    assert stats_vendor["rebought"] == {}
    for column in ("linkedin_url", "email"):
        dupes = store.read_sql(f"SELECT {column}, COUNT(*) AS n FROM leads WHERE {column} IS NOT NULL "
                               f"GROUP BY {column} HAVING COUNT(*) > 1")
        assert dupes.empty, dupes
    vid_dupes = store.read_sql("SELECT vendor_person_id FROM lead_sources GROUP BY source, vendor_person_id "
                               "HAVING COUNT(DISTINCT lead_id) > 1")
    assert vid_dupes.empty
    orphans = store.read_sql("SELECT COUNT(*) AS n FROM dedup_keys k LEFT JOIN leads l ON l.lead_id = k.lead_id "
                             "WHERE l.lead_id IS NULL")
    assert int(orphans["n"].iloc[0]) == 0
    leads = int(store.read_sql("SELECT COUNT(*) AS n FROM leads")["n"].iloc[0])
    print(f"\nredis outage: {events}; batches={batches['n']}; modes per hour={modes}; index stats={index.stats}; "
          f"leads={leads}; dedup keys={keys_in_db} (redis {keys_in_redis}); "
          f"credits={stats_vendor['credits_consumed']}; rebought={stats_vendor['rebought']}")
    r.close()
    index.close()
    store.dispose()
