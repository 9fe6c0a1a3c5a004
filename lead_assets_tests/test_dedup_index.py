"""DedupIndex against real Redis, PostgreSQL and SQLite, including Redis outages and restarts."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest
import redis
from sqlalchemy import text

from lead_assets.store.dedup_index import DedupIndex, key_kind
from lead_assets.store.lead_store import LeadStore


def keys_for(prefix: str, n: int) -> dict[str, str]:
    return {f"vid:apollo:{prefix}{i}": f"lead-{prefix}{i}" for i in range(n)}


def closed_port() -> int:
    """A localhost port nothing listens on (connections are refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def index(store, redis_url):
    idx = DedupIndex(store, redis_url, sprint_id="t", retry_interval=0.2)
    yield idx
    idx.close()


def raw_redis(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url, decode_responses=True)


def test_key_kind():
    assert key_kind("vid:apollo:1") == "vendor"
    assert key_kind("li:linkedin.com/in/x") == "linkedin"
    assert key_kind("em:a@x.com") == "email"
    assert key_kind("phone:+1555") == "phone"
    assert key_kind("plain") == "other"


def test_database_only_without_redis(store):
    idx = DedupIndex(store, None)
    assert idx.register({"email:a@x.com": "L1"}) == {"email:a@x.com": "L1"}
    assert idx.lookup(["email:a@x.com", "email:b@x.com"]) == {"email:a@x.com": "L1"}
    assert (
        idx.stats["mode"] == "database" and idx.stats["db_lookups"] == 2 and idx.stats["redis_lookups"] == 0
    )
    assert idx.forget(["email:a@x.com"]) == 1
    assert idx.lookup(["email:a@x.com"]) == {}


def test_redis_down_from_the_start(store):
    started = time.monotonic()
    idx = DedupIndex(store, f"redis://127.0.0.1:{closed_port()}/15", sprint_id="t")
    assert idx.register({"em:a": "L1"}) == {"em:a": "L1"}
    assert idx.lookup(["em:a", "em:b"]) == {"em:a": "L1"}
    assert time.monotonic() - started < 3.0
    stats = idx.stats
    assert stats["mode"] == "database" and stats["fallbacks"] == 1 and stats["db_lookups"] == 2
    idx.close()


def test_register_then_lookup_through_redis(index, redis_url, store):
    mapping = keys_for("a", 300)
    assert index.register(mapping) == mapping
    assert index.lookup([*mapping, "vid:apollo:unknown"]) == mapping
    stats = index.stats
    assert stats["mode"] == "redis" and stats["redis_lookups"] == 301 and stats["db_lookups"] == 0
    assert raw_redis(redis_url).get("{ls:t}:k:vid:apollo:a7") == "lead-a7"
    with store.transaction() as conn:
        kinds = conn.execute(text("SELECT DISTINCT kind FROM dedup_keys")).scalars().all()
    assert kinds == ["vendor"]


ODD_KEYS = {  # what the bulk encodings must carry unchanged: array-literal syntax, escapes, a newline
    'vid:apollo:quote"d': "L1", "vid:apollo:back\\slash": "L2", "vid:apollo:{brace},comma": "L3",
    "vid:apollo:NULL": "L4", "vid:apollo: spaced ": "L5", "vid:apollo:ünïcode": "L6", "vid:apollo:new\nline": "L7",
}


def test_keys_with_odd_characters_round_trip(index, redis_url, store):
    plain = {k: v for k, v in ODD_KEYS.items() if "\n" not in k}
    # without a newline the keys travel joined; with one, key by key
    for mapping in (plain, ODD_KEYS):
        index.forget(list(ODD_KEYS))
        with store.transaction() as conn:
            inserted: set[str] = set()
            assert index.register(mapping, conn=conn, inserted=inserted) == mapping
        index.publish(mapping)
        assert index.lookup([*mapping, "vid:apollo:unknown"]) == mapping
        assert index.register({k: "other" for k in mapping}) == mapping  # first registration still wins
        if store.dialect == "postgresql":
            assert inserted == set(mapping)
    assert index.stats["redis_lookups"] > 0
    assert raw_redis(redis_url).get('{ls:t}:k:vid:apollo:quote"d') == "L1"


def test_first_registration_wins(index):
    assert index.register({"email:x": "L1"}) == {"email:x": "L1"}
    assert index.register({"email:x": "L2", "email:y": "L3"}) == {"email:x": "L1", "email:y": "L3"}
    assert index.lookup(["email:x"]) == {"email:x": "L1"}


def test_redis_outage_falls_back_to_the_database_and_rewarms(index, redis_url, caplog):
    before = keys_for("a", 200)
    index.register(before)
    healthy = index._redis
    index._redis = index._connect(f"redis://127.0.0.1:{closed_port()}/15")  # Redis goes away

    with caplog.at_level(logging.WARNING, logger="lead_assets.store.dedup_index"):
        assert index.lookup(list(before)) == before  # answered by the database
        during = keys_for("b", 100)
        assert index.register(during) == during  # the database still takes registrations
        assert index.lookup([*before, *during]) == {**before, **during}
    stats = index.stats
    assert stats["mode"] == "database" and stats["fallbacks"] == 1
    assert stats["db_lookups"] == 500
    assert sum("falling back" in r.message for r in caplog.records) == 1  # one warning per transition

    # An outage must not stall a run: while down, calls do not wait on Redis.
    started = time.monotonic()
    for _ in range(50):
        index.lookup(["vid:apollo:a1"])
    assert time.monotonic() - started < 2.0

    # Redis comes back empty (it keeps nothing on disk).
    raw = raw_redis(redis_url)
    raw.flushdb()
    index._redis = healthy
    time.sleep(0.25)  # > retry_interval
    everything = {**before, **during}
    assert index.lookup([*everything, "vid:apollo:nobody"]) == everything
    stats = index.stats
    assert stats["mode"] == "redis" and stats["rewarms"] >= 2 and stats["keys_rewarmed"] == 300
    # Zero keys lost: Redis itself holds every key again.
    assert raw.mget([f"{{ls:t}}:k:{k}" for k in everything]) == list(everything.values())


def test_keys_registered_during_an_outage_reach_redis_after_it(index, redis_url):
    index.register(keys_for("a", 10))
    healthy = index._redis
    index._redis = index._connect(f"redis://127.0.0.1:{closed_port()}/15")
    during = keys_for("b", 10)
    index.register(during)  # database only
    index._redis = healthy  # back with its old content: the sentinel is still there
    time.sleep(0.25)
    assert index.lookup(list(during)) == during
    assert index.stats["mode"] == "redis"
    assert raw_redis(redis_url).get("{ls:t}:k:vid:apollo:b3") == "lead-b3"


def test_redis_error_mid_batch(index, monkeypatch):
    mapping = keys_for("a", 50)
    index.register(mapping)

    def broken(*_args, **_kwargs):
        raise redis.ConnectionError("connection reset by peer")

    monkeypatch.setattr(index._redis, "mget", broken)
    assert index.lookup(list(mapping)) == mapping
    assert index.stats["fallbacks"] == 1 and index.stats["mode"] == "database"
    monkeypatch.undo()
    time.sleep(0.25)
    assert index.lookup(list(mapping)) == mapping
    assert index.stats["mode"] == "redis"


def test_a_silently_flushed_redis_is_never_trusted(index, redis_url):
    mapping = keys_for("a", 20)
    index.register(mapping)
    raw_redis(redis_url).flushdb()  # a restart between two calls: no error is ever seen
    assert index.lookup(list(mapping)) == mapping  # misses are not believed
    assert index.lookup(list(mapping)) == mapping  # ... and the next call re-warmed
    assert index.stats["mode"] == "redis"
    assert raw_redis(redis_url).get("{ls:t}:k:vid:apollo:a3") == "lead-a3"


def test_redis_filled_from_another_database_is_purged(store, redis_url):
    raw = raw_redis(redis_url)
    raw.set("{ls:t}:synced", "postgresql:some-other-db:2020-01-01")
    raw.set("{ls:t}:k:email:stale", "L-from-elsewhere")
    idx = DedupIndex(store, redis_url, sprint_id="t")
    assert idx.lookup(["email:stale"]) == {}
    assert raw.get("{ls:t}:k:email:stale") is None
    idx.close()


def test_only_one_process_rewarms_at_a_time(store, redis_url):
    raw = raw_redis(redis_url)
    DedupIndex(store, None).register({"em:a": "L1"})
    raw.set("{ls:t}:warming", "someone-else", ex=60)  # another process is re-warming
    idx = DedupIndex(store, redis_url, sprint_id="t", retry_interval=0.2)
    assert idx.lookup(["em:a"]) == {"em:a": "L1"}  # answered by the database meanwhile
    assert idx.stats["mode"] == "database" and idx.stats["rewarms"] == 0
    raw.delete("{ls:t}:warming")
    time.sleep(0.25)
    assert idx.lookup(["em:a"]) == {"em:a": "L1"}
    assert idx.stats["mode"] == "redis" and idx.stats["rewarms"] == 1
    assert raw.get("{ls:t}:warming") is None  # released
    idx.close()


def test_forget_removes_keys_everywhere(index, redis_url):
    index.register({"email:a": "L1", "email:b": "L2"})
    assert index.forget(["email:a"]) == 1
    assert index.lookup(["email:a", "email:b"]) == {"email:b": "L2"}
    assert raw_redis(redis_url).get("{ls:t}:k:email:a") is None


def test_forget_during_an_outage_is_finished_on_recovery(index, redis_url):
    index.register({"email:a": "L1"})
    healthy = index._redis
    index._redis = index._connect(f"redis://127.0.0.1:{closed_port()}/15")
    assert index.forget(["email:a"]) == 1
    assert index.lookup(["email:a"]) == {}
    index._redis = healthy
    time.sleep(0.25)
    assert index.lookup(["email:a"]) == {}
    assert index.stats["mode"] == "redis"
    assert raw_redis(redis_url).get("{ls:t}:k:email:a") is None


def test_concurrent_register_of_the_same_keys_has_one_winner(store, redis_url):
    # Two "processes": separate engines and Redis clients over the same database.
    stores = [LeadStore(store.url) for _ in range(2)]
    indexes = [DedupIndex(s, redis_url, sprint_id="t") for s in stores]
    keys = [f"email:shared{i}@x.com" for i in range(200)]
    barrier = threading.Barrier(2)
    results: list[dict] = [{}, {}]
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            barrier.wait(timeout=30)
            # Opposite orders: the store must lock keys in one order or the two deadlock.
            ordered = keys if n == 0 else keys[::-1]
            results[n] = indexes[n].register({k: f"lead-from-{n}" for k in ordered})
        except BaseException as exc:  # noqa: BLE001 - reported below
            barrier.abort()  # release the other thread instead of leaving it waiting
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert results[0] == results[1]
    assert set(results[0]) == set(keys)
    with store.transaction() as conn:
        assert conn.execute(text("SELECT count(*) FROM dedup_keys")).scalar_one() == len(keys)
    assert indexes[0].lookup(keys) == results[0]
    for idx, s in zip(indexes, stores, strict=True):
        idx.close()
        s.dispose()
