"""`LeadSources`: the `lead_sources` table, which vendor record became which lead, in which partition."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import pandas as pd
from sqlalchemy import Connection, text

from lead_assets.store.base import StoreBase, reconnecting
from lead_assets.store.values import frame_rows, normalize_frame, utc_now

_REQUIRED = ["source", "vendor_person_id", "lead_id"]
_COLUMNS = [*_REQUIRED, "partition_key", "match_method", "first_seen_at"]
# The tables holding (source, vendor_person_id) of records already paid for.
_VENDOR_ID_TABLES = frozenset({"lead_sources", "quarantine"})


class PartitionCounts(NamedTuple):
    """A partition's vendor records and the distinct leads (people) they became."""

    records: int
    people: int


class SourceCounts(NamedTuple):
    """A source's vendor records, its distinct vendor ids and the distinct leads they became."""

    records: int
    vendor_ids: int
    leads: int


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

    @reconnecting
    def partition_counts(self, partition_key: str) -> PartitionCounts:
        """How many vendor records `partition_key` stored and how many distinct leads they became."""
        sql = "SELECT COUNT(*) AS records, COUNT(DISTINCT lead_id) AS people FROM lead_sources WHERE partition_key = :pk"
        with self._read() as conn:
            row = conn.execute(text(sql), {"pk": partition_key}).one()
        return PartitionCounts(int(row.records), int(row.people))

    @reconnecting
    def source_counts(self, source: str) -> SourceCounts:
        """How many vendor records of `source` are stored, for how many distinct vendor ids and leads."""
        sql = ("SELECT COUNT(*) AS records, COUNT(DISTINCT vendor_person_id) AS vendor_ids, "
               "COUNT(DISTINCT lead_id) AS leads FROM lead_sources WHERE source = :source")
        with self._read() as conn:
            row = conn.execute(text(sql), {"source": source}).one()
        return SourceCounts(int(row.records), int(row.vendor_ids), int(row.leads))

    @reconnecting
    def lead_ids_for_partitions(self, partition_keys: Sequence[str]) -> list[str]:
        """The leads the records of any of `partition_keys` resolved to, each once."""
        sql = "SELECT DISTINCT lead_id FROM lead_sources WHERE partition_key {in_clause}"
        return list(dict.fromkeys(r["lead_id"] for r in self._read_in_chunks(sql, "pks", list(partition_keys))))

    @reconnecting
    def known_vendor_ids(self, table: str, source: str, ids: Sequence[str]) -> set[str]:
        """The vendor ids among `ids` with a row of `source` in `table` (any partition).

        `table` is `lead_sources` (became a lead) or `quarantine` (bought, could not become one).
        """
        if table not in _VENDOR_ID_TABLES:
            raise ValueError(f"known_vendor_ids reads {sorted(_VENDOR_ID_TABLES)}, not {table!r}")
        if not ids:
            return set()
        sql = f"SELECT DISTINCT vendor_person_id FROM {table} WHERE source = :source AND vendor_person_id {{in_clause}}"
        return {str(r["vendor_person_id"]) for r in self._read_in_chunks(sql, "ids", list(ids), {"source": source})}
