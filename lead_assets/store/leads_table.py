"""`LeadsTable`: the `leads` table, upserted in bulk with per-column merge rules, read by id or condition.

A PostgreSQL batch is COPYed into a staging table and merged by one INSERT ... SELECT ...
ON CONFLICT; a SQLite batch is one executemany. A failing row fails (and rolls back) its batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Connection, text

from lead_assets.core.lead_schema import LEAD_COLUMNS, lead_row_problems
from lead_assets.store.base import reconnecting
from lead_assets.store.quarantine import Quarantine
from lead_assets.store.values import frame_rows, normalize_frame, ts_param, utc_now

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
_SELECT_LEADS = f"SELECT {', '.join(LEAD_COLUMNS)} FROM leads"


@dataclass(frozen=True)
class UpsertResult:
    """Rows of an upsert batch that were new vs already stored, and those the lead schema refused.

    `rejected` holds the lead_ids of refused rows (quarantined, not written).
    """

    inserted: int
    updated: int
    rejected: tuple[str, ...] = ()


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


def _merge_set(columns: Sequence[str]) -> str:
    """The ON CONFLICT ... DO UPDATE SET list of the merge rules, for the columns a batch carries."""
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


# How the proposed row reads, per dialect: a column's new value, its stored value, "now", "false".
# PostgreSQL reads the staging table `s` joined to the stored row `l`; SQLite the bound parameters.
_ROW_TERMS = {
    "postgresql": (lambda col: f"s.{col}", lambda col: f"l.{col}", "now()", "false"),
    "sqlite": (lambda col: f":{col}", lambda col: f"(SELECT {col} FROM leads WHERE lead_id = :lead_id)", ":_now", "0"),
}


def _proposed_row(columns: Sequence[str], resolve: set[str], dialect: str) -> tuple[list[str], list[str]]:
    """The INSERT columns and value expressions of the proposed rows, in `dialect`'s terms.

    A NULL in a NOT NULL column becomes its default (in `resolve`: the stored value first);
    created_at defaults to now, and is set explicitly so both dialects store microseconds.
    """
    new, stored, now, false = _ROW_TERMS[dialect]
    exprs = []
    for col in columns:
        expr = new(col)
        if col in resolve:
            expr = f"COALESCE({new(col)}, {stored(col)}, {_NOT_NULL_DEFAULT[col].replace('false', false)})"
        elif col in _NOT_NULL_DEFAULT:
            expr = f"COALESCE({new(col)}, {_NOT_NULL_DEFAULT[col].replace('false', false)})"
        elif col == "created_at":
            expr = f"COALESCE({new(col)}, {now})"
        exprs.append(expr)
    insert_cols = list(columns)
    if "created_at" not in columns:
        insert_cols.append("created_at")
        exprs.append(now)
    return insert_cols, exprs


class LeadsTable(Quarantine):
    """Upsert and read leads (a refused row goes to the quarantine, hence the base)."""

    @reconnecting
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

    def _pg_upsert_leads(self, conn: Connection, columns, rows, resolve) -> UpsertResult:
        stage = self._pg_stage(conn, "leads", columns, rows)
        insert_cols, exprs = _proposed_row(columns, resolve, "postgresql")
        join = " LEFT JOIN leads l ON l.lead_id = s.lead_id" if resolve else ""
        sql = f"""
            WITH up AS (
                INSERT INTO leads ({", ".join(insert_cols)}, updated_at)
                SELECT {", ".join(exprs)}, now() FROM {stage} s{join}
                ORDER BY s.lead_id  -- one lock order for concurrent batches: no deadlocks
                ON CONFLICT (lead_id) DO UPDATE SET {_merge_set(columns)}
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
        insert_cols, values = _proposed_row(columns, resolve, "sqlite")
        sql = f"""
            INSERT INTO leads ({", ".join(insert_cols)}, updated_at) VALUES ({", ".join(values)}, :_now)
            ON CONFLICT (lead_id) DO UPDATE SET {_merge_set(columns)}"""
        now = ts_param(utc_now(), "sqlite")
        params = [{**dict(zip(columns, row, strict=True)), "_now": now} for row in rows]
        conn.exec_driver_sql(sql, params)
        return UpsertResult(len(rows) - existing, existing)

    @reconnecting
    def fetch_leads(self, lead_ids: Sequence[str], *, conn: Connection | None = None) -> pd.DataFrame:
        """The stored leads among `lead_ids` (columns = LEAD_COLUMNS, ordered by lead_id).

        With `conn`, read inside the caller's transaction (no second connection per batch).
        """
        sql = _SELECT_LEADS + " WHERE lead_id {in_clause}"
        if conn is not None:
            rows = list(self._in_chunks(conn, sql, "ids", list(lead_ids)))
        else:
            rows = self._read_in_chunks(sql, "ids", list(lead_ids))
        df = pd.DataFrame(rows, columns=list(LEAD_COLUMNS))
        return normalize_frame(df.sort_values("lead_id", ignore_index=True))

    @reconnecting
    def read_leads(self, where_sql: str | None = None, params: dict | None = None) -> pd.DataFrame:
        """Leads matching a trusted SQL condition (`where_sql`, with `:name` params)."""
        sql = _SELECT_LEADS
        if where_sql:
            sql += f" WHERE {where_sql}"
        with self._read() as conn:
            rows = conn.execute(text(sql + " ORDER BY lead_id"), params or {}).mappings().all()
        return normalize_frame(pd.DataFrame(rows, columns=list(LEAD_COLUMNS)))
