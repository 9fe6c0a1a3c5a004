"""Persistence: the lead database (PostgreSQL or SQLite), the dedup index and sprint metrics."""

from lead_assets.store.database import apply_migrations, create_store_engine, normalize_url
from lead_assets.store.dedup_index import DedupIndex
from lead_assets.store.lead_store import LeadStore, UpsertResult
from lead_assets.store.metrics import sprint_metrics

__all__ = [
    "DedupIndex",
    "LeadStore",
    "UpsertResult",
    "apply_migrations",
    "create_store_engine",
    "normalize_url",
    "sprint_metrics",
]
