"""`SearchSlices`: the `search_slices` table, the collector's progress through each hour's searches."""

from __future__ import annotations

import json

from sqlalchemy import Connection, text

from lead_assets.store.base import StoreBase, reconnecting
from lead_assets.store.values import row_dict, ts_param, utc_now

SLICE_COLUMNS = (
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


class SearchSlices(StoreBase):
    """Create, update and list search slices."""

    @reconnecting
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
            unknown = set(row) - set(SLICE_COLUMNS) - {"updated_at"}
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

    @reconnecting
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
