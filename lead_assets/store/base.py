"""`StoreBase`: the engine and the plumbing every table module of `LeadStore` builds on.

Transactions, dialect-aware reads of IN-lists in chunks, trusted read-only queries, and
the one-round-trip bulk insert: PostgreSQL batches are COPYed into a temporary staging
table and merged with a single INSERT ... SELECT; SQLite batches are one executemany.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import wraps

import pandas as pd
from sqlalchemy import Connection, bindparam, text

from lead_assets.config.settings import default_database_url
from lead_assets.store.database import apply_migrations, create_store_engine, retry_transient
from lead_assets.store.values import PG_TYPES, normalize_frame

SQLITE_CHUNK = 500  # stay far below SQLite's bound-variable limit
PG_CHUNK = 10_000

_stage_ids = itertools.count()


def chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    """`items` in consecutive slices of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def reconnecting(method: Callable) -> Callable:
    """Run a store method again after a lost connection, when it is its own transaction.

    With `conn=`, the caller's transaction owns the error (and retries as a whole, see
    `lead_batches.store_batch`); without, the method is one transaction and simply runs again.
    """

    @wraps(method)
    def wrapper(self, *args, **kwargs):
        if kwargs.get("conn") is not None:
            return method(self, *args, **kwargs)
        return retry_transient(lambda: method(self, *args, **kwargs), what=f"LeadStore.{method.__name__}")

    return wrapper


class StoreBase:
    """The lead database's engine. `url=None` means `settings.default_database_url()`."""

    def __init__(self, url: str | None = None, *, migrate: bool = True) -> None:
        self.url = url or default_database_url()
        self.engine = create_store_engine(self.url)
        self.dialect: str = self.engine.dialect.name
        if migrate:  # cheap when up to date: one locked SELECT of schema_version
            self.ensure_schema()

    def __repr__(self) -> str:
        return f"LeadStore({self.engine.url.render_as_string(hide_password=True)!r})"

    def ensure_schema(self) -> list[int]:
        """Apply pending migrations (idempotent); return the versions applied now."""
        return apply_migrations(self.engine)

    def dispose(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()

    # -- transactions --

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection in a transaction; pass it as `conn=` to group several writes atomically."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _write(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
        else:
            with self.engine.begin() as new:
                yield new

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        # SQLite readers must not take the write lock (see database._on_begin).
        with self.engine.connect() as conn:
            conn.execution_options(sqlite_begin="DEFERRED")
            yield conn

    # -- reads --

    def _in_chunks(self, conn: Connection, sql: str, name: str, values: Sequence, params=None):
        """Run `sql` (with `IN :name` / `= ANY(:name)` written as `{in_clause}`) chunk by chunk."""
        values = list(dict.fromkeys(values))
        if self.dialect == "postgresql":
            stmt = text(sql.format(in_clause=f"= ANY(:{name})"))
            size = PG_CHUNK
        else:
            stmt = text(sql.format(in_clause=f"IN :{name}")).bindparams(bindparam(name, expanding=True))
            size = SQLITE_CHUNK
        for chunk in chunks(values, size):
            yield from conn.execute(stmt, {**(params or {}), name: list(chunk)}).mappings()

    def _read_in_chunks(self, sql: str, name: str, values: Sequence, params=None) -> list:
        """`_in_chunks` on a read connection of its own, as a list of row mappings."""
        with self._read() as conn:
            return list(self._in_chunks(conn, sql, name, values, params))

    @reconnecting
    def read_sql(self, sql: str, params: dict | None = None) -> pd.DataFrame:
        """Any trusted read-only query (`:name` params) as a DataFrame; for metrics, assets and tests.

        Known columns get the same dtypes on both dialects (UTC timestamps, Int64, boolean).
        """
        with self._read() as conn:
            result = conn.execute(text(sql), params or {})
            df = pd.DataFrame(result.mappings().all(), columns=list(result.keys()))
        return normalize_frame(df)

    # -- bulk inserts that skip what is already there --

    def _insert_new(
        self, conn: Connection, table: str, columns: Sequence[str], rows: list[tuple], conflict: str
    ) -> int:
        """Bulk INSERT ... ON CONFLICT (conflict) DO NOTHING; return the rows actually inserted."""
        if not rows:
            return 0
        if self.dialect == "postgresql":
            stage = self._pg_stage(conn, table, columns, rows)
            cols = ", ".join(columns)
            result = conn.exec_driver_sql(
                # ORDER BY: concurrent batches lock unique keys in the same order, so they
                # wait for each other instead of deadlocking.
                f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} ORDER BY {conflict} "
                f"ON CONFLICT ({conflict}) DO NOTHING"
            )
            return result.rowcount
        # total_changes() counts exactly the rows this connection wrote, skipped ones excluded.
        before = conn.exec_driver_sql("SELECT total_changes()").scalar_one()
        placeholders = ", ".join("?" for _ in columns)
        conn.exec_driver_sql(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders}) ON CONFLICT ({conflict}) DO NOTHING",
            rows,
        )
        return conn.exec_driver_sql("SELECT total_changes()").scalar_one() - before

    def _pg_stage(self, conn: Connection, name: str, columns: Sequence[str], rows: Iterable[tuple]) -> str:
        """COPY `rows` into a fresh TEMP table (dropped at commit); return its name."""
        stage = f"_stage_{name}_{next(_stage_ids)}"
        # No constraints on the staging table: NOT NULL/CHECK are the target table's job,
        # checked by the one INSERT ... SELECT, so a bad row fails the batch there.
        cols_sql = ", ".join(f"{c} {PG_TYPES.get(c, 'text')}" for c in columns)
        conn.exec_driver_sql(f"CREATE TEMP TABLE {stage} ({cols_sql}) ON COMMIT DROP")
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f"COPY {stage} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return stage
