"""The vendor-facing asset: one hour of one source, pulled, landed and stored as it arrives."""

import time

import dagster as dg

from lead_assets.clients.errors import VendorAuthError
from lead_assets.clients.zoominfo import ZoomInfoLimitExceeded
from lead_assets.config.settings import sprint_config
from lead_assets.core.for_people import for_people
from lead_assets.core.titles import TitleMatcher
from lead_assets.defs.keys import sprint_key_prefix
from lead_assets.defs.partitions import VENDOR_RETRY, sprint_partitions
from lead_assets.defs.resources import (
    ApolloResource,
    LeadStoreResource,
    SalesNavigatorImportResource,
    ZoomInfoResource,
)
from lead_assets.pipeline import apollo_collection, sales_navigator_import, zoominfo_collection
from lead_assets.pipeline.partition_work import collection_context

# Vendor sources and the collector that runs one hour of each.
COLLECTORS = {"apollo": apollo_collection.collect_hour, "zoominfo": zoominfo_collection.collect_hour}


@dg.asset(
    key_prefix=sprint_key_prefix(),
    partitions_def=sprint_partitions,
    group_name="collection",
    kinds={"python", "sql"},
    retry_policy=VENDOR_RETRY,
    tags={"lead_sprint/vendor_facing": "true"},
)
def raw_leads(
    context: dg.AssetExecutionContext,
    lead_store: LeadStoreResource,
    apollo: ApolloResource,
    zoominfo: ZoomInfoResource,
    sales_navigator: SalesNavigatorImportResource,
):
    """Raw vendor pull for one hour x source partition.

    Grain: one vendor response per row of `raw_landings` (search pages, paid
    enrichments, imported files; stored verbatim before parsing), plus the people they
    contain, stored into `leads` batch by batch as they arrive (deduped and scored with
    what is known). Apollo and ZoomInfo: the hour's share of the search plan (`pipeline/search_plan.py`)
    plus any slice an earlier hour left unfinished; calls honour the rate windows and
    retry at most 3 times. Sales Navigator: the lead-list files that arrived in the import
    folder (never scraped).
    """
    keys = context.partition_key.keys_by_dimension
    hour_key, source = keys["hour"], keys["source"]
    cfg = sprint_config()
    store = lead_store.store()
    index = lead_store.dedup_index(logger=context.log)
    started = time.monotonic()

    if source == "sales_navigator":
        report = sales_navigator_import.import_hour(
            store, index, TitleMatcher.from_config(cfg), sales_navigator.storage(), hour_key,
            run_id=context.run.run_id, log=context.log,
        )
        row_count = report.files
    else:
        def progress(report) -> None:
            rate = report.batch.records / max(time.monotonic() - started, 1e-6)
            context.log.info(
                f"{source} {hour_key}: {report.slices} slices, {report.people_seen} people seen, "
                f"{report.batch.new_leads} new, {report.already_known} already known, "
                f"{report.batch.quarantined} quarantined, {report.credits:.0f} credits, {rate:.0f} records/s"
            )

        vendor = zoominfo if source == "zoominfo" else apollo
        collector = COLLECTORS[source]
        client = vendor.client(logger=context.log)
        ctx = collection_context(cfg, store, index, client=client,
                                 run_id=context.run.run_id, log=context.log, on_batch=progress, source=source)
        try:
            report = collector(ctx, hour_key)
        except (VendorAuthError, ZoomInfoLimitExceeded) as exc:  # a retry cannot help: stop with the reason
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        row_count = report.pages_fetched + report.pages_replayed

    for err in report.errors:
        context.log.warning(err)
    meta = for_people(report.as_metadata())
    meta.pop("partition_key", None)
    meta["dedup_mode"] = index.stats["mode"]
    meta["dedup_fallbacks"] = index.stats["fallbacks"]
    meta["dedup_degraded_seconds"] = index.stats["degraded_seconds"]
    if source != "sales_navigator":  # Redis outages the vendor's limiter rode out on the host's file
        meta["rate_limit_fallbacks"] = getattr(client.http.limiter, "fallbacks", 0)
    if report.errors:
        meta["error_details"] = dg.MetadataValue.md("\n".join(f"- {e}" for e in report.errors[:50]))
    return dg.MaterializeResult(metadata={"dagster/row_count": row_count, **meta})
