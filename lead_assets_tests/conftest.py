"""Fixtures for the real services: a scratch PostgreSQL database, SQLite files, a Redis DB.

PostgreSQL and Redis are not optional: CI must exercise them, so an unreachable service
fails the tests that need it (one line naming the service) instead of skipping them.
Override the locations with LEADS_TEST_PG_ADMIN_URL and LEADS_TEST_REDIS_URL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest
import redis

from lead_assets.store.lead_store import LeadStore

PG_ADMIN_URL = os.environ.get("LEADS_TEST_PG_ADMIN_URL", "postgresql://root@127.0.0.1:5432/postgres")
def _redis_test_url() -> str:
    """DB 15 by default; under pytest-xdist each worker gets its own database (15, 14, ...) to flush."""
    url = os.environ.get("LEADS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw") and worker[2:].isdigit():
        base, _, db = url.rpartition("/")
        url = f"{base}/{int(db or 15) - int(worker[2:])}"
    return url


REDIS_TEST_URL = _redis_test_url()

# Everything the store writes, emptied between tests that share the session database.
STORE_TABLES = (
    "lead_sources",
    "leads",
    "raw_landings",
    "dedup_keys",
    "quarantine",
    "search_slices",
    "vendor_calls",
    "enrichment_ledger",
    "field_provenance",
    "cost_ledger",
    "crm_sync_state",
    "suppression_list",
    "erasure_audit",
)


def _admin_connect() -> psycopg.Connection:
    try:
        return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        pytest.fail(f"PostgreSQL unreachable at {PG_ADMIN_URL}: {first_line}", pytrace=False)


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    name = f"leadsprint_test_{os.getpid()}"
    with _admin_connect() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(PG_ADMIN_URL, name)
    finally:
        with _admin_connect() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """A SQLite database file of its own for each test."""
    return f"sqlite:///{tmp_path / 'leads.db'}"


@pytest.fixture(params=["postgresql", "sqlite"])
def store(request) -> Iterator[LeadStore]:
    """A `LeadStore` with its schema applied and its tables empty, on each dialect."""
    if request.param == "postgresql":
        lead_store = LeadStore(request.getfixturevalue("pg_url"))
        with lead_store.transaction() as conn:
            conn.exec_driver_sql(f"TRUNCATE {', '.join(STORE_TABLES)} RESTART IDENTITY CASCADE")
    else:
        lead_store = LeadStore(request.getfixturevalue("sqlite_url"))
    try:
        yield lead_store
    finally:
        lead_store.dispose()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database reserved for tests (DB 15), flushed before and after each test."""
    client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis unreachable at {REDIS_TEST_URL}: {exc}", pytrace=False)
    client.flushdb()
    try:
        yield REDIS_TEST_URL
    finally:
        client.flushdb()
        client.close()


@pytest.fixture(autouse=True)
def own_rate_windows(tmp_path_factory, monkeypatch):
    """Each test counts its vendors' rate windows apart: without Redis, limiters share a file per host
    (`clients/file_counters.py`), and one test's calls must not make the next one wait."""
    monkeypatch.setenv("LEAD_SPRINT_STATE_DIR", str(tmp_path_factory.mktemp("state")))
