"""`LeadSources`: the `lead_sources` table, which vendor record became which lead, in which partition."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy import Connection

from lead_assets.store.base import StoreBase, reconnecting
from lead_assets.store.values import frame_rows, normalize_frame, utc_now

_REQUIRED = ["source", "vendor_person_id", "lead_id"]
_COLUMNS = [*_REQUIRED, "partition_key", "match_method", "first_seen_at"]


class LeadSources(StoreBase):
    """Record and read the vendor records behind each lead."""

    @reconnecting
    def record_sources(self, df: pd.DataFrame, *, conn: Connection | None = None) -> int:
        """Record which vendor records became which leads; existing pairs are kept. Returns rows added."""
        missing = [c for c in _REQUIRED if c not in df.columns]
        if missing:
            raise ValueError(f"record_sources needs columns {missing}")
        df = df.copy()
        if "match_method" not in df.columns:
            df["match_method"] = "new"
        df["match_method"] = df["match_method"].fillna("new")
        if "first_seen_at" not in df.columns:
            df["first_seen_at"] = utc_now()
        if "partition_key" not in df.columns:
            df["partition_key"] = None
        rows = frame_rows(df, _COLUMNS, self.dialect)
        with self._write(conn) as c:
            return self._insert_new(c, "lead_sources", _COLUMNS, rows, "source, vendor_person_id")

    def sources_for(self, lead_ids: Sequence[str]) -> pd.DataFrame:
        """The lead_sources rows of `lead_ids`."""
        sql = f"SELECT {', '.join(_COLUMNS)} FROM lead_sources WHERE lead_id {{in_clause}}"
        df = pd.DataFrame(self._read_in_chunks(sql, "ids", list(lead_ids)), columns=_COLUMNS)
        return normalize_frame(df.sort_values(["lead_id", "source", "vendor_person_id"], ignore_index=True))
