"""`Quarantine`: the `quarantine` table, records that could not become leads, each kept once."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pandas as pd
from sqlalchemy import Connection, bindparam, text

from lead_assets.store.base import StoreBase, chunks, reconnecting
from lead_assets.store.values import clean_text, payload_text, ts_param, utc_now

_COLUMNS = ["source", "partition_key", "vendor_person_id", "reason", "payload", "record_hash", "created_at"]


def record_hash(reason: str, payload: str) -> str:
    """The quarantine de-duplication hash: sha256(reason NUL payload)."""
    return hashlib.sha256(f"{reason}\0{payload}".encode()).hexdigest()


class Quarantine(StoreBase):
    """Add and remove quarantined records."""

    @reconnecting
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
            reason_text, payload_str = payload_text(reason), payload_text(payload)
            rows.append(
                (
                    clean_text(source),
                    clean_text(partition_key),
                    None if vendor_id is None or pd.isna(vendor_id) else clean_text(vendor_id),
                    reason_text,
                    payload_str,
                    record_hash(reason_text, payload_str),
                    ts_param(utc_now(), self.dialect),
                )
            )
        with self._write(conn) as c:
            return self._insert_new(c, "quarantine", _COLUMNS, rows, "source, partition_key, record_hash")

    @reconnecting
    def delete_quarantine(self, quarantine_ids: Sequence[int]) -> int:
        """Remove quarantine rows that are accounted for now (a later match stored them)."""
        stmt = text("DELETE FROM quarantine WHERE quarantine_id IN :ids").bindparams(bindparam("ids", expanding=True))
        ids = [int(i) for i in dict.fromkeys(quarantine_ids)]
        with self.engine.begin() as conn:
            return sum(conn.execute(stmt, {"ids": list(chunk)}).rowcount for chunk in chunks(ids, 500))

    @reconnecting
    def quarantined_vendor_ids(self, source: str) -> set[str]:
        """Every vendor id of `source` in the quarantine (records bought that never became a lead)."""
        sql = "SELECT DISTINCT vendor_person_id FROM quarantine WHERE source = :source AND vendor_person_id IS NOT NULL"
        with self._read() as conn:
            return {str(v) for v in conn.execute(text(sql), {"source": source}).scalars()}

    @reconnecting
    def quarantined_records(self, source: str, reason_like: str) -> pd.DataFrame:
        """The quarantine rows of `source` whose reason matches the LIKE pattern `reason_like`.

        Columns quarantine_id, partition_key, payload (in insertion order): records to match again later.
        """
        sql = ("SELECT quarantine_id, partition_key, payload FROM quarantine "
               "WHERE source = :source AND reason LIKE :reason ORDER BY quarantine_id")
        return self.read_sql(sql, {"source": source, "reason": reason_like})
