"""A real Sentinel setup on loopback (a master, a replica, one Sentinel), started by the test.

`REDIS_URL=redis+sentinel://127.0.0.1:26390/<service>/0` reaches the master the Sentinel names;
the dedup index and the limiter run through it, then the master is killed: the Sentinel promotes
the replica, both fall back meanwhile (reported) and follow the new master afterwards.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
import redis

from lead_assets.clients.rate_limit import make_limiter
from lead_assets.store.dedup_index import DedupIndex
from lead_assets.store.lead_store import LeadStore
from lead_assets.store.redis_client import redis_client
from lead_assets_tests.redis_servers import free_port, kill, start_redis, wait_ping

SENTINEL_PORT = 26390
SERVICE = "leadsprint-test"


@pytest.fixture
def sentinel_setup(tmp_path: Path):
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", SENTINEL_PORT)) != 0, f"port {SENTINEL_PORT} is taken"
    master, replica = free_port(), free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {SENTINEL_PORT}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor {SERVICE} 127.0.0.1 {master} 1\n"
        f"sentinel down-after-milliseconds {SERVICE} 500\n"
        f"sentinel failover-timeout {SERVICE} 5000\n"
    )
    procs = {}
    try:
        procs["master"] = start_redis(port=master)
        procs["replica"] = start_redis("--replicaof", "127.0.0.1", str(master), port=replica)
        procs["sentinel"] = start_redis(str(conf), "--sentinel")
        wait_ping(SENTINEL_PORT)
        yield {"procs": procs, "master": master, "replica": replica,
               "url": f"redis+sentinel://127.0.0.1:{SENTINEL_PORT}/{SERVICE}/0"}
    finally:
        for proc in procs.values():
            kill(proc)


def test_dedup_and_limiter_through_sentinel_follow_a_failover(sentinel_setup, tmp_path):
    url = sentinel_setup["url"]
    store = LeadStore(f"sqlite:///{tmp_path / 'leads.db'}")
    store.ensure_schema()
    index = DedupIndex(store, url, sprint_id="sentinel-test", retry_interval=0.2)
    limiter = make_limiter("apollo", {"search": {"minute": 1000}}, credential="k", redis_url=url)
    index.register({f"em:{i}@x.com": f"L{i}" for i in range(100)})
    assert limiter.acquire("search") == 0.0
    assert index.lookup(["em:1@x.com"]) == {"em:1@x.com": "L1"}
    assert index.stats["mode"] == "redis" and limiter.mode == "redis"
    master = redis.Redis(port=sentinel_setup["master"], decode_responses=True)
    assert master.get("{ls:sentinel-test}:k:em:1@x.com") == "L1"  # written to the master the Sentinel named
    assert any(k.startswith("{rl:apollo:search:") for k in master.scan_iter(count=1000))
    master.close()

    sentinel_setup["procs"]["master"].kill()  # the master crashes; the Sentinel promotes the replica
    sentinel_setup["procs"]["master"].wait(timeout=10)
    killed = time.monotonic()
    index.register({"em:during@x.com": "L-during"})  # answered by the database meanwhile
    assert limiter.acquire("search") == 0.0  # counted in-process meanwhile
    deadline = time.monotonic() + 30
    while index.stats["mode"] != "redis":
        assert time.monotonic() < deadline, index.stats
        assert index.lookup(["em:during@x.com"]) == {"em:during@x.com": "L-during"}
        time.sleep(0.2)
    failover_s = time.monotonic() - killed
    new_master = redis_client(url, decode_responses=True).connection_pool.get_master_address()
    assert new_master[1] == sentinel_setup["replica"]
    assert index.lookup(["em:during@x.com", "em:99@x.com"]) == {"em:during@x.com": "L-during", "em:99@x.com": "L99"}
    stats = index.stats
    assert stats["fallbacks"] == 1 and stats["rewarms"] >= 2 and limiter.fallbacks == 1
    print(f"\nsentinel failover: dedup back on the new master after {failover_s:.1f} s "
          f"(degraded {stats['degraded_seconds']:.1f} s, fallbacks {stats['fallbacks']}), "
          f"limiter fallbacks {limiter.fallbacks}")
    index.close()
    store.dispose()
