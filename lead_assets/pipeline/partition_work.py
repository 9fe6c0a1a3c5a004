"""Work per partition that the assets and the CLI share: the partition's leads, its export scope, re-scoring."""

from __future__ import annotations

import pandas as pd

from lead_assets.core.scoring import score_leads


def partition_lead_ids(store, partition_key: str) -> list[str]:
    """Leads a partition's records resolved to (from lead_sources)."""
    return partitions_lead_ids(store, [partition_key])


def partitions_lead_ids(store, partition_keys: list[str]) -> list[str]:
    """Leads the records of any of these partitions resolved to (from lead_sources), each once."""
    sql = "SELECT DISTINCT lead_id FROM lead_sources WHERE partition_key {in_clause}"
    with store._read() as conn:
        rows = store._in_chunks(conn, sql, "pks", list(partition_keys))
        return list(dict.fromkeys(r["lead_id"] for r in rows))


def export_scope(store, crm: str, partition_keys: list[str], exported: set[str]) -> list[str]:
    """The leads an export of `partition_keys` sends: theirs, plus qualified leads no export has sent yet
    whose every source partition is exported (or being exported now).

    A lead can become qualified through a partition it has no record in (a Sales Navigator row matched
    later lands under the list's own partition, which may be exported already): without this sweep it
    would wait for a re-run. A lead of a partition held back by its blocking check stays held back."""
    ids = partitions_lead_ids(store, partition_keys)
    done = exported | set(partition_keys)
    never_sent = store.read_sql(
        "SELECT ls.lead_id, ls.partition_key FROM leads l JOIN lead_sources ls ON ls.lead_id = l.lead_id "
        "WHERE l.is_qualified = :t AND NOT EXISTS "
        "(SELECT 1 FROM crm_sync_state s WHERE s.lead_id = l.lead_id AND s.crm = :crm)",
        {"t": True, "crm": crm})
    if never_sent.empty:
        return ids
    ready = never_sent.groupby("lead_id")["partition_key"].agg(lambda keys: set(keys) <= done)
    return list(dict.fromkeys([*ids, *ready[ready].index.tolist()]))


def unexplained_qualified(store, crm: str, lead_ids: list[str]) -> int:
    """Qualified leads among `lead_ids` with no CRM outcome yet (no sync state, or still pending)."""
    if not lead_ids:
        return 0
    df = store.fetch_leads(lead_ids)
    qualified = set(df.loc[df["is_qualified"].fillna(False).astype(bool), "lead_id"])
    if not qualified:
        return 0
    sql = "SELECT lead_id FROM crm_sync_state WHERE crm = :crm AND state <> 'pending' AND lead_id {in_clause}"
    with store._read() as conn:
        done = {r["lead_id"] for r in store._in_chunks(conn, sql, "ids", sorted(qualified), {"crm": crm})}
    return len(qualified - done)


def rescore_partition(store, partition_key: str) -> pd.DataFrame:
    """Re-score every lead the partition touched with everything now known; returns the scored rows."""
    ids = partition_lead_ids(store, partition_key)
    if not ids:
        return pd.DataFrame(columns=["lead_id", "data_quality_score", "is_qualified"])
    leads = store.fetch_leads(ids)
    scored = score_leads(leads)
    store.upsert_leads(scored[["lead_id", "data_quality_score", "is_qualified"]])
    return scored
