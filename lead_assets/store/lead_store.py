"""`LeadStore`: the leads table and its satellite tables, on PostgreSQL or SQLite.

Every bulk operation is one round trip per batch: PostgreSQL batches are COPYed into a
temporary staging table and merged with a single INSERT ... SELECT ... ON CONFLICT;
SQLite batches are one executemany inside one BEGIN IMMEDIATE transaction. A failing
row fails (and rolls back) its whole batch.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps
from typing import Any

import pandas as pd
from sqlalchemy import Connection, bindparam, text
from sqlalchemy.exc import DBAPIError

from lead_assets.config.settings import default_database_url
from lead_assets.core.lead_schema import LEAD_COLUMNS, lead_row_problems
from lead_assets.store.database import apply_migrations, create_store_engine, retry_transient

log = logging.getLogger(__name__)

# --- column typing ---------------------------------------------------------------------

INT_COLUMNS = frozenset({"company_size", "data_quality_score"})
BOOL_COLUMNS = frozenset({"is_qualified", "email_verified", "crm_synced", "needs_enrichment"})
TIMESTAMP_COLUMNS = frozenset(
    {
        "data_collected_date",
        "crm_sync_date",
        "created_at",
        "updated_at",
        "fetched_at",
        "first_seen_at",
        "called_at",
        "applied_at",
    }
)
_PG_TYPES = {"company_size": "integer", "data_quality_score": "smallint"}
_PG_TYPES.update(dict.fromkeys(BOOL_COLUMNS, "boolean"))
_PG_TYPES.update(dict.fromkeys(TIMESTAMP_COLUMNS, "timestamptz"))

# Merge rules of upsert_leads (every other column is a "data" column: COALESCE(new, old)).
TAKE_NEW = frozenset(
    {
        "data_quality_score",
        "is_qualified",
        "needs_enrichment",
        "validation_errors",
        "email_status",
        "target_role",
    }
)
KEEP_EXISTING = frozenset({"created_at", "data_source", "first_partition_key", "data_collected_date"})
# NOT NULL columns and the value a NULL becomes. The NOT NULL check runs before ON
# CONFLICT is considered, so a NULL has to be replaced in the proposed row itself.
_NOT_NULL_DEFAULT = {
    "is_qualified": "false",
    "email_verified": "false",
    "crm_synced": "false",
    "needs_enrichment": "false",
    "validation_errors": "''",
}
# NOT NULL *data* columns: a NULL must keep the stored value, so it is resolved against
# the existing row while building the proposed row.
_NOT_NULL_DATA = frozenset({"email_verified", "crm_synced"})

SQLITE_CHUNK = 500  # stay far below SQLite's bound-variable limit
PG_CHUNK = 10_000

_TRUE_STRINGS = frozenset({"true", "t", "1", "yes", "y"})
_FALSE_STRINGS = frozenset({"false", "f", "0", "no", "n", ""})
_SQLITE_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%f+00:00"  # fixed width: text order == time order
_stage_ids = itertools.count()


@dataclass(frozen=True)
class UpsertResult:
    """Rows of an upsert batch that were new vs already stored, and those the lead schema refused.

    `rejected` holds the lead_ids of refused rows (quarantined, not written).
    """

    inserted: int
    updated: int
    rejected: tuple[str, ...] = ()


# --- value conversion ------------------------------------------------------------------


def clean_text(value: Any) -> str:
    """`value` as text PostgreSQL and SQLite both accept: NULs dropped, lone surrogates replaced."""
    if not isinstance(value, str):
        value = str(value)
    if "\x00" in value:
        value = value.replace("\x00", "")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates, e.g. from json.loads('"\\ud800"')
            value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE_STRINGS:
            return True
        if lowered in _FALSE_STRINGS:
            return False
        raise ValueError(f"not a boolean: {value!r}")
    return bool(value)


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"not an integer: {value!r}")
    return int(round(number))


def to_utc(value: Any) -> datetime | None:
    """A UTC-aware datetime for a datetime/Timestamp/ISO string (naive means UTC); None for NA."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.to_pydatetime()


def ts_param(value: Any, dialect: str) -> datetime | str | None:
    """A timestamp bind value for `dialect` (SQLite stores fixed-width ISO-8601 UTC text)."""
    stamp = to_utc(value)
    if stamp is None or dialect == "postgresql":
        return stamp
    return stamp.strftime(_SQLITE_TS_FORMAT)


def utc_now() -> datetime:
    """The current time, UTC-aware."""
    return datetime.now(UTC)


def _column_values(series: pd.Series, column: str, dialect: str) -> list:
    """One DataFrame column as a list of driver-ready Python values (None for NA)."""
    missing = series.isna().to_numpy()
    if column in TIMESTAMP_COLUMNS:
        stamps = _to_utc_series(series)
        if dialect == "sqlite":
            values = stamps.dt.strftime(_SQLITE_TS_FORMAT).to_numpy(dtype=object)
        else:
            with warnings.catch_warnings():  # pandas 3 returns a Series here: iterates the same
                warnings.simplefilter("ignore", FutureWarning)
                values = stamps.dt.to_pydatetime()
        missing = stamps.isna().to_numpy()
        return [None if m else v for v, m in zip(values, missing, strict=True)]
    raw = series.to_numpy(dtype=object)
    if column in INT_COLUMNS:
        convert = _to_int
    elif column in BOOL_COLUMNS:
        convert = _to_bool
    else:
        convert = clean_text
        # Fast path: plain ASCII strings without NULs need no work.
        return [
            None if m else (v if type(v) is str and v.isascii() and "\x00" not in v else convert(v))
            for v, m in zip(raw, missing, strict=True)
        ]
    return [None if m else convert(v) for v, m in zip(raw, missing, strict=True)]


def _to_utc_series(series: pd.Series) -> pd.Series:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC")
    try:
        return pd.to_datetime(series, utc=True, format="ISO8601")
    except (ValueError, TypeError):
        return pd.to_datetime(series, utc=True, format="mixed")


def frame_rows(df: pd.DataFrame, columns: Sequence[str], dialect: str) -> list[tuple]:
    """`df[columns]` as a list of tuples of driver-ready values."""
    if not len(df):
        return []
    values = [_column_values(df[c], c, dialect) for c in columns]
    return list(zip(*values, strict=True))


def _from_db_value(column: str, value: Any) -> Any:
    # SQLite hands back timestamps as text and booleans as 0/1.
    if value is None:
        return None
    if column in TIMESTAMP_COLUMNS and isinstance(value, str):
        return datetime.fromisoformat(value)
    if column in BOOL_COLUMNS and isinstance(value, int):
        return bool(value)
    return value


def row_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    """A result row as a plain dict with the same Python types on both dialects."""
    return {k: _from_db_value(k, v) for k, v in row.items()}


def normalize_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Give a frame read from either dialect the same dtypes (UTC timestamps, Int64, bool)."""
    for column in df.columns:
        if column in TIMESTAMP_COLUMNS:
            df[column] = pd.to_datetime(df[column], utc=True, format="ISO8601")
        elif column in INT_COLUMNS:
            df[column] = df[column].astype("Int64")
        elif column in BOOL_COLUMNS:
            df[column] = df[column].astype("boolean")
    return df


def record_hash(reason: str, payload: str) -> str:
    """The quarantine de-duplication hash: sha256(reason NUL payload)."""
    return hashlib.sha256(f"{reason}\0{payload}".encode()).hexdigest()


def _payload_text(value: Any) -> str:
    if value is None or (not isinstance(value, (str, dict, list)) and pd.isna(value)):
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    return clean_text(value)


def _schema_quarantine_rows(rejected: pd.DataFrame, problems: pd.Series) -> pd.DataFrame:
    """Quarantine rows for lead rows the lead schema refused: the failure is the reason, the row the payload."""
    def column(name: str, default: str) -> pd.Series:
        values = rejected[name] if name in rejected.columns else pd.Series(None, index=rejected.index, dtype=object)
        return values.astype(object).where(values.notna(), default)

    return pd.DataFrame(
        {
            "source": column("data_source", "unknown"),
            "partition_key": column("first_partition_key", ""),
            "vendor_person_id": None,
            "reason": ("lead row fails the lead schema: " + problems.reindex(rejected.index)).to_numpy(),
            "payload": rejected.to_json(orient="records", lines=True, date_format="iso",
                                        default_handler=str).splitlines(),
        },
        index=rejected.index,
    )


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _reconnecting(method: Callable) -> Callable:
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


# --- the store -------------------------------------------------------------------------


class LeadStore:
    """The lead database. `url=None` means `settings.default_database_url()`."""

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
    def claimed(self, lead_ids: Sequence[str], purpose: str) -> Iterator[list[str]]:
        """The leads among `lead_ids` this process holds for `purpose` until the block ends.

        PostgreSQL: session advisory locks, taken without waiting, so a lead another process
        holds for the same purpose is left out (that process does the work), and released
        when the block ends or the process dies. Several runs can then enrich at once
        without two of them paying for the same person. SQLite (one writer, the demo): all.
        """
        ids = list(dict.fromkeys(lead_ids))
        if self.dialect != "postgresql" or not ids:
            yield ids
            return
        lock = "pg_try_advisory_lock(('x' || substr(md5(:purpose || '|' || id), 1, 16))::bit(64)::bigint)"
        with self.engine.connect() as conn:
            try:
                mine = conn.execute(text(f"SELECT id FROM unnest(CAST(:ids AS text[])) AS id WHERE {lock}"),
                                    {"ids": ids, "purpose": purpose}).scalars().all()
                conn.commit()  # session locks outlive the transaction; nothing else is held
                yield list(mine)
            finally:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock_all()"))
                    conn.commit()
                except DBAPIError:  # the session is gone (a restart), and its locks with it
                    conn.invalidate()
                    log.warning("the database session holding %d ids for %r ended during the hold (a restart?): "
                                "another run may have done some of the same work meanwhile", len(ids), purpose)

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

    def _in_chunks(self, conn: Connection, sql: str, name: str, values: Sequence, params=None):
        """Run `sql` (with `IN :name` / `= ANY(:name)` written as `{in_clause}`) chunk by chunk."""
        values = list(dict.fromkeys(values))
        if self.dialect == "postgresql":
            stmt = text(sql.format(in_clause=f"= ANY(:{name})"))
            size = PG_CHUNK
        else:
            stmt = text(sql.format(in_clause=f"IN :{name}")).bindparams(bindparam(name, expanding=True))
            size = SQLITE_CHUNK
        for chunk in _chunks(values, size):
            yield from conn.execute(stmt, {**(params or {}), name: list(chunk)}).mappings()

    # -- leads --

    @_reconnecting
    def upsert_leads(self, df: pd.DataFrame, *, conn: Connection | None = None) -> UpsertResult:
        """Insert or merge leads by lead_id, all or nothing; counts new vs existing rows.

        `df` holds any subset of LEAD_COLUMNS including lead_id (unique). Columns absent
        from `df` are left alone. Merge rules for columns present:

        * data fields: COALESCE(new, stored): a NULL never erases a known value;
        * data_quality_score, is_qualified, needs_enrichment, validation_errors,
          email_status, target_role: the new value (NULL booleans -> false, NULL
          validation_errors -> '');
        * created_at, data_source, first_partition_key, data_collected_date: the stored
          value when there is one;
        * updated_at: now (an incoming value is ignored).

        Text loses NUL bytes; naive timestamps are taken as UTC; a blank linkedin_url is
        stored as NULL (it is UNIQUE). Rows are first validated against `LeadRow`: a frame
        that does not fit as a whole (no lead_id column, a column that is no lead column, a
        lead_id twice) raises `LeadFrameError`; a row that fails (no lead_id, a score out of
        0-100, a non-canonical LinkedIn URL...) is quarantined with the failure as its reason,
        in the same transaction, and the others go on. Any row failing in the database
        (UNIQUE, type) raises and rolls back the whole batch (or the caller's `conn` transaction).
        """
        if not len(df):
            lead_row_problems(df)  # an empty frame still has to have the right columns
            return UpsertResult(0, 0)
        df = df.reset_index(drop=True)
        problems = lead_row_problems(df)
        refused = df.index.isin(problems.index)
        rejected, df = df[refused], df[~refused]
        with self._write(conn) as c:
            if len(rejected):
                self.quarantine(_schema_quarantine_rows(rejected, problems), conn=c)
            result = self._upsert_valid_leads(c, df) if len(df) else UpsertResult(0, 0)
        return UpsertResult(result.inserted, result.updated, tuple(rejected["lead_id"].astype(str)))

    def _upsert_valid_leads(self, conn: Connection, df: pd.DataFrame) -> UpsertResult:
        # updated_at is always "now"; any incoming value is ignored.
        columns = [c for c in LEAD_COLUMNS if c in df.columns and c != "updated_at"]
        rows = frame_rows(df, columns, self.dialect)
        if "linkedin_url" in columns:  # '' is "no URL", not a value the UNIQUE constraint should see
            at = columns.index("linkedin_url")
            rows = [r if r[at] is None or r[at].strip() else (*r[:at], None, *r[at + 1 :]) for r in rows]
        # Resolving NULLs of NOT NULL data columns against the stored row costs a join:
        # only pay it when such a NULL is actually present.
        resolve = {
            c for c in _NOT_NULL_DATA if c in columns and any(r[columns.index(c)] is None for r in rows)
        }
        if self.dialect == "postgresql":
            return self._pg_upsert_leads(conn, columns, rows, resolve)
        return self._sqlite_upsert_leads(conn, columns, rows, resolve)

    @staticmethod
    def _merge_set(columns: Sequence[str]) -> str:
        sets = []
        for col in columns:
            if col in ("lead_id", "created_at"):
                continue
            if col in TAKE_NEW or col in _NOT_NULL_DATA:  # _NOT_NULL_DATA: already merged upstream
                sets.append(f"{col} = excluded.{col}")
            elif col in KEEP_EXISTING:
                sets.append(f"{col} = COALESCE(leads.{col}, excluded.{col})")
            else:
                sets.append(f"{col} = COALESCE(excluded.{col}, leads.{col})")
        sets.append("updated_at = excluded.updated_at")
        return ", ".join(sets)

    def _pg_upsert_leads(self, conn: Connection, columns, rows, resolve) -> UpsertResult:
        stage = self._pg_stage(conn, "leads", columns, rows)
        exprs = []
        for col in columns:
            expr = f"s.{col}"
            if col in resolve:
                expr = f"COALESCE(s.{col}, l.{col}, {_NOT_NULL_DEFAULT[col]})"
            elif col in _NOT_NULL_DEFAULT:
                expr = f"COALESCE(s.{col}, {_NOT_NULL_DEFAULT[col]})"
            elif col == "created_at":
                expr = "COALESCE(s.created_at, now())"
            exprs.append(expr)
        insert_cols = list(columns)
        if "created_at" not in columns:
            insert_cols.append("created_at")
            exprs.append("now()")
        join = " LEFT JOIN leads l ON l.lead_id = s.lead_id" if resolve else ""
        sql = f"""
            WITH up AS (
                INSERT INTO leads ({", ".join(insert_cols)}, updated_at)
                SELECT {", ".join(exprs)}, now() FROM {stage} s{join}
                ORDER BY s.lead_id  -- one lock order for concurrent batches: no deadlocks
                ON CONFLICT (lead_id) DO UPDATE SET {self._merge_set(columns)}
                RETURNING (xmax = 0) AS inserted
            )
            SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up"""
        inserted, updated = conn.exec_driver_sql(sql).one()
        return UpsertResult(int(inserted), int(updated))

    def _sqlite_upsert_leads(self, conn: Connection, columns, rows, resolve) -> UpsertResult:
        existing = sum(
            1
            for _ in self._in_chunks(
                conn, "SELECT lead_id FROM leads WHERE lead_id {in_clause}", "ids", [r[0] for r in rows]
            )
        )
        values = []
        for col in columns:
            expr = f":{col}"
            if col in resolve:
                expr = f"COALESCE(:{col}, (SELECT {col} FROM leads WHERE lead_id = :lead_id), 0)"
            elif col in _NOT_NULL_DEFAULT:
                expr = f"COALESCE(:{col}, {_NOT_NULL_DEFAULT[col].replace('false', '0')})"
            elif col == "created_at":
                expr = "COALESCE(:created_at, :_now)"
            values.append(expr)
        insert_cols = list(columns)
        if "created_at" not in columns:  # explicit, so both dialects store microseconds
            insert_cols.append("created_at")
            values.append(":_now")
        sql = f"""
            INSERT INTO leads ({", ".join(insert_cols)}, updated_at) VALUES ({", ".join(values)}, :_now)
            ON CONFLICT (lead_id) DO UPDATE SET {self._merge_set(columns)}"""
        now = ts_param(utc_now(), "sqlite")
        params = [{**dict(zip(columns, row, strict=True)), "_now": now} for row in rows]
        conn.exec_driver_sql(sql, params)
        return UpsertResult(len(rows) - existing, existing)

    def _pg_stage(self, conn: Connection, name: str, columns: Sequence[str], rows: Iterable[tuple]) -> str:
        """COPY `rows` into a fresh TEMP table (dropped at commit); return its name."""
        stage = f"_stage_{name}_{next(_stage_ids)}"
        # No constraints on the staging table: NOT NULL/CHECK are the target table's job,
        # checked by the one INSERT ... SELECT, so a bad row fails the batch there.
        cols_sql = ", ".join(f"{c} {_PG_TYPES.get(c, 'text')}" for c in columns)
        conn.exec_driver_sql(f"CREATE TEMP TABLE {stage} ({cols_sql}) ON COMMIT DROP")
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f"COPY {stage} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return stage

    @_reconnecting
    def fetch_leads(self, lead_ids: Sequence[str], *, conn: Connection | None = None) -> pd.DataFrame:
        """The stored leads among `lead_ids` (columns = LEAD_COLUMNS, ordered by lead_id).

        With `conn`, read inside the caller's transaction (no second connection per batch).
        """
        sql = f"SELECT {', '.join(LEAD_COLUMNS)} FROM leads WHERE lead_id {{in_clause}}"
        if conn is not None:
            rows = list(self._in_chunks(conn, sql, "ids", list(lead_ids)))
        else:
            with self._read() as own:
                rows = list(self._in_chunks(own, sql, "ids", list(lead_ids)))
        df = pd.DataFrame(rows, columns=list(LEAD_COLUMNS))
        return normalize_frame(df.sort_values("lead_id", ignore_index=True))

    @_reconnecting
    def read_sql(self, sql: str, params: dict | None = None) -> pd.DataFrame:
        """Any trusted read-only query (`:name` params) as a DataFrame; for metrics, assets and tests.

        Known columns get the same dtypes on both dialects (UTC timestamps, Int64, boolean).
        """
        with self._read() as conn:
            result = conn.execute(text(sql), params or {})
            df = pd.DataFrame(result.mappings().all(), columns=list(result.keys()))
        return normalize_frame(df)

    @_reconnecting
    def read_leads(self, where_sql: str | None = None, params: dict | None = None) -> pd.DataFrame:
        """Leads matching a trusted SQL condition (`where_sql`, with `:name` params)."""
        sql = f"SELECT {', '.join(LEAD_COLUMNS)} FROM leads"
        if where_sql:
            sql += f" WHERE {where_sql}"
        with self._read() as conn:
            rows = conn.execute(text(sql + " ORDER BY lead_id"), params or {}).mappings().all()
        return normalize_frame(pd.DataFrame(rows, columns=list(LEAD_COLUMNS)))

    # -- raw landings --

    @_reconnecting
    def land_raw(
        self,
        source: str,
        partition_key: str,
        request_kind: str,
        request_key: str,
        payload: str,
        http_status: int | None,
        run_id: str | None,
        *,
        conn: Connection | None = None,
    ) -> bool:
        """Store a vendor response unless one is stored under the same key; True when new."""
        sql = text(
            """INSERT INTO raw_landings
                   (source, partition_key, request_kind, request_key, http_status, payload, fetched_at, run_id)
               VALUES (:source, :partition_key, :request_kind, :request_key, :http_status, :payload, :now, :run_id)
               ON CONFLICT (source, partition_key, request_kind, request_key) DO NOTHING"""
        )
        params = {
            "source": source,
            "partition_key": partition_key,
            "request_kind": request_kind,
            "request_key": clean_text(request_key),
            "http_status": http_status,
            "payload": _payload_text(payload),
            "now": ts_param(utc_now(), self.dialect),
            "run_id": run_id,
        }
        with self._write(conn) as c:
            return c.execute(sql, params).rowcount == 1

    def get_landing(
        self, source: str, partition_key: str, request_kind: str, request_key: str
    ) -> dict | None:
        """The landing stored under that key, or None."""
        sql = text(
            """SELECT * FROM raw_landings WHERE source = :source AND partition_key = :partition_key
               AND request_kind = :request_kind AND request_key = :request_key"""
        )
        params = {
            "source": source,
            "partition_key": partition_key,
            "request_kind": request_kind,
            "request_key": clean_text(request_key),
        }
        with self._read() as conn:
            row = conn.execute(sql, params).mappings().first()
        return row_dict(row) if row else None

    @_reconnecting
    def landings(self, source: str, partition_key: str, request_kind: str | None = None) -> list[dict]:
        """The landings of a partition (optionally of one request kind), oldest first."""
        sql = "SELECT * FROM raw_landings WHERE source = :source AND partition_key = :partition_key"
        params = {"source": source, "partition_key": partition_key}
        if request_kind is not None:
            sql += " AND request_kind = :request_kind"
            params["request_kind"] = request_kind
        with self._read() as conn:
            return [row_dict(r) for r in conn.execute(text(sql + " ORDER BY landing_id"), params).mappings()]

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

    def _insert_new_returning(
        self, conn: Connection, table: str, columns: Sequence[str], rows: list[tuple], conflict: str, returning: str
    ) -> list:
        """PostgreSQL only: `_insert_new` that returns `returning` of the rows it inserted."""
        stage = self._pg_stage(conn, table, columns, rows)
        cols = ", ".join(columns)
        return conn.exec_driver_sql(
            f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} ORDER BY {conflict} "
            f"ON CONFLICT ({conflict}) DO NOTHING RETURNING {returning}"
        ).all()

    @_reconnecting
    def record_sources(self, df: pd.DataFrame, *, conn: Connection | None = None) -> int:
        """Record which vendor records became which leads; existing pairs are kept. Returns rows added."""
        required = ["source", "vendor_person_id", "lead_id"]
        missing = [c for c in required if c not in df.columns]
        if missing:
            raise ValueError(f"record_sources needs columns {missing}")
        df = df.copy()
        if "match_method" not in df.columns:
            df["match_method"] = "new"
        df["match_method"] = df["match_method"].fillna("new")
        if "first_seen_at" not in df.columns:
            df["first_seen_at"] = utc_now()
        columns = [*required, "partition_key", "match_method", "first_seen_at"]
        if "partition_key" not in df.columns:
            df["partition_key"] = None
        rows = frame_rows(df, columns, self.dialect)
        with self._write(conn) as c:
            return self._insert_new(c, "lead_sources", columns, rows, "source, vendor_person_id")

    def sources_for(self, lead_ids: Sequence[str]) -> pd.DataFrame:
        """The lead_sources rows of `lead_ids`."""
        columns = ["source", "vendor_person_id", "lead_id", "partition_key", "match_method", "first_seen_at"]
        with self._read() as conn:
            rows = list(
                self._in_chunks(
                    conn,
                    f"SELECT {', '.join(columns)} FROM lead_sources WHERE lead_id {{in_clause}}",
                    "ids",
                    list(lead_ids),
                )
            )
        df = pd.DataFrame(rows, columns=columns)
        return normalize_frame(df.sort_values(["lead_id", "source", "vendor_person_id"], ignore_index=True))

    @_reconnecting
    def quarantine(self, df: pd.DataFrame, *, conn: Connection | None = None) -> int:
        """Quarantine invalid records; a record already quarantined is not added again. Returns rows added."""
        missing = [c for c in ("source", "partition_key", "reason", "payload") if c not in df.columns]
        if missing:
            raise ValueError(f"quarantine needs columns {missing}")
        if not len(df):
            return 0
        vendor_ids = df["vendor_person_id"] if "vendor_person_id" in df.columns else [None] * len(df)
        rows = []
        for source, partition_key, vendor_id, reason, payload in zip(
            df["source"], df["partition_key"], vendor_ids, df["reason"], df["payload"], strict=True
        ):
            reason_text, payload_text = _payload_text(reason), _payload_text(payload)
            rows.append(
                (
                    clean_text(source),
                    clean_text(partition_key),
                    None if vendor_id is None or pd.isna(vendor_id) else clean_text(vendor_id),
                    reason_text,
                    payload_text,
                    record_hash(reason_text, payload_text),
                    ts_param(utc_now(), self.dialect),
                )
            )
        columns = [
            "source",
            "partition_key",
            "vendor_person_id",
            "reason",
            "payload",
            "record_hash",
            "created_at",
        ]
        with self._write(conn) as c:
            return self._insert_new(c, "quarantine", columns, rows, "source, partition_key, record_hash")

    @_reconnecting
    def delete_quarantine(self, quarantine_ids: Sequence[int]) -> int:
        """Remove quarantine rows that are accounted for now (a later match stored them)."""
        stmt = text("DELETE FROM quarantine WHERE quarantine_id IN :ids").bindparams(bindparam("ids", expanding=True))
        ids = [int(i) for i in dict.fromkeys(quarantine_ids)]
        with self.engine.begin() as conn:
            return sum(conn.execute(stmt, {"ids": list(chunk)}).rowcount for chunk in _chunks(ids, 500))

    # -- search slices --

    _SLICE_COLUMNS = (
        "source",
        "slice_key",
        "hour_key",
        "query",
        "total_entries",
        "pages_total",
        "pages_done",
        "status",
        "coverage",
        "parent_key",
        "error",
    )

    @_reconnecting
    def upsert_slices(self, rows: list[dict], *, conn: Connection | None = None) -> int:
        """Create or update search slices; each row sets only the columns it carries.

        Rows with `hour_key` and `query` are upserted; rows without them update an
        existing slice (a missing one is an error). `query` may be a dict (stored as JSON).
        """
        if not rows:
            return 0
        now = ts_param(utc_now(), self.dialect)
        groups: dict[tuple[str, ...], list[dict]] = {}
        for row in rows:
            unknown = set(row) - set(self._SLICE_COLUMNS) - {"updated_at"}
            if unknown or "source" not in row or "slice_key" not in row:
                raise ValueError(
                    f"bad search slice row (unknown {sorted(unknown)} or no source/slice_key): {row}"
                )
            clean = {k: v for k, v in row.items() if k != "updated_at"}
            if isinstance(clean.get("query"), (dict, list)):
                clean["query"] = json.dumps(clean["query"], sort_keys=True)
            clean["updated_at"] = now
            groups.setdefault(tuple(sorted(clean)), []).append(clean)
        with self._write(conn) as c:
            for columns, group in groups.items():
                settable = [col for col in columns if col not in ("source", "slice_key")]
                if {"hour_key", "query"} <= set(columns):
                    sql = (
                        f"INSERT INTO search_slices ({', '.join(columns)}) "
                        f"VALUES ({', '.join(':' + col for col in columns)}) "
                        f"ON CONFLICT (source, slice_key) DO UPDATE SET "
                        + ", ".join(f"{col} = excluded.{col}" for col in settable)
                    )
                    c.execute(text(sql), group)
                else:
                    sql = (
                        "UPDATE search_slices SET "
                        + ", ".join(f"{col} = :{col}" for col in settable)
                        + " WHERE source = :source AND slice_key = :slice_key"
                    )
                    result = c.execute(text(sql), group)
                    if result.rowcount is not None and 0 <= result.rowcount < len(group):
                        raise ValueError(
                            "upsert_slices: a row without hour_key/query names no existing slice"
                        )
        return len(rows)

    @_reconnecting
    def slices(self, source: str, hour_key: str | None = None) -> list[dict]:
        """The slices of a source (optionally of one hour), by hour then slice key; `query` is JSON text."""
        sql = "SELECT * FROM search_slices WHERE source = :source"
        params = {"source": source}
        if hour_key is not None:
            sql += " AND hour_key = :hour_key"
            params["hour_key"] = hour_key
        with self._read() as conn:
            rows = conn.execute(text(sql + " ORDER BY hour_key, slice_key"), params).mappings()
            return [row_dict(r) for r in rows]

    # -- vendor calls --

    _CALL_DEFAULTS: dict[str, Any] = {
        "partition_key": None,
        "run_id": None,
        "status_code": None,
        "attempts": 1,
        "polls": 0,
        "error": None,
        "credits": 0.0,
        "duration_ms": None,
        "called_at": None,
    }

    @_reconnecting
    def record_vendor_calls(self, rows: list[dict], *, conn: Connection | None = None) -> int:
        """Append vendor call records (vendor, endpoint and outcome are required). Returns rows added."""
        if not rows:
            return 0
        columns = ["vendor", "endpoint", "outcome", *self._CALL_DEFAULTS]
        now = utc_now()
        params = []
        for row in rows:
            unknown = set(row) - set(columns)
            if unknown:
                raise ValueError(f"record_vendor_calls got unknown fields {sorted(unknown)}")
            full = {**self._CALL_DEFAULTS, **row}
            full["called_at"] = ts_param(full["called_at"] or now, self.dialect)
            full["error"] = None if full["error"] is None else clean_text(full["error"])
            params.append(full)
        sql = text(
            f"INSERT INTO vendor_calls ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
        )
        with self._write(conn) as c:
            c.execute(sql, params)
        return len(params)
