"""A real three-node Redis Cluster on loopback ports, started and stopped by the test.

Hours of Apollo against the sandbox run with the dedup index and the rate limiters on the cluster
(`REDIS_URL=redis+cluster://...`): zero fallbacks, zero CROSSSLOT. Then the node holding the
sprint's dedup slot is killed mid-sprint and started again: the run goes on (dedup falls back to
the database, reported and counted), nobody is bought or stored twice, and the seconds of
degraded dedup are measured. Run with `pytest -s` to see the numbers.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import redis
import requests
from redis.cluster import RedisCluster

from lead_assets.clients import rate_limit
from lead_assets.clients.apollo import ApolloClient
from lead_assets.config.settings import sprint_config
from lead_assets.pipeline.search_plan import hour_keys
from lead_assets.sandbox import SandboxConfig, start_sandbox
from lead_assets.sources.collector import collect_hour, collection_context
from lead_assets.store.dedup_index import DedupIndex
from lead_assets.store.lead_store import LeadStore
from lead_assets.store.redis_client import same_slot
from lead_assets_tests.redis_servers import kill, start_redis

CFG = sprint_config()
HOURS = hour_keys(CFG.start, CFG.hours)
PORTS = (7101, 7102, 7103)
SPRINT = "cluster-test"
TABLES = ("lead_sources, leads, raw_landings, dedup_keys, quarantine, search_slices, vendor_calls, "
          "cost_ledger, enrichment_ledger, field_provenance, crm_sync_state")


class ClusterNodes:
    """Three cluster-enabled redis-servers in a scratch folder (no persistence); each can be killed
    and started again on its port with its nodes.conf, as after a crash."""

    def __init__(self, folder: Path, ports=PORTS):
        self.folder, self.ports = folder, ports
        self.procs: dict[int, subprocess.Popen] = {}
        assert shutil.which("redis-cli"), "redis-cli is not on PATH"

    def start(self, port: int) -> None:
        for p in (port, port + 10000):  # the node's port and its cluster bus
            with socket.socket() as s:
                assert s.connect_ex(("127.0.0.1", p)) != 0, f"port {p} is taken: the cluster test needs it"
        self.procs[port] = start_redis("--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
                                       "--cluster-node-timeout", "1000", port=port, cwd=self.folder)

    def create(self) -> None:
        for port in self.ports:
            self.start(port)
        subprocess.run(["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
                        "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, capture_output=True, timeout=60)
        self.wait_ok()

    def wait_ok(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        for port in self.ports:
            client = redis.Redis(port=port, decode_responses=True, socket_timeout=1)
            while client.cluster("info").get("cluster_state") != "ok":
                assert time.monotonic() < deadline, f"cluster not ok on {port}"
                time.sleep(0.1)
            client.close()

    def kill(self, port: int) -> None:
        kill(self.procs.pop(port, None))  # like a crash: the node keeps nothing but its nodes.conf

    def stop_all(self) -> None:
        for port in list(self.procs):
            self.kill(port)

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports)


@pytest.fixture
def cluster(tmp_path):
    nodes = ClusterNodes(tmp_path)
    try:
        nodes.create()
        yield nodes
    finally:
        nodes.stop_all()


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(SandboxConfig(population=1500)) as sb:
        yield sb


def duplicates(store: LeadStore) -> int:
    n = 0
    for column in ("linkedin_url", "email"):
        n += len(store.read_sql(f"SELECT {column} FROM leads WHERE {column} IS NOT NULL "
                                f"GROUP BY {column} HAVING COUNT(*) > 1"))
    n += len(store.read_sql("SELECT vendor_person_id FROM lead_sources GROUP BY source, vendor_person_id "
                            "HAVING COUNT(DISTINCT lead_id) > 1"))
    return n


def test_a_sprint_on_a_redis_cluster_survives_a_node_killed_mid_sprint(sandbox, pg_url, cluster, monkeypatch):
    requests.post(f"{sandbox.base_url}/__sandbox/reset", json={"config": True}, timeout=5)
    store = LeadStore(pg_url)
    store.ensure_schema()
    with store.transaction() as conn:
        conn.exec_driver_sql(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    monkeypatch.setenv("REDIS_URL", cluster.url)  # the limiters' Redis, as in production
    monkeypatch.setattr(rate_limit, "_CLIENTS", {})
    index = DedupIndex(store, cluster.url, sprint_id=SPRINT, retry_interval=0.2)
    client = ApolloClient(f"{sandbox.base_url}/apollo", "sandbox-apollo-key", limits=CFG.rate_limits["apollo"],
                          sleep=lambda s: None)
    limiter = client.http.limiter
    assert index.stats["mode"] == "redis" and limiter.mode == "redis"

    # 1. A healthy cluster: everything through Redis, no fallback, no CROSSSLOT.
    ctx = collection_context(CFG, store, index, client=client)
    for hour in HOURS[:2]:
        report = collect_hour(ctx, hour)
        assert report.slices_failed == 0, report.errors
    healthy = dict(index.stats)
    assert healthy["fallbacks"] == 0 and healthy["crossslot_errors"] == 0 and healthy["redis_lookups"] > 0
    assert limiter.fallbacks == 0 and limiter.crossslot_errors == 0 and limiter.local_acquires == 0
    rc = RedisCluster(host="127.0.0.1", port=PORTS[0], decode_responses=True)
    dedup_keys = [k for k in rc.scan_iter(match=f"{{ls:{SPRINT}}}:*", count=10_000)]
    keys_in_db = int(store.read_sql("SELECT COUNT(*) AS n FROM dedup_keys")["n"].iloc[0])
    assert len(dedup_keys) == keys_in_db + 1 and same_slot(dedup_keys)  # every key and the sentinel
    bucket_keys = [k for k in rc.scan_iter(match="{rl:apollo:*", count=10_000)]
    assert bucket_keys and all("sandbox-apollo-key" not in k for k in bucket_keys)
    dedup_port = rc.get_node_from_key(index.sentinel).port
    bucket_ports = {rc.get_node_from_key(k).port for k in bucket_keys}
    rc.close()

    # 2. The node holding the sprint's dedup slot dies mid-sprint and comes back 3 s later.
    events: dict[str, float] = {}
    restarter: list[threading.Timer] = []

    def on_batch(report):
        if "killed" not in events:
            cluster.kill(dedup_port)
            events["killed"] = time.monotonic()

            def restart():
                cluster.start(dedup_port)
                events["restarted"] = time.monotonic()

            restarter.append(threading.Timer(3.0, restart))
            restarter[0].start()

    ctx = collection_context(CFG, store, index, client=client, on_batch=on_batch)
    hours_run = 2
    for hour in HOURS[2:]:
        report = collect_hour(ctx, hour)
        assert report.slices_failed == 0, report.errors  # the run survives
        hours_run += 1
        if "restarted" in events and index.stats["mode"] == "redis" and hours_run >= 6:
            break
    restarter[0].join()
    cluster.wait_ok()
    deadline = time.monotonic() + 30
    while index.stats["mode"] != "redis":  # a lookup after the outage: Redis re-warmed and trusted again
        assert time.monotonic() < deadline, index.stats
        index.lookup(["li:nobody"])
        time.sleep(0.2)
    stats = index.stats
    assert stats["fallbacks"] >= 1 and stats["db_lookups"] > 0 and stats["rewarms"] >= 2
    assert stats["crossslot_errors"] == 0 and limiter.crossslot_errors == 0

    rc = RedisCluster(host="127.0.0.1", port=PORTS[0], decode_responses=True)
    keys_in_redis = sum(1 for _ in rc.scan_iter(match=f"{{ls:{SPRINT}}}:k:*", count=10_000))
    keys_in_db = int(store.read_sql("SELECT COUNT(*) AS n FROM dedup_keys")["n"].iloc[0])
    assert keys_in_redis == keys_in_db  # the restarted node was re-warmed with every key
    rc.close()
    vendor = requests.get(f"{sandbox.base_url}/__sandbox/stats", timeout=5).json()["vendors"]["apollo"]
    dupes = duplicates(store)
    assert vendor["rebought"] == {} and dupes == 0
    leads = int(store.read_sql("SELECT COUNT(*) AS n FROM leads")["n"].iloc[0])
    print(
        f"\nredis cluster {cluster.url}: healthy {HOURS[:2]}: dedup fallbacks={healthy['fallbacks']}, "
        f"limiter fallbacks=0, crossslot=0, redis lookups={healthy['redis_lookups']}"
        f"\nnode {dedup_port} (dedup slot; limiter buckets on {sorted(bucket_ports)}) killed mid-sprint, "
        f"restarted after {events['restarted'] - events['killed']:.1f} s; hours run={hours_run}"
        f"\ndedup: fallbacks={stats['fallbacks']}, degraded seconds={stats['degraded_seconds']:.1f}, "
        f"db lookups={stats['db_lookups']}, rewarms={stats['rewarms']}, keys re-warmed={stats['keys_rewarmed']}"
        f"\nlimiter: fallbacks={limiter.fallbacks}, calls counted on the host's file meanwhile={limiter.local_acquires}"
        f"\nleads={leads}, dedup keys={keys_in_db} (cluster {keys_in_redis}), duplicates={dupes}, "
        f"credits={vendor['credits_consumed']}, rebought={vendor['rebought']}"
    )
    index.close()
    store.dispose()
