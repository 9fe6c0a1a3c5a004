"""`LeadStore`: the leads table and its satellite tables, on PostgreSQL or SQLite.

One class for callers, assembled from one small part per table family:

* `base.StoreBase`: engine, migrations, transactions, chunked IN-list reads, `read_sql`, bulk inserts;
* `leads_table.LeadsTable`: `leads` (upsert_leads, fetch_leads, read_leads); `lead_queries.LeadQueries`:
  lookups of leads by company, website or qualification;
* `quarantine.Quarantine`, `lead_sources.LeadSources`, `landings.Landings` (raw_landings),
  `search_slices.SearchSlices`, `vendor_calls.VendorCalls`: their tables;
* `crm_progress.CrmProgress`: which qualified leads each CRM has or lacks (read side of crm_sync_state);
* `claims.Claims`: `claimed`, leads held for one purpose by one process.

Every bulk operation is one round trip per batch: PostgreSQL batches are COPYed into a
temporary staging table and merged with a single INSERT ... SELECT ... ON CONFLICT;
SQLite batches are one executemany inside one BEGIN IMMEDIATE transaction. A failing
row fails (and rolls back) its whole batch. The module-level names callers imported from
here before the split (value helpers, merge rules, chunk sizes) still import from here.
"""

from __future__ import annotations

from lead_assets.store.base import PG_CHUNK, SQLITE_CHUNK
from lead_assets.store.claims import Claims
from lead_assets.store.crm_progress import CrmProgress
from lead_assets.store.landings import Landings
from lead_assets.store.lead_queries import LeadQueries
from lead_assets.store.lead_sources import LeadSources
from lead_assets.store.leads_table import KEEP_EXISTING, TAKE_NEW, LeadsTable, UpsertResult
from lead_assets.store.quarantine import record_hash
from lead_assets.store.search_slices import SearchSlices
from lead_assets.store.values import (
    BOOL_COLUMNS,
    INT_COLUMNS,
    TIMESTAMP_COLUMNS,
    clean_text,
    frame_rows,
    normalize_frame,
    row_dict,
    to_utc,
    ts_param,
    utc_now,
)
from lead_assets.store.vendor_calls import VendorCalls

__all__ = [
    "BOOL_COLUMNS",
    "INT_COLUMNS",
    "KEEP_EXISTING",
    "PG_CHUNK",
    "SQLITE_CHUNK",
    "TAKE_NEW",
    "TIMESTAMP_COLUMNS",
    "LeadStore",
    "UpsertResult",
    "clean_text",
    "frame_rows",
    "normalize_frame",
    "record_hash",
    "row_dict",
    "to_utc",
    "ts_param",
    "utc_now",
]


class LeadStore(LeadsTable, LeadQueries, LeadSources, Landings, SearchSlices, VendorCalls, CrmProgress, Claims):
    """The lead database. `url=None` means `settings.default_database_url()`."""
