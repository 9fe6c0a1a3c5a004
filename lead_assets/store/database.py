"""Engines and schema migrations for the lead store (PostgreSQL or SQLite).

`create_store_engine(url)` turns a database URL into a SQLAlchemy engine with the
settings this project relies on; `apply_migrations(engine)` applies the numbered
files of `sql/<dialect>/` that are not yet recorded in `schema_version`.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.pool import StaticPool

from lead_assets.config.settings import REPO_DIR

log = logging.getLogger(__name__)

SQL_DIR = REPO_DIR / "sql"
MIGRATION_RE = re.compile(r"^(\d{3})_[A-Za-z0-9_]+\.sql$")

# pg_advisory_xact_lock key shared by every process migrating the same database
# (an arbitrary constant: the first 8 bytes of sha256("lead_sprint.migrations")).
MIGRATION_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"lead_sprint.migrations").digest()[:8], "big", signed=True
)

# Identical to the first statement of every 001_init.sql: the runner needs the table
# before it can tell which files are applied.
_SCHEMA_VERSION_DDL = {
    "postgresql": """CREATE TABLE IF NOT EXISTS schema_version (
        version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL,
        applied_at TIMESTAMPTZ NOT NULL DEFAULT now())""",
    "sqlite": """CREATE TABLE IF NOT EXISTS schema_version (
        version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL,
        applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')))""",
}


T = TypeVar("T")

# Waits between attempts of a write the database dropped: about a minute in all, long enough
# for a PostgreSQL restart or a failover, short enough that a database gone for good fails the step.
RECONNECT_DELAYS: Sequence[float] = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)


# SQLSTATEs a second attempt can cure: a connection exception (class 08), a serialization
# failure or deadlock (the transaction was rolled back), the server shutting down or starting.
_TRANSIENT_SQLSTATES = {"40001", "40P01", "57P01", "57P02", "57P03"}
# Set while a retry loop runs: an inner store call then fails at once and the outer loop
# repeats the whole transaction (nested loops would wait minutes for a database gone for good).
_retrying: ContextVar[bool] = ContextVar("lead_store_retrying", default=False)


def is_transient(exc: BaseException) -> bool:
    """True for errors a second attempt can cure: a lost or refused connection, a deadlock, a busy file.

    Not a syntax error, a missing table, a timeout or a full disk: those fail at once.
    """
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    if isinstance(exc.orig, sqlite3.Error):
        return any(word in str(exc.orig).lower() for word in ("locked", "busy"))
    sqlstate = getattr(exc.orig, "sqlstate", None)
    # No SQLSTATE: the client could not reach the server (refused, reset) or lost it mid-call.
    return sqlstate is None or sqlstate.startswith("08") or sqlstate in _TRANSIENT_SQLSTATES


def retry_transient(fn: Callable[[], T], *, what: str, delays: Sequence[float] | None = None) -> T:
    """`fn()`, attempted again after each transient database error, waiting `delays` between attempts.

    `fn` must be one whole transaction (it rolled back when the error came, so a new attempt
    starts clean). The engine's pre-ping replaces dead pooled connections on the next attempt.
    """
    if _retrying.get():
        return fn()
    delays = RECONNECT_DELAYS if delays is None else delays
    token = _retrying.set(True)
    try:
        for attempt in range(len(delays) + 1):
            try:
                return fn()
            except DBAPIError as exc:
                if attempt == len(delays) or not is_transient(exc):
                    raise
                message = str(exc.orig or exc).strip()
                reason = message.splitlines()[0] if message else type(exc).__name__
                log.warning("%s: database error (%s); attempt %d of %d in %.1f s", what, reason, attempt + 2,
                            len(delays) + 1, delays[attempt])
                time.sleep(delays[attempt])
        raise AssertionError("unreachable")
    finally:
        _retrying.reset(token)


def normalize_url(url: str) -> str:
    """Rewrite any PostgreSQL URL to the psycopg 3 driver; pass SQLite URLs through.

    Accepts `postgres://`, `postgresql://`, `postgresql+psycopg2://` and
    `postgresql+psycopg://`, and `sqlite:///relative/path`, `sqlite:////abs/path`, `sqlite://`.
    """
    if url.startswith("postgres://"):  # Heroku-style scheme SQLAlchemy does not know
        url = "postgresql://" + url[len("postgres://") :]
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if backend == "sqlite":
        return url
    raise ValueError(
        f"unsupported database URL scheme {parsed.drivername!r} (use postgresql:// or sqlite:///)"
    )


def dialect_of(url: str) -> str:
    """'postgresql' or 'sqlite' for a URL accepted by `normalize_url`."""
    return make_url(normalize_url(url)).get_backend_name()


def create_store_engine(url: str) -> Engine:
    """An engine for `url` with the lead store's connection settings."""
    url = normalize_url(url)
    if dialect_of(url) == "postgresql":
        # UTC session time zone: timestamptz values come back as UTC-aware datetimes.
        return create_engine(
            url,
            pool_pre_ping=True,
            connect_args={"options": "-c timezone=UTC", "application_name": "lead-sprint"},
        )
    return _sqlite_engine(url)


def _sqlite_engine(url: str) -> Engine:
    parsed = make_url(url)
    database = parsed.database or ""
    in_memory = database in ("", ":memory:")
    if not in_memory:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict = {"connect_args": {"check_same_thread": False}}
    if in_memory:
        kwargs["poolclass"] = StaticPool  # one shared connection, or every checkout is a new empty DB
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Take transaction control away from pysqlite (which would BEGIN lazily and
        # DEFERRED) so the "begin" hook below decides the locking mode.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 30000")
        _enable_wal(cur)
        cur.execute("PRAGMA synchronous = NORMAL")  # durable enough under WAL, much faster
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # Writers take the write lock up front: a DEFERRED transaction that later wants
        # to write can hit SQLITE_BUSY without busy_timeout ever helping. Readers opt
        # out with execution_options(sqlite_begin="DEFERRED").
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _enable_wal(cur: sqlite3.Cursor, wait_seconds: float = 30.0) -> None:
    """Switch the file to WAL (a persistent setting), waiting out concurrent openers.

    Changing the journal mode needs an exclusive lock and SQLite reports "database is
    locked" at once instead of calling the busy handler, which is exactly what happens
    when several processes open a fresh file together: retry here instead.
    """
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            if cur.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def migrations(dialect: str, sql_dir: Path | None = None) -> list[Migration]:
    """The migration files of `dialect`, in version order (duplicate numbers are an error)."""
    folder = (sql_dir or SQL_DIR) / dialect
    found: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        match = MIGRATION_RE.match(path.name)
        if not match:
            continue
        version = int(match.group(1))
        if version in found:
            raise RuntimeError(f"two migrations numbered {version:03d} in {folder}")
        found[version] = Migration(version, path.stem, path)
    if not found:
        raise RuntimeError(f"no migrations found in {folder}")
    return [found[v] for v in sorted(found)]


def apply_migrations(engine: Engine, sql_dir: Path | None = None) -> list[int]:
    """Apply the pending migrations in one transaction; return the versions applied.

    Safe when several processes start at once: PostgreSQL serialises them on an
    advisory transaction lock, SQLite on BEGIN IMMEDIATE; whoever comes second sees the
    versions already recorded and applies nothing.
    """
    dialect = engine.dialect.name
    files = migrations(dialect, sql_dir)
    applied: list[int] = []
    with engine.begin() as conn:
        if dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        conn.exec_driver_sql(_SCHEMA_VERSION_DDL[dialect])
        done = {row[0]: row[1] for row in conn.execute(text("SELECT version, checksum FROM schema_version"))}
        for migration in files:
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    log.warning("migration %s changed after it was applied; not re-applied", migration.name)
                continue
            _run_script(conn, dialect, migration.sql)
            conn.execute(
                text("INSERT INTO schema_version (version, name, checksum) VALUES (:v, :n, :c)"),
                {"v": migration.version, "n": migration.name, "c": migration.checksum},
            )
            applied.append(migration.version)
            log.info("applied migration %s", migration.name)
    return applied


def _run_script(conn, dialect: str, script: str) -> None:
    if dialect == "postgresql":
        # psycopg sends a parameterless execute as one simple query: the whole file,
        # dollar-quoted function bodies included, runs inside our transaction.
        conn.connection.driver_connection.execute(script)
        return
    # sqlite3.executescript would COMMIT our transaction first, so split it ourselves;
    # complete_statement knows about trigger bodies and string literals.
    for statement in split_sqlite_script(script):
        conn.exec_driver_sql(statement)


def split_sqlite_script(script: str) -> list[str]:
    """Split a SQLite script into complete statements (comment-only tails are dropped)."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    return statements
