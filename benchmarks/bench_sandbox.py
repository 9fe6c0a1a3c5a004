"""The sandbox at full scale vs the default population: generation, start-up and request latency.

Prints figures and ratios (full / default, measured in this process), asserts nothing. The
sandbox must stay vendor-bound, not sandbox-bound: at the full sprint's 30,000 records a request
should cost about what it costs at 6,000. Rate windows are lifted for the measurement (latency,
not the vendors' windows, is measured here). Then the full sprint's workload (calls per endpoint
class, from lead_assets_tests.population_forecast) and the minimum wall time the vendors' real
windows allow for it (core.vendor_minimum).

    python benchmarks/bench_sandbox.py [--requests 120] [--full full]
"""

from __future__ import annotations

import argparse
import statistics
import time

import requests

from lead_assets.config.settings import sprint_config
from lead_assets.core.vendor_minimum import minimum_by_class, minimum_seconds, windows_by_class
from lead_assets.pipeline.search_plan import plan_slices
from lead_assets.sandbox import SandboxConfig, clearbit, hubspot, hunter, neverbounce, start_sandbox, zoominfo
from lead_assets.sandbox import apollo as sb_apollo
from lead_assets.sandbox.population import Population, population_spec
from lead_assets_tests.population_forecast import forecast_sprint

UNLIMITED = {
    "apollo": {"search": {"minute": 10**9, "hour": 10**9, "day": 10**9}, "enrichment": {"minute": 10**9}},
    "zoominfo": {"api": {"second": 10**9, "hour": 10**9, "day": 10**9}},
    "hunter": {"search": {"second": 10**9, "minute": 10**9}, "verifier": {"second": 10**9, "minute": 10**9}},
    "neverbounce": {"single": {"second": 10**9, "minute": 10**9}},
    "clearbit": {"find": {"minute": 10**9}},
}
VENDOR_WINDOWS = windows_by_class({
    "apollo": sb_apollo.DEFAULT_LIMITS, "zoominfo": zoominfo.DEFAULT_LIMITS, "hunter": hunter.DEFAULT_LIMITS,
    "neverbounce": neverbounce.DEFAULT_LIMITS, "clearbit": clearbit.DEFAULT_LIMITS, "hubspot": hubspot.DEFAULT_LIMITS,
})


def _ms(samples: list[float]) -> tuple[float, float]:
    samples = sorted(samples)
    return statistics.median(samples) * 1000, samples[int(0.95 * (len(samples) - 1))] * 1000


def _timed(call) -> float:
    t0 = time.perf_counter()
    r = call()
    elapsed = time.perf_counter() - t0
    r.raise_for_status()
    return elapsed


def measure(setting: str, n: int) -> dict[str, object]:
    """Generation and start-up seconds, and per-endpoint request latencies, for one population."""
    size, rates = population_spec(setting)
    t0 = time.perf_counter()
    Population.build(7, size, rates)  # uncached: what a fresh sandbox process pays
    out: dict[str, object] = {"generate_s": time.perf_counter() - t0}
    t0 = time.perf_counter()
    sb = start_sandbox(SandboxConfig(population=setting, limits=UNLIMITED))
    out["start_s"] = time.perf_counter() - t0  # generation (cached by now) + every vendor's indexes
    try:
        pop, s = sb.population, requests.Session()
        cfg = sprint_config()
        slices = plan_slices(tuple((r.role, r.aliases) for r in cfg.target_roles), cfg.locations)
        apollo, h = sb.url("apollo") + "/api/v1", {"x-api-key": "sandbox-apollo-key"}

        def search(sl):
            # 10 rows a page: every slice fills it at both sizes, so both render the same work.
            return s.post(f"{apollo}/mixed_people/api_search", headers=h, json={
                "person_titles": list(sl.titles), "person_locations": list(sl.locations), "per_page": 10})

        out["apollo search, new query"] = [_timed(lambda sl=sl: search(sl)) for sl in slices]
        out["apollo search, same query again"] = [_timed(lambda sl=sl: search(sl)) for sl in slices]
        people = pop.apollo_people
        chunks = [people[i:i + 10] for i in range(0, 10 * n, 10)]
        out["apollo bulk_match (10 ids)"] = [_timed(lambda c=c: s.post(
            f"{apollo}/people/bulk_match", headers=h, json={"details": [{"id": p.id} for p in c]}))
            for c in chunks]
        jwt = s.post(sb.url("zoominfo") + "/authenticate", json={
            "username": "sandbox-zoominfo-user", "password": "sandbox-zoominfo-password"}).json()["jwt"]
        zh = {"Authorization": f"Bearer {jwt}"}
        out["zoominfo search, new query"] = [_timed(lambda sl=sl: s.post(
            sb.url("zoominfo") + "/search/contact", headers=zh, json={
                "jobTitle": ",".join(sl.titles), "metroRegion": sl.locations[0], "rpp": 10, "page": 1}))
            for sl in slices]
        contacts = zoominfo.world_for(pop).contacts
        out["zoominfo enrich (25)"] = [_timed(lambda i=i: s.post(
            sb.url("zoominfo") + "/enrich/contact", headers=zh, json={
                "matchPersonInput": [{"personId": c.id} for c in contacts[i:i + 25]],
                "outputFields": ["id", "firstName", "lastName", "email", "jobTitle"]}))
            for i in range(0, min(len(contacts), 25 * n), 25)]
        sample = people[:: max(1, len(people) // n)][:n]
        out["hunter email-finder"] = [_timed(lambda p=p: s.get(sb.url("hunter") + "/v2/email-finder", params={
            "domain": p.company.domain, "first_name": p.first_name, "last_name": p.last_name,
            "api_key": "sandbox-hunter-key"})) for p in sample]
        out["neverbounce single/check"] = [_timed(lambda p=p: s.get(sb.url("neverbounce") + "/v4/single/check", params={
            "key": "secret_sandbox-neverbounce-key", "email": p.work_email})) for p in sample]
        out["clearbit companies/find"] = [_timed(lambda p=p: s.get(
            sb.url("clearbit") + "/v2/companies/find", params={"domain": p.company.domain},
            headers={"Authorization": "Bearer sk_sandbox-clearbit-key"}))
            for p in sample if clearbit_knows(sb, p.company.domain)]
    finally:
        sb.stop()
    return out


def clearbit_knows(sb, domain: str) -> bool:
    # A 404 is a real answer too, but raise_for_status() would stop the loop: sample indexed domains.
    return sb.router.apps["clearbit"].knows(domain)


def search_scan_vs_index(setting: str) -> tuple[float, float]:
    """Seconds for the plan's 120 first searches: a scan of every record vs the index (same answers)."""
    pop = Population.for_setting(setting)
    cfg = sprint_config()
    filters = [sb_apollo.SearchFilters(titles=s.titles, locations=s.locations)
               for s in plan_slices(tuple((r.role, r.aliases) for r in cfg.target_roles), cfg.locations)]
    t0 = time.perf_counter()
    scanned = [[p for p in pop.apollo_people if f.matches(p)] for f in filters]
    scan = time.perf_counter() - t0
    index = sb_apollo.PeopleIndex(pop.apollo_people)
    t0 = time.perf_counter()
    indexed = [index.find(f) for f in filters]
    took = time.perf_counter() - t0
    assert indexed == scanned
    return scan, took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=120, help="requests per endpoint (searches: the 120 slices)")
    ap.add_argument("--full", default="full", help="the large population setting (default: full)")
    args = ap.parse_args()
    base, full = measure("default", args.requests), measure(args.full, args.requests)
    print(f"sandbox: default (6,000 records) vs {args.full} ({population_spec(args.full)[0]:,} records)\n")
    print(f"{'':34} {'default':>16} {args.full:>16} {'ratio':>7}")
    for key in ("generate_s", "start_s"):
        print(f"{key:34} {base[key]:>15.2f}s {full[key]:>15.2f}s {full[key] / base[key]:>7.2f}")
    print(f"\n{'request latency p50 / p95 (ms)':34}")
    for key in [k for k in base if not k.endswith("_s")]:
        (b50, b95), (f50, f95) = _ms(base[key]), _ms(full[key])
        print(f"{key:34} {b50:>7.2f} / {b95:>6.2f} {f50:>7.2f} / {f95:>6.2f} {f50 / b50:>7.2f}")
    scan, indexed = search_scan_vs_index(args.full)
    print(f"\napollo: the plan's 120 searches at {args.full} size: scan {scan:.2f}s, index {indexed:.3f}s "
          f"(ratio {scan / indexed:.0f}x)")

    t0 = time.perf_counter()
    forecast = forecast_sprint(Population.for_setting(args.full))
    print(f"\nfull sprint forecast ({time.perf_counter() - t0:.1f}s): "
          + ", ".join(f"{k} {v:,.3f}" if isinstance(v, float) else f"{k} {v:,}" for k, v in forecast.figures.items()))
    by_class = minimum_by_class(forecast.calls, VENDOR_WINDOWS)
    print("\nworkload and vendor minimum (the vendors' windows as the sandbox keeps them):")
    for name, calls in forecast.calls.items():
        print(f"  {name:20} {calls:>7,} calls  {by_class[name] / 60:6.2f} min")
    floor = minimum_seconds(forecast.calls, VENDOR_WINDOWS)
    print(f"  vendor minimum: {floor / 60:.2f} min (the full demo's budget: 15 min = {900 / floor:.2f}x of it)")


if __name__ == "__main__":
    main()
