"""The client-side window limiter: counts, waits, trusts the vendor's remaining counts."""

import pytest

from lead_assets.clients.rate_limit import WindowLimiter


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
