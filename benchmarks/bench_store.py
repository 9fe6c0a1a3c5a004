"""Benchmark the lead store and the dedup index on this machine (prints figures, asserts nothing).

    python benchmarks/bench_store.py [--rows 200000] [--batch 5000]

1. `LeadStore.upsert_leads` into PostgreSQL (an insert pass into an empty table, then an
   update pass) against a baseline written inline here: raw psycopg COPY into a temp
   table + one INSERT ... ON CONFLICT merge. Same data, same batches, same process.
   Target: store/baseline >= 0.7.
2. `DedupIndex.lookup` through Redis in batches of 1,000 (target >= 50,000 keys/s) and
   the latency of single-key lookups (target p99 < 1 ms).

Uses a scratch database created through LEADS_BENCH_PG_URL (default
postgresql://root@127.0.0.1:5432/postgres) and Redis DB 14 (LEADS_BENCH_REDIS_URL);
both are cleaned up afterwards.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without install

from lead_assets.core.lead_schema import LEAD_COLUMNS  # noqa: E402
from lead_assets.store.dedup_index import DedupIndex  # noqa: E402
from lead_assets.store.lead_store import LeadStore  # noqa: E402

PG_ADMIN_URL = os.environ.get("LEADS_BENCH_PG_URL", "postgresql://root@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("LEADS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


# --- synthetic data -----------------------------------------------------------------------


def synthetic_leads(n: int, seed: int = 7) -> pd.DataFrame:
    """`n` plausible leads with every LEAD_COLUMN, some values missing (as in real batches)."""
    rng = np.random.default_rng(seed)
    first = np.array(["Ana", "Ben", "Chloé", "Dev", "Eve", "Farid", "Grace", "Hiro", "Ines", "Jon"])
    last = np.array(["Smith", "García", "Nguyen", "O'Brien", "Kowalski", "Chen", "Müller", "Okafor"])
    titles = np.array(["VP Sales", "Head of Sales", "CRO", "Sales Director", "VP Revenue", "CEO"])
    companies = np.array([f"Company {i}" for i in range(5000)])
    cities = np.array(["Austin", "Boston", "Denver", "Seattle", "New York", "Chicago"])
    industries = np.array(["Software", "Fintech", "Healthcare IT", "Security", None], dtype=object)
    ids = np.array([f"ld_{i:09d}" for i in range(n)])
    fn, ln = rng.choice(first, n), rng.choice(last, n)
    comp = rng.choice(companies, n)
    t0 = pd.Timestamp("2026-11-27", tz="UTC")
    created = t0 + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s")
    email = np.char.add(np.char.add(np.char.lower(fn.astype(str)), "."), ids).astype(object)
    email[rng.random(n) < 0.2] = None
    size = pd.array(rng.integers(10, 5000, n), dtype="Int64")
    size[rng.random(n) < 0.1] = pd.NA
    df = pd.DataFrame(
        {
            "lead_id": ids,
            "full_name": np.char.add(np.char.add(fn.astype(str), " "), ln.astype(str)),
            "linkedin_url": np.char.add("https://www.linkedin.com/in/", ids),
            "job_title": rng.choice(titles, n),
            "company_name": comp,
            "location_city": rng.choice(cities, n),
            "location_state": "TX",
            "location_country": "US",
            "email": email,
            "phone": "+15125550100",
            "company_website": np.char.add("https://", np.char.replace(np.char.lower(comp), " ", "")),
            "company_industry": rng.choice(industries, n),
            "company_size": size,
            "profile_picture_url": None,
            "data_source": rng.choice(["apollo", "zoominfo", "sales_navigator"], n),
            "data_collected_date": created,
            "data_quality_score": pd.array(rng.integers(20, 100, n), dtype="Int64"),
            "is_qualified": rng.random(n) < 0.6,
            "email_verified": rng.random(n) < 0.3,
            "crm_synced": False,
            "crm_sync_date": pd.NaT,
            "first_name": fn,
            "last_name": ln,
            "target_role": rng.choice(titles, n),
            "email_status": rng.choice(["verified", "unverified", "missing"], n),
            "needs_enrichment": rng.random(n) < 0.3,
            "validation_errors": "",
            "first_partition_key": "2026-11-27-00:00|apollo",
            "created_at": created,
        }
    )
    df["crm_sync_date"] = pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns, UTC]")
    return df


def as_update(df: pd.DataFrame) -> pd.DataFrame:
    """The second pass: re-scored leads, some fields newly enriched, some missing (kept)."""
    out = df.copy()
    out["data_quality_score"] = (out["data_quality_score"] + 1).clip(upper=100)
    out["phone"] = "+15125550199"
    out["job_title"] = None  # NULL: the stored title must survive
    return out


# --- the baseline: what a hand-written loader would do --------------------------------------

_PG_TYPE = {
    "company_size": "integer",
    "data_quality_score": "smallint",
    **dict.fromkeys(["is_qualified", "email_verified", "crm_synced", "needs_enrichment"], "boolean"),
    **dict.fromkeys(["data_collected_date", "crm_sync_date", "created_at"], "timestamptz"),
}


def baseline_upsert(conn: psycopg.Connection, df: pd.DataFrame) -> None:
    """COPY into a temp table, then one INSERT ... ON CONFLICT DO UPDATE with COALESCE merges."""
    cols = [c for c in LEAD_COLUMNS if c in df.columns and c != "updated_at"]
    rows = df[cols].astype(object).where(df[cols].notna(), None).itertuples(index=False, name=None)
    with conn.transaction():
        types = ", ".join(f"{c} {_PG_TYPE.get(c, 'text')}" for c in cols)
        conn.execute(f"CREATE TEMP TABLE stage ({types}) ON COMMIT DROP")
        with conn.cursor().copy(f"COPY stage ({', '.join(cols)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        sets = ", ".join(f"{c} = COALESCE(EXCLUDED.{c}, leads.{c})" for c in cols if c != "lead_id")
        conn.execute(
            f"INSERT INTO leads ({', '.join(cols)}, updated_at) SELECT {', '.join(cols)}, now() FROM stage "
            f"ON CONFLICT (lead_id) DO UPDATE SET {sets}, updated_at = now()"
        )


# --- measuring ----------------------------------------------------------------------------


def timed_passes(
    df: pd.DataFrame, batch: int, upsert: Callable[[pd.DataFrame], object]
) -> tuple[float, float]:
    """Rows/s of an insert pass then an update pass of `df` in batches."""
    rates = []
    for data in (df, as_update(df)):
        started = time.perf_counter()
        for start in range(0, len(data), batch):
            upsert(data.iloc[start : start + batch])
        rates.append(len(data) / (time.perf_counter() - started))
    return rates[0], rates[1]


def reset_leads(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE leads CASCADE")
        conn.execute("CHECKPOINT")  # don't let the previous run's dirty pages bill the next one


def bench_upsert(url: str, df: pd.DataFrame, batch: int) -> dict[str, float]:
    store = LeadStore(url)
    warm = df.iloc[:batch]
    # Warm both paths (imports, plans, the first COPY) before timing either.
    store.upsert_leads(warm)
    with psycopg.connect(store.url) as conn:
        baseline_upsert(conn, warm)
    results = {}
    with psycopg.connect(store.url) as conn:
        reset_leads(store.url)
        results["baseline_insert"], results["baseline_update"] = timed_passes(
            df, batch, lambda part: baseline_upsert(conn, part)
        )
    reset_leads(store.url)
    results["store_insert"], results["store_update"] = timed_passes(df, batch, store.upsert_leads)
    store.dispose()
    return results


def bench_dedup(url: str, n_keys: int) -> dict[str, float]:
    store = LeadStore(url)
    index = DedupIndex(store, REDIS_URL, sprint_id="bench")
    keys = [f"vid:apollo:{i:09d}" for i in range(n_keys)]
    started = time.perf_counter()
    for start in range(0, n_keys, 5000):
        index.register({k: f"ld_{k[-9:]}" for k in keys[start : start + 5000]})
    register_rate = n_keys / (time.perf_counter() - started)

    # Half known keys, half unknown: a realistic mix of duplicates and new people.
    probe = [k if i % 2 else k + ":new" for i, k in enumerate(keys)]
    started = time.perf_counter()
    for start in range(0, len(probe), 1000):
        index.lookup(probe[start : start + 1000])
    batch_rate = len(probe) / (time.perf_counter() - started)

    latencies = []
    for key in keys[:20_000]:
        t = time.perf_counter_ns()
        index.lookup([key])
        latencies.append((time.perf_counter_ns() - t) / 1e6)
    latencies.sort()
    stats = index.stats
    index.close()
    store.dispose()
    assert stats["mode"] == "redis", stats  # a database-answered figure would be meaningless
    return {
        "register_keys_per_s": register_rate,
        "lookup_keys_per_s": batch_rate,
        "single_p50_ms": statistics.median(latencies),
        "single_p99_ms": latencies[int(len(latencies) * 0.99) - 1],
    }


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5_000)
    args = parser.parse_args()

    name = f"leadsprint_bench_{os.getpid()}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        server = admin.execute("SHOW server_version").fetchone()[0]
    url = PG_ADMIN_URL.rpartition("/")[0] + f"/{name}"
    redis_client = redis.Redis.from_url(REDIS_URL)
    try:
        redis_client.flushdb()
        df = synthetic_leads(args.rows)
        up = bench_upsert(url, df, args.batch)
        dd = bench_dedup(url, args.rows)
    finally:
        redis_client.flushdb()
        redis_client.close()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    print(f"machine: {machine()}; PostgreSQL {server}; redis {REDIS_URL}")
    print(f"{args.rows:,} leads, batches of {args.batch:,}\n")
    print(f"{'upsert_leads (rows/s)':<28}{'LeadStore':>12}{'baseline':>12}{'ratio':>8}  target")
    for kind in ("insert", "update"):
        ours, base = up[f"store_{kind}"], up[f"baseline_{kind}"]
        print(f"{kind + ' pass':<28}{ours:>12,.0f}{base:>12,.0f}{ours / base:>8.2f}  >= 0.70")
    print()
    print(f"{'dedup index (Redis)':<40}{'value':>12}  target")
    print(f"{'register, batches of 5,000 (keys/s)':<40}{dd['register_keys_per_s']:>12,.0f}")
    print(f"{'lookup, batches of 1,000 (keys/s)':<40}{dd['lookup_keys_per_s']:>12,.0f}  >= 50,000")
    print(f"{'single-key lookup p50 (ms)':<40}{dd['single_p50_ms']:>12.3f}")
    print(f"{'single-key lookup p99 (ms)':<40}{dd['single_p99_ms']:>12.3f}  < 1")


if __name__ == "__main__":
    main()
