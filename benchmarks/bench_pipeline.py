"""End-to-end processing rate: raw vendor records -> normalised, deduped, scored, stored leads.

Prints figures, asserts nothing. In one process and on the same data, it times
  1. the baseline: `LeadStore.upsert_leads` of already-processed rows (the store write alone), and
  2. the pipeline: `store_batch` on raw Apollo person objects (map, normalise, identify, dedup
     lookup + register, merge, score, upsert, lead_sources),
and reports leads/s for both and their ratio. Targets: ratio >= 0.25 (issue 12), and (2) >= 10,000 leads/s.
The two alternate batch by batch (each batch's stored rows are upserted into a second, empty
store right after), so both see the same machine: on a shared machine the load of other
processes changes by the second, and a baseline timed apart would catch another load. One
untimed warm-up batch of other people goes through both first (first-use imports).

    python benchmarks/bench_pipeline.py [--rows 50000] [--batch 500] [--sqlite]
"""

from __future__ import annotations

import argparse
import os
import random
import string
import time
import uuid

import psycopg
import redis

from lead_assets.config.settings import sprint_config
from lead_assets.core.titles import TitleMatcher
from lead_assets.core.vendor_records import apollo_person_record
from lead_assets.pipeline.lead_batches import VendorRecord, store_batch
from lead_assets.store.dedup_index import DedupIndex
from lead_assets.store.lead_store import LeadStore

ADMIN_URL = os.environ.get("LEADS_BENCH_PG_URL", "postgresql://root@127.0.0.1:5432/postgres")
TITLES = [
    "PPC Manager",
    "Senior Media Buyer",
    "Head of Paid Media",
    "Marketing Manager",
    "Paid Social Manager",
]
STATES = ["California", "TX", "New York", "IL", "Florida", "WA"]
CITIES = ["Los Angeles", "Austin", "New York", "Chicago", "Miami", "Seattle"]


def person(rng: random.Random, i: int) -> dict:
    first = "".join(rng.choices(string.ascii_lowercase, k=6)).title()
    last = "".join(rng.choices(string.ascii_lowercase, k=8)).title()
    domain = f"co{rng.randrange(3000)}.com"
    k = rng.randrange(len(CITIES))
    return {
        "id": f"{i:024x}",
        "first_name": first,
        "last_name": last,
        "name": f"{first} {last}",
        "linkedin_url": f"http://www.linkedin.com/in/{first.lower()}-{last.lower()}-{i}",
        "title": rng.choice(TITLES),
        "email": f"{first.lower()}.{last.lower()}@{domain}" if rng.random() < 0.45 else None,
        "email_status": rng.choice(["verified", "unverified"]),
        "city": CITIES[k],
        "state": STATES[k],
        "country": "United States",
        "photo_url": None,
        "organization": {
            "name": f"Company {domain}",
            "primary_domain": domain,
            "industry": "marketing & advertising" if rng.random() < 0.9 else None,
            "estimated_num_employees": rng.randrange(5, 5000),
        },
    }


def scratch_db() -> tuple[str, str]:
    name = f"leadsprint_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_db(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fresh_store(sqlite: bool, names: list[str]) -> LeadStore:
    """An empty store in a scratch database (or SQLite file), its name appended to `names`."""
    if sqlite:
        path = f"/tmp/leadsprint_bench_{uuid.uuid4().hex[:8]}.db"
        names.append(path)
        store = LeadStore(f"sqlite:///{path}")
    else:
        name, url = scratch_db()
        names.append(name)
        store = LeadStore(url)
    store.ensure_schema()
    return store


def remove_stores(sqlite: bool, names: list[str]) -> None:
    for name in names:
        if sqlite:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(name + suffix):
                    os.remove(name + suffix)
        else:
            drop_db(name)


def time_both(chunk: list[dict], store: LeadStore, base_store: LeadStore, index: DedupIndex,
              matcher: TitleMatcher) -> tuple[float, float, int]:
    """(pipeline seconds, baseline seconds, rows stored) of one batch of raw people."""
    # 2. the pipeline, from raw payloads
    t0 = time.perf_counter()
    records = [VendorRecord(p, *apollo_person_record(p)) for p in chunk]
    outcome = store_batch(
        records,
        source="apollo",
        partition_key="2026-11-27-00:00|apollo",
        store=store,
        index=index,
        matcher=matcher,
    )
    pipeline = time.perf_counter() - t0
    # 1. the baseline: the same final rows written by the store alone, into an empty store
    processed = store.fetch_leads(outcome.lead_ids)
    t0 = time.perf_counter()
    base_store.upsert_leads(processed)
    return pipeline, time.perf_counter() - t0, len(processed)


def report(n: int, stored: int, pipeline_s: float, baseline_s: float, batch: int, sqlite: bool) -> None:
    print(
        f"machine: {os.cpu_count()} cores; store: {'SQLite' if sqlite else 'PostgreSQL + Redis'}; "
        f"{n:,} raw records, batches of {batch}"
    )
    print(f"{'stage':<44}{'seconds':>10}{'leads/s':>12}")
    print(f"{'baseline: store upsert of processed rows':<44}{baseline_s:>10.2f}{stored / baseline_s:>12,.0f}")
    print(f"{'pipeline: raw -> scored, stored leads':<44}{pipeline_s:>10.2f}{n / pipeline_s:>12,.0f}")
    ratio = (n / pipeline_s) / (stored / baseline_s)
    print(f"pipeline / store upsert throughput ratio: {ratio:.2f} (target >= 0.25: {'met' if ratio >= 0.25 else 'NOT met'})")
    print(f"target: pipeline >= 10,000 leads/s -> {'met' if n / pipeline_s >= 10_000 else 'NOT met'}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument(
        "--sqlite", action="store_true", help="store in SQLite and dedup in the database (demo defaults)"
    )
    args = ap.parse_args()
    rng = random.Random(11)
    people = [person(rng, i) for i in range(args.rows)]
    matcher = TitleMatcher.from_config(sprint_config())
    names: list[str] = []
    try:
        store, base_store = fresh_store(args.sqlite, names), fresh_store(args.sqlite, names)
        redis_url = None if args.sqlite else os.environ.get("LEADS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
        if redis_url:
            redis.Redis.from_url(redis_url).flushdb()
        index = DedupIndex(store, redis_url)
        # One untimed batch of other people first, through both: what loads on first use (pandera
        # imports its check backends, and hypothesis with them, on the first validation: ~1 s) is
        # no per-record cost, and it would otherwise fall on whichever of the two runs first.
        time_both([person(rng, args.rows + i) for i in range(min(args.batch, 100))], store, base_store, index, matcher)
        pipeline_s = baseline_s = 0.0
        stored = 0
        for i in range(0, len(people), args.batch):
            pipeline, baseline, n_stored = time_both(people[i : i + args.batch], store, base_store, index, matcher)
            pipeline_s += pipeline
            baseline_s += baseline
            stored += n_stored
        report(len(people), stored, pipeline_s, baseline_s, args.batch, args.sqlite)
        store.dispose()
        base_store.dispose()
    finally:
        remove_stores(args.sqlite, names)


if __name__ == "__main__":
    main()
