"""Several sprints on one Redis: dedup keys namespaced by sprint id, rate-limit buckets by API key.

Two sprints with their own lead stores on one Redis DB never read, purge or re-warm each other's
dedup keys; two API keys of one vendor are two budgets; one key shared by two sprints is one
budget; every key one command or script touches carries one hash tag (one cluster slot).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time

import pytest
import redis
import yaml
from redis.exceptions import ClusterCrossSlotError

from lead_assets.clients.rate_limit import RedisWindowLimiter, WindowLimiter, make_limiter
from lead_assets.config.settings import SPRINT_CONFIG_PATH, load_sprint_config, validate_sprint_id
from lead_assets.store.dedup_index import DedupIndex, dedup_prefix
from lead_assets.store.lead_store import LeadStore
from lead_assets.store.redis_client import parse_redis_url, same_slot


class FakeClock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def raw_redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True)


def snapshot(r: redis.Redis, pattern: str) -> dict[str, str]:
    keys = sorted(r.scan_iter(match=pattern, count=10_000))
    return dict(zip(keys, r.mget(keys), strict=True)) if keys else {}


# -- the sprint id ---------------------------------------------------------------------------


def test_sprint_id_comes_from_the_brief_and_the_environment_overrides_it(monkeypatch, tmp_path):
    monkeypatch.delenv("LEAD_SPRINT_ID", raising=False)
    assert load_sprint_config().sprint_id == "perf-marketing-us"
    monkeypatch.setenv("LEAD_SPRINT_ID", "paid-social-emea")
    assert load_sprint_config().sprint_id == "paid-social-emea"
    monkeypatch.setenv("LEAD_SPRINT_ID", "Paid Social!")
    with pytest.raises(ValueError, match=r"LEAD_SPRINT_ID.*lowercase letters, digits"):
        load_sprint_config()
    monkeypatch.delenv("LEAD_SPRINT_ID")
    raw = yaml.safe_load(SPRINT_CONFIG_PATH.read_text())
    del raw["sprint"]["id"]
    brief = tmp_path / "sprint.yaml"
    brief.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match="sprint.id is missing"):
        load_sprint_config(brief)


@pytest.mark.parametrize("bad", ["", "-a", "a-", "a_b", "a{b}", "a:b", "x" * 41, "ÄB"])
def test_sprint_id_must_be_a_slug(bad):
    with pytest.raises(ValueError):
        validate_sprint_id(bad)


# -- dedup keys per sprint -------------------------------------------------------------------


def test_dedup_keys_carry_the_sprint_id_in_one_hash_tag(tmp_path, redis_url):
    store = LeadStore(f"sqlite:///{tmp_path / 'a.db'}")
    store.ensure_schema()
    index = DedupIndex(store, redis_url, sprint_id="sprint-a")
    index.register({"li:linkedin.com/in/ann": "L1", "em:ann@x.com": "L1", "vid:apollo:7": "L1"})
    written = list(raw_redis(redis_url).scan_iter(count=10_000))
    assert written and all(k.startswith("{ls:sprint-a}:") for k in written)
    assert same_slot(written)  # sentinel, keys and lock: one slot, so no MGET/MSET/DEL can be CROSSSLOT
    assert dedup_prefix("sprint-a") == "{ls:sprint-a}"
    index.close()
    store.dispose()


def test_two_sprints_on_one_redis_never_touch_each_others_keys(tmp_path, redis_url):
    # Two sprints, two lead stores, one Redis DB. Before the sprint id they shared one namespace:
    # each one's start-up saw the other's fingerprint and purged the other's keys.
    stores = {s: LeadStore(f"sqlite:///{tmp_path / f'{s}.db'}") for s in ("sprint-a", "sprint-b")}
    for store in stores.values():
        store.ensure_schema()
    r = raw_redis(redis_url)
    a = DedupIndex(stores["sprint-a"], redis_url, sprint_id="sprint-a")
    a.register({f"em:a{i}@x.com": f"LA{i}" for i in range(50)})
    a_keys = snapshot(r, "{ls:sprint-a}:*")

    b = DedupIndex(stores["sprint-b"], redis_url, sprint_id="sprint-b")  # warms its own namespace
    b.register({f"em:b{i}@x.com": f"LB{i}" for i in range(30)})
    b.register({"em:a0@x.com": "LB-same-person"})  # the same person, bought by the other sprint
    b_keys = snapshot(r, "{ls:sprint-b}:*")
    a.register({f"em:a{i}@x.com": f"LA{i}" for i in range(50, 60)})
    a_after = snapshot(r, "{ls:sprint-a}:*")

    assert set(r.scan_iter(count=10_000)) == set(a_after) | set(b_keys)  # nothing outside the two namespaces
    assert {k: v for k, v in a_after.items() if k in a_keys} == a_keys  # b purged or overwrote nothing of a's
    assert b_keys["{ls:sprint-b}:k:em:a0@x.com"] == "LB-same-person"
    assert a_after["{ls:sprint-a}:k:em:a0@x.com"] == "LA0"
    assert a.lookup(["em:a0@x.com", "em:b0@x.com"]) == {"em:a0@x.com": "LA0"}  # b's keys are not a's
    assert b.lookup(["em:a0@x.com", "em:a1@x.com"]) == {"em:a0@x.com": "LB-same-person"}
    for index in (a, b):
        assert index.stats["mode"] == "redis" and index.stats["fallbacks"] == 0 and index.stats["rewarms"] == 1
        index.close()
    for store in stores.values():
        store.dispose()


def test_a_crossslot_refusal_is_loud_and_falls_back(tmp_path, redis_url, caplog):
    store = LeadStore(f"sqlite:///{tmp_path / 'a.db'}")
    store.ensure_schema()
    index = DedupIndex(store, redis_url, sprint_id="sprint-a", retry_interval=60)
    index.register({"em:a@x.com": "L1"})

    def crossslot(*args, **kwargs):
        raise ClusterCrossSlotError("CROSSSLOT Keys in request don't hash to the same slot")

    index._redis.mget = crossslot
    with caplog.at_level(logging.WARNING):
        assert index.lookup(["em:a@x.com"]) == {"em:a@x.com": "L1"}  # the database answered
    assert index.stats["crossslot_errors"] == 1 and index.stats["fallbacks"] == 1
    assert index.stats["mode"] == "database" and index.stats["degraded_seconds"] >= 0
    errors = [rec for rec in caplog.records if rec.levelno == logging.ERROR]
    assert errors and "CROSSSLOT" in errors[0].getMessage() and "bug" in errors[0].getMessage()
    index.close()
    store.dispose()


# -- rate-limit buckets per API key ----------------------------------------------------------


def limiter(redis_url, credential, clock, limits=None):
    return RedisWindowLimiter("apollo", limits or {"search": {"minute": 3, "hour": 100}}, redis.Redis.from_url(redis_url),
                              credential=credential, clock=clock, sleep=clock.sleep)


def test_two_api_keys_of_one_vendor_are_two_budgets(redis_url):
    clock = FakeClock(960.0)
    one, two = limiter(redis_url, "key-one", clock), limiter(redis_url, "key-two", clock)
    for lim in (one, two, one, two, one, two):
        assert lim.acquire("search", max_wait=0) == 0.0
    for lim in (one, two):
        with pytest.raises(TimeoutError):
            lim.acquire("search", max_wait=0)  # each key's own minute is full
    keys = list(raw_redis(redis_url).scan_iter(count=10_000))
    digest = {c: hashlib.sha256(c.encode()).hexdigest()[:16] for c in ("key-one", "key-two")}
    assert {k.split("}")[0] for k in keys} == {f"{{rl:apollo:search:{d}" for d in digest.values()}
    assert not any("key-one" in k or "key-two" in k for k in keys)  # never the raw key


def test_one_key_shared_by_two_sprints_is_one_budget(redis_url):
    # Two sprints (each its own Redis client) with the same Apollo key: their calls together stay
    # inside the key's limit. Nothing of the sprint is part of a bucket, so both count in one.
    limits = {"search": {"second": 4}}
    stamps: list[float] = []
    lock = threading.Lock()

    def sprint(sprint_id: str):
        lim = RedisWindowLimiter("apollo", limits, redis.Redis.from_url(redis_url), credential="shared-key")
        for _ in range(8):
            lim.acquire("search")
            with lock:
                stamps.append(time.time())

    threads = [threading.Thread(target=sprint, args=(s,)) for s in ("sprint-a", "sprint-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    per_second: dict[int, int] = {}
    for s in stamps:
        per_second[int(s)] = per_second.get(int(s), 0) + 1
    assert len(stamps) == 16 and max(per_second.values()) <= 4, per_second
    buckets = {k.split("}")[0] for k in raw_redis(redis_url).scan_iter(count=10_000)}
    assert len(buckets) == 1


def test_a_limiter_script_touches_one_slot_even_at_a_window_edge(redis_url):
    clock = FakeClock(3599.95)  # at the edge of a second, a minute and an hour: next windows too
    lim = limiter(redis_url, "k", clock, {"search": {"second": 5, "minute": 50, "hour": 500, "day": 5000}})
    windows = lim._windows("search", clock())
    assert len(windows) == 7 and same_slot([w[0] for w in windows])
    assert lim.acquire("search", max_wait=0) == 0.0


def test_without_redis_the_hosts_file_and_the_process_follow_the_same_rule(tmp_path, monkeypatch):
    monkeypatch.setenv("LEAD_SPRINT_STATE_DIR", str(tmp_path))
    limits = {"search": {"minute": 2}}
    a1 = make_limiter("apollo", limits, credential="key-a", redis_url="")
    a2 = make_limiter("apollo", limits, credential="key-a", redis_url="")  # another process, same key
    b = make_limiter("apollo", limits, credential="key-b", redis_url="")
    assert a1.mode == "file" and a1.acquire("search", max_wait=0) == 0.0 and a2.acquire("search", max_wait=0) == 0.0
    with pytest.raises(TimeoutError):
        a1.acquire("search", max_wait=0)  # one key, one budget, across the host
    assert b.acquire("search", max_wait=0) == 0.0  # another key, its own budget
    counted = json.loads((tmp_path / "rate_limits" / "apollo.json").read_text())
    assert {k.split("}")[0] for k in counted} == {a1.bucket_tag("search")[:-1], b.bucket_tag("search")[:-1]}
    assert not any("key-a" in k or "key-b" in k for k in counted)
    # The last resort, in-process: one bucket per key in the process, shared by its clients.
    fallback, again = (RedisWindowLimiter("apollo", limits, None, credential="key-a") for _ in range(2))
    other = RedisWindowLimiter("apollo", limits, None, credential="key-b")
    assert isinstance(fallback.local, WindowLimiter) and fallback.local is again.local
    assert fallback.local is not other.local and fallback.mode == "local"


# -- REDIS_URL forms ------------------------------------------------------------------------


def test_redis_url_forms():
    assert parse_redis_url("redis://127.0.0.1:6379/3").kind == "single"
    cluster = parse_redis_url("redis+cluster://:s3cret@10.0.0.1:7000,10.0.0.2")
    assert cluster.kind == "cluster" and cluster.nodes == (("10.0.0.1", 7000), ("10.0.0.2", 6379))
    assert cluster.password == "s3cret" and not cluster.ssl
    sentinel = parse_redis_url("rediss+sentinel://app:pw@s1:26379,s2:26380,[::1]:26381/leads/2")
    assert sentinel.kind == "sentinel" and sentinel.service == "leads" and sentinel.db == 2 and sentinel.ssl
    assert sentinel.nodes == (("s1", 26379), ("s2", 26380), ("::1", 26381)) and sentinel.username == "app"
    assert parse_redis_url("redis+sentinel://s1/leads").nodes == (("s1", 26379),)
    for bad in ("redis+sentinel://s1:26379", "redis+sentinel://s1:x/leads", "redis+cluster://h:1/3",
                "redis+cluster:///", "memcached://h"):
        with pytest.raises(ValueError) as exc:
            parse_redis_url(bad)
        assert "pw" not in str(exc.value)


def test_a_crossslot_refusal_in_the_limiter_is_loud_and_counted_in_process(redis_url, caplog):
    clock = FakeClock(960.0)
    lim = limiter(redis_url, "k", clock)

    def crossslot(*args, **kwargs):
        raise ClusterCrossSlotError("CROSSSLOT Keys in request don't hash to the same slot")

    lim._acquire = crossslot
    with caplog.at_level(logging.WARNING):
        assert lim.acquire("search", max_wait=0) == 0.0  # the call still goes out, counted in-process
    assert lim.crossslot_errors == 1 and lim.fallbacks == 1 and lim.local_acquires == 1 and lim.mode == "local"
    assert any(r.levelno == logging.ERROR and "CROSSSLOT" in r.getMessage() for r in caplog.records)
