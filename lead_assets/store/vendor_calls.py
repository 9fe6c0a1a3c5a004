"""`VendorCalls`: the `vendor_calls` table, one row per vendor API call and how it went."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from lead_assets.store.base import StoreBase, reconnecting
from lead_assets.store.values import clean_text, ts_param, utc_now

# The optional fields of a call record and their value when a record leaves them out.
CALL_DEFAULTS: dict[str, Any] = {
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


class VendorCalls(StoreBase):
    """Append vendor call records."""

    @reconnecting
    def record_vendor_calls(self, rows: list[dict], *, conn: Connection | None = None) -> int:
        """Append vendor call records (vendor, endpoint and outcome are required). Returns rows added."""
        if not rows:
            return 0
        columns = ["vendor", "endpoint", "outcome", *CALL_DEFAULTS]
        now = utc_now()
        params = []
        for row in rows:
            unknown = set(row) - set(columns)
            if unknown:
                raise ValueError(f"record_vendor_calls got unknown fields {sorted(unknown)}")
            full = {**CALL_DEFAULTS, **row}
            full["called_at"] = ts_param(full["called_at"] or now, self.dialect)
            full["error"] = None if full["error"] is None else clean_text(full["error"])
            params.append(full)
        sql = text(
            f"INSERT INTO vendor_calls ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
        )
        with self._write(conn) as c:
            c.execute(sql, params)
        return len(params)


    @reconnecting
    def vendor_call_counts(self) -> dict[tuple[str, str], int]:
        """How many calls each (vendor, endpoint) made, over the whole store."""
        sql = "SELECT vendor, endpoint, count(*) AS n FROM vendor_calls GROUP BY vendor, endpoint"
        with self._read() as conn:
            return {(vendor, endpoint): int(n) for vendor, endpoint, n in conn.execute(text(sql))}
