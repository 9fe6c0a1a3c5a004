"""Downstream assets: the store's leads after dedup and after scoring, per partition.

The lead store is the system of record; these assets re-derive and describe it from
the landed raw data (never calling a vendor), so any partition can be rebuilt for free.
"""


from pathlib import Path

import dagster as dg

from lead_assets.config.settings import sprint_config
from lead_assets.core.for_people import for_people
from lead_assets.core.titles import TitleMatcher
from lead_assets.defs.collection import COLLECTORS, raw_leads
from lead_assets.defs.keys import sprint_asset_key, sprint_key_prefix
from lead_assets.defs.partitions import sprint_partitions
from lead_assets.defs.resources import LeadStoreResource
from lead_assets.pipeline import sales_navigator_import
from lead_assets.pipeline.partition_work import collection_context, rescore_partition
from lead_assets.store.metrics import sprint_metrics


@dg.asset(key_prefix=sprint_key_prefix(), partitions_def=sprint_partitions, deps=[raw_leads], group_name="leads",
          kinds={"python", "sql"})
def deduped_leads(context: dg.AssetExecutionContext, lead_store: LeadStoreResource):
    """One row per distinct person among this partition's records (table `leads` + `lead_sources`).

    Grain: one lead per person; every source record that saw them is a `lead_sources`
    row. Rebuilt by replaying the partition's landed vendor responses through normalise,
    dedup (LinkedIn URL, then email, then vendor id) and merge: idempotent, no vendor
    call, so it also repairs a partition whose run died between landing and storing.
    """
    keys = context.partition_key.keys_by_dimension
    hour_key, source = keys["hour"], keys["source"]
    cfg = sprint_config()
    store = lead_store.store()
    index = lead_store.dedup_index(logger=context.log)
    if source == "sales_navigator":
        imported = sales_navigator_import.import_hour(
            store, index, TitleMatcher.from_config(cfg), Path("."), hour_key, replay_only=True, log=context.log
        )
        replayed, missing, quarantined = imported.files, 0, imported.batch.quarantined
    else:
        collector = COLLECTORS[source]
        report = collector(collection_context(cfg, store, index, client=None, log=context.log, source=source),
                           hour_key)
        replayed, missing, quarantined = report.pages_replayed, report.pages_missing, report.batch.quarantined
    counts = store.read_sql(
        "SELECT COUNT(*) AS records, COUNT(DISTINCT lead_id) AS people FROM lead_sources WHERE partition_key = :pk",
        {"pk": context.partition_key},
    ).iloc[0]
    records, people = int(counts["records"]), int(counts["people"])
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": people,
            "records": records,
            "distinct_people": people,
            "in_partition_duplicates": records - people,
            "replayed_landings": replayed,
            "pages_never_fetched": missing,
            "quarantined_on_replay": quarantined,
        }
    )


@dg.asset(key_prefix=sprint_key_prefix(), partitions_def=sprint_partitions, deps=[sprint_asset_key("enriched_leads")],
          group_name="leads",
          kinds={"python", "sql"})
def scored_leads(context: dg.AssetExecutionContext, lead_store: LeadStoreResource):
    """This partition's leads re-scored with everything now known, plus the sprint's running totals.

    Grain: one lead per person (table `leads`): `data_quality_score` 0-100 (required
    fields 30, email 30, company 20, title 10, location 10) and `is_qualified`. The
    metadata carries the partition's numbers and the whole sprint's, plotted over time.
    """
    store = lead_store.store()
    scored = rescore_partition(store, context.partition_key)
    cfg = sprint_config()
    m = sprint_metrics(store)
    n = len(scored)
    meta = {
        "dagster/row_count": n,
        "partition_mean_score": round(float(scored["data_quality_score"].mean()), 2) if n else None,
        "partition_qualified": int(scored["is_qualified"].sum()) if n else 0,
        "sprint_progress_pct": round(100 * m["collected"] / cfg.targets.collected, 2),
    }
    meta.update({f"sprint_{k}": v for k, v in m.items() if isinstance(v, int | float) and v is not None})
    return dg.MaterializeResult(metadata=for_people({k: v for k, v in meta.items() if v is not None}))
