"""Achieved request rate against each sandbox vendor as a fraction of its configured limit.

Prints figures, asserts nothing. Each vendor's client runs flat out for a few windows
against the sandbox (same limits on both sides), through the project's client-side
limiter; the sandbox counts requests and 429s. Target: >= 0.9 of the limit, and no 429
beyond the first per window. Windows are shortened where the real one is a minute.

    python benchmarks/bench_rate_limits.py [--seconds 6]
"""

from __future__ import annotations

import argparse
import time

import requests

from lead_assets.clients.apollo import ApolloClient
from lead_assets.clients.hunter import HunterClient
from lead_assets.clients.zoominfo import ZoomInfoClient
from lead_assets.sandbox import SandboxConfig, start_sandbox


def stats(base: str, vendor: str) -> dict:
    return requests.get(f"{base}/__sandbox/stats", timeout=5).json()["vendors"][vendor]


def _total(value) -> int:
    return sum(value.values()) if isinstance(value, dict) else int(value or 0)


def run(label: str, call, seconds: float, limit_per_s: float, base: str, vendor: str) -> tuple:
    before = stats(base, vendor)
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < seconds:
        call()
        n += 1
    elapsed = time.monotonic() - t0
    after = stats(base, vendor)
    # `rate_limited` counts every rate-limit refusal (Hunter answers those with 403, the others with 429)
    rejected = _total(after.get("rate_limited")) - _total(before.get("rate_limited"))
    achieved = n / elapsed
    return label, n, elapsed, achieved, limit_per_s, achieved / limit_per_s, rejected


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=6.0)
    args = ap.parse_args()
    rows = []
    with start_sandbox(SandboxConfig(population=1500)) as sb:
        base = sb.base_url
        # Apollo search: its minute window scaled to 2 s (40 calls per window = 20/s).
        requests.post(f"{base}/__sandbox/config", json={
            "limits": {"apollo": {"search": {"minute": 40, "hour": 100000, "day": 1000000}}},
            "windows": {"minute": 2, "hour": 3600, "day": 86400}}, timeout=5)
        apollo = ApolloClient(f"{base}/apollo", "sandbox-apollo-key", limits={"search": {"minute": 40}},
                              window_seconds={"minute": 2})
        q = {"person_titles": ["PPC Manager"], "person_locations": ["Austin, Texas"]}
        rows.append(run("apollo api_search (40 / 2 s)", lambda: apollo.search_people(q, 1), args.seconds, 20.0,
                        base, "apollo"))
        # ZoomInfo: its real per-second window (25/s).
        zoominfo = ZoomInfoClient(f"{base}/zoominfo", "sandbox-zoominfo-user", "sandbox-zoominfo-password",
                                  limits={"api": {"second": 25}})
        rows.append(run("zoominfo search/contact (25 / s)",
                        lambda: zoominfo.search_contacts({"jobTitle": "PPC Manager"}, 1), args.seconds, 25.0,
                        base, "zoominfo"))
        # Hunter: no rate headers at all, so the client's own model is all there is (15/s).
        hunter = HunterClient(f"{base}/hunter", "sandbox-hunter-key", limits={"search": {"second": 15}})
        rows.append(run("hunter email-finder (15 / s, no headers)",
                        lambda: hunter.find_email("Jane", "Doe", domain="example.com"), args.seconds, 15.0,
                        base, "hunter"))
    print(f"{'vendor endpoint (limit)':<44}{'calls':>7}{'secs':>7}{'req/s':>8}{'limit/s':>9}{'ratio':>7}{'refused':>8}")
    for label, n, elapsed, achieved, limit, ratio, rejected in rows:
        print(f"{label:<44}{n:>7}{elapsed:>7.1f}{achieved:>8.1f}{limit:>9.1f}{ratio:>7.2f}{rejected:>8}")
    print("target: ratio >= 0.9 with no rate-limit refusal beyond the first per window "
          "(fixed windows let the first and last partial windows lift the ratio above 1)")


if __name__ == "__main__":
    main()
