"""The enrichment ledger, field provenance and the cost ledger, on a `LeadStore` (either dialect).

* `enrichment_ledger`: one row per (lead, provider, field), the last lookup and its outcome,
  live until `expires_at`. `read_ledger` returns only live rows: what the waterfall must not
  buy again. `shared_answers` finds live answers by `lookup_key` (a company domain), so one
  company is looked up once whoever works there.
* `field_provenance`: which vendor supplied each filled lead field, when, at what cost, with
  what verification status.
* `cost_ledger`: every paid call with its units and price; `total_spend` and `spend_by_vendor`
  are the money figures every report uses.

`record_lookup` writes a lookup's ledger row, its cost row and its vendor-call record in one
transaction, right after the call returns: a run killed a moment later has already
remembered what it paid for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, text

from lead_assets.store.database import retry_transient
from lead_assets.store.lead_store import LeadStore, clean_text, ts_param, utc_now

LEDGER_COLUMNS: tuple[str, ...] = (
    "lead_id",
    "provider",
    "field",
    "outcome",
    "value",
    "confidence",
    "verification_status",
    "lookup_key",
    "cost_usd",
    "looked_up_at",
    "expires_at",
    "run_id",
    "partition_key",
)
PROVENANCE_COLUMNS: tuple[str, ...] = (
    "lead_id",
    "field",
    "provider",
    "value",
    "cost_usd",
    "verification_status",
    "supplied_at",
    "run_id",
)
COST_COLUMNS: tuple[str, ...] = (
    "vendor",
    "endpoint",
    "units",
    "unit_price_usd",
    "cost_usd",
    "run_id",
    "partition_key",
    "lead_id",
    "called_at",
)
_TIMESTAMPS = frozenset({"looked_up_at", "expires_at", "supplied_at", "called_at"})
_TEXT = frozenset({"value", "lookup_key", "verification_status"})


def _params(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], dialect: str, now: datetime) -> list[dict]:
    out = []
    for row in rows:
        unknown = set(row) - set(columns)
        if unknown:
            raise ValueError(f"unknown enrichment columns {sorted(unknown)}")
        params = {c: row.get(c) for c in columns}
        for c in columns:
            if c in _TIMESTAMPS:
                params[c] = ts_param(params[c] if params[c] is not None else now, dialect)
            elif c in _TEXT and params[c] is not None:
                params[c] = clean_text(params[c])
        out.append(params)
    return out


def _frame(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    df = pd.DataFrame([dict(r) for r in rows], columns=list(columns))
    for c in columns:
        if c in _TIMESTAMPS:
            df[c] = pd.to_datetime(df[c], utc=True, format="ISO8601")
    return df


def _upsert_sql(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    sets = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}"
    )


def _write(store: LeadStore, conn: Connection | None, sql: str, params: list[dict]) -> int:
    if not params:
        return 0
    if conn is not None:
        conn.execute(text(sql), params)
    else:
        with store.transaction() as c:
            c.execute(text(sql), params)
    return len(params)


# -- the enrichment ledger ----------------------------------------------------------------


def upsert_ledger(store: LeadStore, rows: Sequence[Mapping[str, Any]], *, conn: Connection | None = None) -> int:
    """Insert or replace ledger rows (key: lead_id, provider, field). `expires_at` is required."""
    if any(r.get("expires_at") is None for r in rows):
        raise ValueError("every ledger row needs expires_at")
    params = _params(rows, LEDGER_COLUMNS, store.dialect, utc_now())
    sql = _upsert_sql("enrichment_ledger", LEDGER_COLUMNS, ("lead_id", "provider", "field"))
    return _write(store, conn, sql, params)


def read_ledger(store: LeadStore, lead_ids: Sequence[str], *, now: datetime | None = None) -> pd.DataFrame:
    """The live ledger rows (expires_at after `now`) of `lead_ids`."""
    sql = (
        f"SELECT {', '.join(LEDGER_COLUMNS)} FROM enrichment_ledger "
        "WHERE expires_at > :now AND lead_id {in_clause}"
    )
    params = {"now": ts_param(now or utc_now(), store.dialect)}
    with store._read() as conn:
        rows = list(store._in_chunks(conn, sql, "ids", list(lead_ids), params))
    return _frame(rows, LEDGER_COLUMNS)


def shared_answers(
    store: LeadStore, provider: str, field: str, lookup_keys: Sequence[str], *, now: datetime | None = None
) -> pd.DataFrame:
    """The latest live found / not-found row per `lookup_key` (e.g. a company domain) at `provider`."""
    sql = (
        f"SELECT {', '.join(LEDGER_COLUMNS)} FROM enrichment_ledger WHERE provider = :provider "
        "AND field = :field AND outcome IN ('found', 'not_found') AND expires_at > :now AND lookup_key {in_clause}"
    )
    params = {"provider": provider, "field": field, "now": ts_param(now or utc_now(), store.dialect)}
    with store._read() as conn:
        rows = list(store._in_chunks(conn, sql, "keys", [k for k in lookup_keys if k], params))
    df = _frame(rows, LEDGER_COLUMNS)
    # Paid answers first (the original lookup), then the newest: one row per key.
    df = df.assign(_paid=df["cost_usd"].astype(float) > 0)
    df = df.sort_values(["_paid", "looked_up_at"], ascending=[False, False], kind="stable")
    return df.drop_duplicates("lookup_key").drop(columns="_paid").reset_index(drop=True)


def shared_finder_answer(
    store: LeadStore, provider: str, field: str, first_name: str, last_name: str, domain: str,
    *, now: datetime | None = None,
) -> pd.DataFrame:
    """The latest live answer `provider` gave any lead named `first_name last_name` at `domain`.

    An email finder answers a name at a domain, not a person: two namesakes at one employer
    get the same answer, so the second is read here rather than bought again. At most one row.
    """
    sql = text(
        f"SELECT {', '.join('e.' + c for c in LEDGER_COLUMNS)} FROM enrichment_ledger e "
        "JOIN leads l ON l.lead_id = e.lead_id WHERE e.provider = :provider AND e.field = :field "
        "AND e.outcome IN ('found', 'not_found') AND e.expires_at > :now AND e.lookup_key = :domain "
        "AND lower(l.first_name) = :first AND lower(l.last_name) = :last "
        "ORDER BY e.cost_usd DESC, e.looked_up_at DESC LIMIT 1"
    )
    params = {"provider": provider, "field": field, "now": ts_param(now or utc_now(), store.dialect),
              "domain": domain.lower(), "first": first_name.lower(), "last": last_name.lower()}
    with store._read() as conn:
        rows = [dict(r) for r in conn.execute(sql, params).mappings()]
    return _frame(rows, LEDGER_COLUMNS)


# -- provenance ---------------------------------------------------------------------------


def upsert_provenance(
    store: LeadStore, rows: Sequence[Mapping[str, Any]], *, conn: Connection | None = None
) -> int:
    """Record who supplied each filled field (key: lead_id, field; a newer supplier replaces)."""
    params = _params(rows, PROVENANCE_COLUMNS, store.dialect, utc_now())
    return _write(store, conn, _upsert_sql("field_provenance", PROVENANCE_COLUMNS, ("lead_id", "field")), params)


def read_provenance(store: LeadStore, lead_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Provenance rows (of `lead_ids`, or all), ordered by lead and field."""
    base = f"SELECT {', '.join(PROVENANCE_COLUMNS)} FROM field_provenance"
    with store._read() as conn:
        if lead_ids is None:
            rows = conn.execute(text(base)).mappings().all()
        else:
            rows = list(store._in_chunks(conn, base + " WHERE lead_id {in_clause}", "ids", list(lead_ids)))
    return _frame(rows, PROVENANCE_COLUMNS).sort_values(["lead_id", "field"], ignore_index=True)


# -- the cost ledger ----------------------------------------------------------------------


def insert_costs(store: LeadStore, rows: Sequence[Mapping[str, Any]], *, conn: Connection | None = None) -> int:
    """Append paid-call rows (vendor, endpoint, units, unit_price_usd required; cost = units x price)."""
    full = []
    for row in rows:
        if any(row.get(c) is None for c in ("vendor", "endpoint", "units", "unit_price_usd")):
            raise ValueError(f"a cost row needs vendor, endpoint, units and unit_price_usd: {dict(row)}")
        cost = row.get("cost_usd")
        full.append({**row, "cost_usd": float(row["units"]) * float(row["unit_price_usd"]) if cost is None else cost})
    params = _params(full, COST_COLUMNS, store.dialect, utc_now())
    sql = f"INSERT INTO cost_ledger ({', '.join(COST_COLUMNS)}) VALUES ({', '.join(':' + c for c in COST_COLUMNS)})"
    return _write(store, conn, sql, params)


def read_costs(store: LeadStore, run_id: str | None = None) -> pd.DataFrame:
    """Cost ledger rows (of one run, or all), oldest first."""
    sql = f"SELECT cost_id, {', '.join(COST_COLUMNS)} FROM cost_ledger"
    params = {}
    if run_id is not None:
        sql, params = sql + " WHERE run_id = :run_id", {"run_id": run_id}
    with store._read() as conn:
        rows = conn.execute(text(sql + " ORDER BY cost_id"), params).mappings().all()
    return _frame(rows, ("cost_id", *COST_COLUMNS))


def total_spend(store: LeadStore, run_id: str | None = None) -> float:
    """USD spent on paid calls (by one run, or in all)."""
    return float(sum(spend_by_vendor(store, run_id).values()))


def spend_by_vendor(store: LeadStore, run_id: str | None = None) -> dict[str, float]:
    """USD spent per vendor (by one run, or in all)."""
    sql = "SELECT vendor, COALESCE(sum(cost_usd), 0) AS usd FROM cost_ledger"
    params = {}
    if run_id is not None:
        sql, params = sql + " WHERE run_id = :run_id", {"run_id": run_id}
    with store._read() as conn:
        rows = conn.execute(text(sql + " GROUP BY vendor ORDER BY vendor"), params).all()
    return {vendor: float(usd) for vendor, usd in rows}


# -- one lookup, atomically ---------------------------------------------------------------


def record_lookup(
    store: LeadStore,
    ledger_rows: Sequence[Mapping[str, Any]],
    *,
    costs: Sequence[Mapping[str, Any]] = (),
    calls: Sequence[Mapping[str, Any]] = (),
) -> None:
    """Ledger rows, cost rows and vendor-call records of one lookup, in one transaction.

    Retried whole on a dropped connection: the lookup is paid for, and a lost answer would be
    bought again by the next run.
    """
    def write() -> None:
        with store.transaction() as conn:
            upsert_ledger(store, ledger_rows, conn=conn)
            insert_costs(store, costs, conn=conn)
            if calls:
                store.record_vendor_calls(list(calls), conn=conn)

    retry_transient(write, what="enrichment lookup")
