"""The `crm_sync_state` table: where each lead stands in each CRM (see sql/*/004_crm_sync.sql).

Bulk reads and writes over a `LeadStore`'s engine. Writing a confirmed outcome (created or
updated) also sets `leads.crm_synced` / `leads.crm_sync_date` in the same transaction, so the
two can never disagree; nothing else ever sets them. `leads.updated_at` is left alone: sync
bookkeeping is not a change of the lead's data.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, bindparam, text

from lead_assets.store.lead_store import LeadStore, clean_text, ts_param, utc_now

STATES = ("created", "updated", "rejected", "skipped", "pending")
CONFIRMED = ("created", "updated")
COLUMNS = (
    "lead_id",
    "crm",
    "crm_id",
    "state",
    "reason",
    "permanent",
    "attempts",
    "content_hash",
    "synced_at",
    "updated_at",
)
_WRITE_COLUMNS = (
    "lead_id",
    "crm",
    "crm_id",
    "state",
    "reason",
    "permanent",
    "attempts",
    "content_hash",
    "synced_at",
)
_CHUNK = {"postgresql": 10_000, "sqlite": 500}
# A lead a CRM's daily limit held back: `skipped` with this reason; the time is when the limit resets.
_DEFERRED = "deferred: {crm} DAILY API limit spent; resumes after {resume} (midnight {zone})"
_DEFERRED_LIKE = "deferred: % resumes after %"


def empty_states() -> pd.DataFrame:
    """A state frame with no rows (the shape `read_states` returns)."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})


def read_states(store: LeadStore, crm: str, lead_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """The sync state rows of `crm` (optionally only for `lead_ids`), timestamps as UTC."""
    sql = f"SELECT {', '.join(COLUMNS)} FROM crm_sync_state WHERE crm = :crm"
    if lead_ids is None:
        df = store.read_sql(sql, {"crm": crm})
    else:
        frames = []
        ids = list(dict.fromkeys(lead_ids))
        size = _CHUNK[store.dialect]
        for start in range(0, len(ids), size):
            chunk = ids[start : start + size]
            if store.dialect == "postgresql":
                frames.append(store.read_sql(sql + " AND lead_id = ANY(:ids)", {"crm": crm, "ids": chunk}))
            else:
                placeholders = ", ".join(f":id{i}" for i in range(len(chunk)))
                params: dict[str, Any] = {"crm": crm, **{f"id{i}": v for i, v in enumerate(chunk)}}
                frames.append(store.read_sql(sql + f" AND lead_id IN ({placeholders})", params))
        df = pd.concat(frames, ignore_index=True) if frames else empty_states()
    if not len(df):
        return empty_states()
    df["synced_at"] = pd.to_datetime(df["synced_at"], utc=True, format="ISO8601")
    df["permanent"] = df["permanent"].astype(bool)
    df["attempts"] = df["attempts"].astype(int)
    return df


def write_states(store: LeadStore, crm: str, rows: pd.DataFrame, *, conn: Connection | None = None) -> int:
    """Upsert state rows (columns of `_WRITE_COLUMNS` but `crm`); returns rows written.

    A missing `crm_id` or `synced_at` keeps the stored one: a lead rejected after an earlier
    confirmed sync still knows its CRM record. Rows in a confirmed state mark their leads
    `crm_synced` with `crm_sync_date` = `synced_at`.
    """
    if not len(rows):
        return 0
    bad = set(rows["state"]) - set(STATES)
    if bad:
        raise ValueError(f"unknown crm sync states {sorted(bad)}")
    now = ts_param(utc_now(), store.dialect)
    params = []
    for rec in rows.to_dict("records"):
        synced = rec.get("synced_at")
        params.append(
            {
                "lead_id": rec["lead_id"],
                "crm": crm,
                "crm_id": _text(rec.get("crm_id")),
                "state": rec["state"],
                "reason": _text(rec.get("reason")),
                "permanent": bool(rec.get("permanent") or False),
                "attempts": int(rec.get("attempts") or 0),
                "content_hash": _text(rec.get("content_hash")),
                "synced_at": None if synced is None or pd.isna(synced) else ts_param(synced, store.dialect),
                "now": now,
            }
        )
    cols = ", ".join(_WRITE_COLUMNS)
    values = ", ".join(f":{c}" for c in _WRITE_COLUMNS)
    upsert = text(
        f"""INSERT INTO crm_sync_state ({cols}, updated_at) VALUES ({values}, :now)
            ON CONFLICT (lead_id, crm) DO UPDATE SET
                crm_id = COALESCE(excluded.crm_id, crm_sync_state.crm_id),
                state = excluded.state,
                reason = excluded.reason,
                permanent = excluded.permanent,
                attempts = excluded.attempts,
                content_hash = excluded.content_hash,
                synced_at = COALESCE(excluded.synced_at, crm_sync_state.synced_at),
                updated_at = excluded.updated_at"""
    )
    confirmed = [p for p in params if p["state"] in CONFIRMED]
    with _write(store, conn) as c:
        c.execute(upsert, params)
        _mark_synced(store, c, confirmed)
    return len(params)


def _mark_synced(store: LeadStore, conn: Connection, confirmed: list[dict]) -> None:
    by_time: dict[Any, list[str]] = {}
    for p in confirmed:
        by_time.setdefault(p["synced_at"] or p["now"], []).append(p["lead_id"])
    for stamp, ids in by_time.items():
        size = _CHUNK[store.dialect]
        for start in range(0, len(ids), size):
            chunk = ids[start : start + size]
            if store.dialect == "postgresql":
                stmt = text(
                    "UPDATE leads SET crm_synced = true, crm_sync_date = :at WHERE lead_id = ANY(:ids)"
                )
            else:
                stmt = text(
                    "UPDATE leads SET crm_synced = 1, crm_sync_date = :at WHERE lead_id IN :ids"
                ).bindparams(bindparam("ids", expanding=True))
            conn.execute(stmt, {"at": stamp, "ids": chunk})


@contextmanager
def _write(store: LeadStore, conn: Connection | None) -> Iterator[Connection]:
    """The caller's connection, or a new transaction."""
    if conn is not None:
        yield conn
    else:
        with store.transaction() as new:
            yield new


def _text(value: Any) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return clean_text(value)


def state_counts(store: LeadStore, crm: str | None = None) -> dict[str, dict[str, int]]:
    """``{crm: {state: count}}`` (every state present, zeros included)."""
    sql = "SELECT crm, state, count(*) AS n FROM crm_sync_state"
    params: dict[str, Any] = {}
    if crm is not None:
        sql += " WHERE crm = :crm"
        params["crm"] = crm
    df = store.read_sql(sql + " GROUP BY crm, state", params)
    out: dict[str, dict[str, int]] = {}
    if crm is not None:
        out[crm] = dict.fromkeys(STATES, 0)
    for row in df.itertuples(index=False):
        out.setdefault(row.crm, dict.fromkeys(STATES, 0))[row.state] = int(row.n)
    return out


def rejected(store: LeadStore, crm: str) -> pd.DataFrame:
    """The leads `crm` rejected: lead_id, reason, permanent, attempts, updated_at."""
    return store.read_sql(
        "SELECT lead_id, reason, permanent, attempts, updated_at FROM crm_sync_state "
        "WHERE crm = :crm AND state = 'rejected' ORDER BY lead_id",
        {"crm": crm},
    )


def deferred_reason(crm: str, resume_at: datetime, time_zone: str) -> str:
    """The `reason` of a lead held back by `crm`'s spent daily limit until `resume_at` (UTC)."""
    return _DEFERRED.format(crm=crm, resume=resume_at.astimezone(UTC).isoformat(timespec="seconds"), zone=time_zone)


def deferred_until(store: LeadStore, crm: str) -> datetime | None:
    """When `crm`'s spent daily limit comes back, if an earlier run recorded one (else None)."""
    reasons = store.read_sql(
        "SELECT DISTINCT reason FROM crm_sync_state WHERE crm = :crm AND state = 'skipped' AND reason LIKE :p",
        {"crm": crm, "p": _DEFERRED_LIKE},
    )["reason"]
    stamps = []
    for reason in reasons:
        text_after = str(reason).split("resumes after ", 1)[-1].split(" ", 1)[0]
        try:
            stamps.append(datetime.fromisoformat(text_after))
        except ValueError:
            continue
    return max(stamps) if stamps else None
