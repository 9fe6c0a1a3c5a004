"""`Landings`: the `raw_landings` table, every vendor response as it came, stored once per request key."""

from __future__ import annotations

from sqlalchemy import Connection, text

from lead_assets.store.base import StoreBase, reconnecting
from lead_assets.store.values import clean_text, payload_text, row_dict, ts_param, utc_now


class Landings(StoreBase):
    """Land, look up and list raw vendor responses."""

    @reconnecting
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
            "payload": payload_text(payload),
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

    @reconnecting
    def landings(self, source: str, partition_key: str, request_kind: str | None = None) -> list[dict]:
        """The landings of a partition (optionally of one request kind), oldest first."""
        sql = "SELECT * FROM raw_landings WHERE source = :source AND partition_key = :partition_key"
        params = {"source": source, "partition_key": partition_key}
        if request_kind is not None:
            sql += " AND request_kind = :request_kind"
            params["request_kind"] = request_kind
        with self._read() as conn:
            return [row_dict(r) for r in conn.execute(text(sql + " ORDER BY landing_id"), params).mappings()]

    @reconnecting
    def landed_request_keys(self, source: str, request_kind: str) -> list[str]:
        """The request keys of every landing of `source` and `request_kind` (all partitions), oldest first."""
        sql = ("SELECT request_key FROM raw_landings WHERE source = :source AND request_kind = :request_kind "
               "ORDER BY landing_id")
        with self._read() as conn:
            return list(conn.execute(text(sql), {"source": source, "request_kind": request_kind}).scalars())
