"""Raw payload retention: landings past the retention go, the rest (and every lead) stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import text

from lead_assets.pipeline import retention
from lead_assets.pipeline.retention import purge_raw_landings, retention_cutoff
from lead_assets.store.lead_store import ts_param

NOW = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)


def _land(store, key: str, fetched_at: datetime) -> None:
    with store.transaction() as conn:
        conn.execute(
            text("""INSERT INTO raw_landings (source, partition_key, request_kind, request_key, http_status,
                                              payload, fetched_at)
                    VALUES ('apollo', 'p|apollo', 'search_page', :k, 200, '{}', :at)"""),
            {"k": key, "at": ts_param(fetched_at, store.dialect)},
        )


def _keys(store) -> list[str]:
    return sorted(store.read_sql("SELECT request_key FROM raw_landings")["request_key"])


def test_purge_deletes_only_landings_older_than_the_retention(store):
    ages = {"d45": 45, "d31": 31, "d29": 29, "d1": 1, "d0": 0}
    for key, days in ages.items():
        _land(store, key, NOW - timedelta(days=days))
    _land(store, "at_cutoff", NOW - timedelta(days=30))  # exactly the retention: kept
    _land(store, "just_past", NOW - timedelta(days=30, microseconds=1))
    store.upsert_leads(pd.DataFrame({"lead_id": ["L1"], "full_name": ["Ada Lovelace"]}))

    assert purge_raw_landings(store, 30, NOW) == 3
    assert _keys(store) == ["at_cutoff", "d0", "d1", "d29"]
    assert len(store.read_leads()) == 1  # leads are never part of the purge
    assert purge_raw_landings(store, 30, NOW) == 0
    assert purge_raw_landings(store, 1, NOW) == 2  # d29 and at_cutoff
    assert _keys(store) == ["d0", "d1"]


def test_retention_must_be_at_least_a_day(store):
    _land(store, "today", NOW)
    with pytest.raises(ValueError, match="at least 1 day"):
        purge_raw_landings(store, 0, NOW)
    assert _keys(store) == ["today"]


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.delenv("RAW_RETENTION_DAYS", raising=False)
    assert retention.default_retention_days() == 30
    monkeypatch.setenv("RAW_RETENTION_DAYS", "14")
    assert retention.default_retention_days() == 14
    assert retention_cutoff(14, NOW) == NOW - timedelta(days=14)
