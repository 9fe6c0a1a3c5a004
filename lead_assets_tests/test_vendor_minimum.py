"""The vendor-imposed minimum wall time of a workload (core.vendor_minimum)."""

from __future__ import annotations

import pytest

from lead_assets.config.settings import sprint_config
from lead_assets.core.vendor_minimum import (
    class_minimum_seconds,
    minimum_by_class,
    minimum_seconds,
    windows_by_class,
    windows_from_config,
)

HUNTER_FINDER = [(15, 1.0), (500, 60.0)]


def test_one_window_fills_then_waits_for_the_next():
    assert class_minimum_seconds(0, HUNTER_FINDER) == 0
    assert class_minimum_seconds(1, [(1000, 60.0)]) == 0
    assert class_minimum_seconds(1000, [(1000, 60.0)]) == 0  # all in the first minute
    assert class_minimum_seconds(1001, [(1000, 60.0)]) == 60
    assert class_minimum_seconds(2139, [(1000, 60.0)]) == 120  # Apollo bulk_match, 10 people a call


def test_nested_windows_take_the_tighter_of_both():
    # 15 a second: 500 calls need 34 one-second windows (the last starts at 33 s) ...
    assert class_minimum_seconds(500, HUNTER_FINDER) == 33
    # ... the 501st waits for the next minute, and 7,000 calls need 14 minutes.
    assert class_minimum_seconds(501, HUNTER_FINDER) == 60
    assert class_minimum_seconds(7000, HUNTER_FINDER) == 13 * 60 + 33
    # An hour window that closes before the minute windows would: Apollo search 200/min, 600/h.
    search = [(200, 60.0), (600, 3600.0)]
    assert class_minimum_seconds(600, search) == 120
    assert class_minimum_seconds(601, search) == 3600


def test_a_workload_is_as_slow_as_its_slowest_class():
    windows = {"hunter.search": HUNTER_FINDER, "apollo.enrichment": [(1000, 60.0)], "hubspot.api": [(100, 10.0)]}
    calls = {"hunter.search": 4000, "apollo.enrichment": 2139, "hubspot.api": 186}
    by_class = minimum_by_class(calls, windows)
    assert by_class == {"hunter.search": 7 * 60 + 33, "apollo.enrichment": 120, "hubspot.api": 10}
    assert minimum_seconds(calls, windows) == 7 * 60 + 33
    assert minimum_seconds({"hubspot.api": 0}, windows) == 0
    with pytest.raises(KeyError):
        minimum_seconds({"clearbit.find": 5}, windows)  # a class without windows is not unlimited


def test_windows_come_from_the_configs():
    cfg = sprint_config()
    assert windows_from_config(cfg.rate_limits["apollo"]["search"]) == [(200, 60.0), (600, 3600.0), (6000, 86400.0)]
    assert windows_from_config({"ten_secondly": 100, "day": None}) == [(100, 10.0)]
    assert windows_from_config({"burst": 5}, {"burst": 2.0}) == [(5, 2.0)]
    with pytest.raises(ValueError, match="fortnight"):
        windows_from_config({"fortnight": 5})
    with pytest.raises(ValueError, match="nothing could ever be sent"):
        windows_from_config({"minute": 0})


def test_the_configured_windows_of_every_vendor():
    from lead_assets.core.enrichment_config import load_enrichment_config

    enrichment = load_enrichment_config(sprint=sprint_config())
    windows = windows_by_class(
        sprint_config().rate_limits,
        {name: p.rate_limits for name, p in enrichment.providers.items()},
        {"hubspot": {"api": {"ten_secondly": 100, "day": 250_000}}},
    )
    assert windows["hunter.search"] == HUNTER_FINDER
    assert windows["zoominfo.api"][0] == (25, 1.0)
    assert windows["apollo.enrichment"][0] == (1000, 60.0)
    assert windows["hubspot.api"] == [(100, 10.0), (250_000, 86400.0)]
    assert {"neverbounce.single", "clearbit.find", "hunter.verifier", "apollo.search"} <= set(windows)
