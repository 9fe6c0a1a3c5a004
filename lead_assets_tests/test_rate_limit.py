"""The client-side window limiter: counts, waits, trusts the vendor's remaining counts."""

import json
import subprocess
import sys
import threading
import time

import pytest
import redis

from lead_assets.clients.file_counters import FileCounters
from lead_assets.clients.rate_limit import RedisWindowLimiter, WindowLimiter, make_limiter


class FakeClock:
    def __init__(self, t: float = 1000.0):
        self.t = t
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


def make(limits, clock):
    return WindowLimiter(limits=limits, clock=clock, sleep=clock.sleep)


def test_acquire_within_limit_never_waits():
    clock = FakeClock(960.0)
    lim = make({"search": {"minute": 3}}, clock)
    assert [lim.acquire("search") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert clock.slept == []


def test_acquire_waits_for_the_window_boundary():
    clock = FakeClock(960.0)  # exactly a minute boundary
    lim = make({"search": {"minute": 2}}, clock)
    lim.acquire("search")
    lim.acquire("search")
    waited = lim.acquire("search")
    assert waited == pytest.approx(60.0)
    assert clock.t == pytest.approx(1020.0)


def test_every_window_must_have_room():
    clock = FakeClock(3600.0)
    lim = make({"search": {"minute": 100, "hour": 2}}, clock)
    lim.acquire("search")
    lim.acquire("search")
    with pytest.raises(TimeoutError) as exc:
        lim.acquire("search", max_wait=90)
    assert exc.value.args[0] == pytest.approx(3600.0)


def test_unknown_class_and_none_limits_are_unlimited():
    clock = FakeClock()
    lim = make({"enrichment": {"minute": 5, "hour": None}}, clock)
    for _ in range(50):
        assert lim.acquire("other") == 0.0


def test_vendor_remaining_count_wins_over_ours():
    clock = FakeClock(960.0)
    lim = make({"search": {"minute": 10}}, clock)
    lim.acquire("search")
    lim.observe("search", {"minute": 0})  # another worker used the rest of the window
    assert lim.acquire("search") == pytest.approx(60.0)


def test_seconds_until_reset_uses_the_shortest_window():
    clock = FakeClock(3630.0)
    lim = make({"search": {"minute": 1, "hour": 10}}, clock)
    assert lim.seconds_until_reset("search") == pytest.approx(30.0)
    assert lim.seconds_until_reset("nothing") == 0.0


# -- shared through Redis -----------------------------------------------------------------


def shared(redis_url, clock, vendor="acme", limits=None):
    client = redis.Redis.from_url(redis_url)
    return RedisWindowLimiter(vendor, limits or {"search": {"minute": 5}}, client, clock=clock, sleep=clock.sleep)


def test_two_processes_share_one_window(redis_url):
    clock = FakeClock(960.0)
    a, b = shared(redis_url, clock), shared(redis_url, clock)
    for limiter in (a, b, a, b, a):
        assert limiter.acquire("search", max_wait=0) == 0.0
    with pytest.raises(TimeoutError):
        b.acquire("search", max_wait=0)  # the window is full for both
    assert a.acquire("search") == pytest.approx(60.0)  # next window


def test_shared_limiter_trusts_the_vendor_count(redis_url):
    clock = FakeClock(960.0)
    a, b = shared(redis_url, clock), shared(redis_url, clock)
    a.observe("search", {"minute": 1})  # the vendor says one call is left
    assert b.acquire("search", max_wait=0) == 0.0
    with pytest.raises(TimeoutError):
        b.acquire("search", max_wait=0)


def test_threads_never_exceed_the_shared_limit(redis_url):
    limits = {"api": {"second": 20}}
    limiters = [RedisWindowLimiter("burst", limits, redis.Redis.from_url(redis_url)) for _ in range(4)]
    stamps: list[float] = []
    lock = threading.Lock()

    def worker(limiter):
        for _ in range(15):
            limiter.acquire("api")
            with lock:
                stamps.append(time.time())

    threads = [threading.Thread(target=worker, args=(lim,)) for lim in limiters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    per_second: dict[int, int] = {}
    for s in stamps:
        per_second[int(s)] = per_second.get(int(s), 0) + 1
    assert len(stamps) == 60 and max(per_second.values()) <= 20


def test_redis_down_falls_back_to_counting_in_process():
    clock = FakeClock(960.0)
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    limiter = RedisWindowLimiter("acme", {"search": {"minute": 2}}, dead, clock=clock, sleep=clock.sleep)
    assert limiter.acquire("search") == 0.0 and limiter.acquire("search") == 0.0
    assert limiter.acquire("search") == pytest.approx(60.0)
    assert limiter.fallbacks == 1 and limiter.local_acquires == 3  # one outage, three calls counted here


def test_make_limiter_picks_redis_when_it_answers_else_the_hosts_shared_file(redis_url, tmp_path, monkeypatch,
                                                                            caplog):
    monkeypatch.setenv("LEAD_SPRINT_STATE_DIR", str(tmp_path))
    on_redis = make_limiter("acme", {"s": {"second": 1}}, redis_url=redis_url)
    assert isinstance(on_redis, RedisWindowLimiter) and isinstance(on_redis.client, redis.Redis)
    assert on_redis.mode == "redis" and on_redis.fallbacks == 0
    # Configured but down: counted in the host's file, and said so (a WARNING and a fallback), never silently.
    down = make_limiter("acme", {"s": {"second": 1}}, redis_url="redis://127.0.0.1:1/0")
    assert down.mode == "file" and down.fallbacks == 1
    assert isinstance(down.local.client, FileCounters) and down.local.client.path == tmp_path / "rate_limits" / "acme.json"
    assert down.acquire("s") == 0.0 and down.local_acquires == 1
    assert "Redis unavailable" in caplog.text and "counting in-process" not in caplog.text
    on_file = make_limiter("acme", {"s": {"second": 1}}, redis_url="")  # no Redis configured: the file
    assert isinstance(on_file.client, FileCounters) and on_file.mode == "file" and on_file.fallbacks == 0
    assert make_limiter("acme", None) is None


def test_processes_without_redis_share_one_budget_through_the_file(tmp_path):
    # The daemon runs each partition in its own process: without Redis they must still count together.
    script = (
        "import sys, time, json\n"
        "from lead_assets.clients.file_counters import FileCounters\n"
        "from lead_assets.clients.rate_limit import RedisWindowLimiter\n"
        "lim = RedisWindowLimiter('burst', {'api': {'second': 10}}, FileCounters(sys.argv[1]))\n"
        "stamps = []\n"
        "for _ in range(15):\n"
        "    lim.acquire('api'); stamps.append(time.time())\n"
        "print(json.dumps(stamps))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "burst.json")], stdout=subprocess.PIPE,
                              text=True) for _ in range(4)]
    stamps = [t for p in procs for t in json.loads(p.communicate(timeout=60)[0])]
    per_second: dict[int, int] = {}
    for s in stamps:
        per_second[int(s)] = per_second.get(int(s), 0) + 1
    assert len(stamps) == 60
    assert max(per_second.values()) <= 10  # four processes, one limit of 10 a second


@pytest.mark.parametrize("shared", [False, True])
def test_a_call_at_a_windows_edge_counts_in_the_next_window_too(shared, redis_url):
    # Taken at 0.9 s, a call may reach the vendor after 1.0 s, in the vendor's next window:
    # there it must leave room, or parallel runs go over the vendor's limit at every boundary.
    clock = FakeClock(2000.0)
    if shared:
        client = redis.Redis.from_url(redis_url)
        lim = RedisWindowLimiter("edge", {"s": {"second": 3}}, client, namespace=f"t{time.time_ns()}",
                                 clock=clock, sleep=clock.sleep)
    else:
        lim = make({"s": {"second": 3}}, clock)
    lim.acquire("s")  # 2000.0: mid-window, counts once
    clock.t = 2000.9
    lim.acquire("s")  # 2000.9: at the edge, counts in 2000 and 2001
    lim.acquire("s")
    clock.t = 2001.1
    assert lim.acquire("s") == 0.0  # 2001 holds the two edge calls and this one
    assert lim.acquire("s") == pytest.approx(0.9)  # full: waited for 2002
    assert clock.t == pytest.approx(2002.0)
