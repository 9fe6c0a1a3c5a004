"""Scratch PostgreSQL databases for the benchmarks that run the daemon (created, then dropped)."""

from __future__ import annotations

import os

import psycopg

ADMIN = os.environ.get("LEADS_BENCH_PG_URL", "postgresql://root@127.0.0.1:5432/postgres")


def scratch(name: str) -> str:
    """Create database `name` on the benchmark server; its URL."""
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return ADMIN.rsplit("/", 1)[0] + "/" + name


def drop(name: str) -> None:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
