"""Collection: one hour of one source, landed, resolved into people and stored as it arrives.

One step makes two assets, because the work cannot honestly be cut in two: a person is resolved
and stored the moment their page lands, so the next page (or a parallel run) never pays for them
again. `raw_leads` is what the vendor said (landed verbatim); `deduped_leads` is who those people
are in the lead store. Which source runs is the partition's; how is the source adapter's
(`lead_assets/sources`).
"""

import time

import dagster as dg

from lead_assets.clients.errors import VendorAuthError
from lead_assets.core.for_people import for_people
from lead_assets.core.titles import TitleMatcher
from lead_assets.defs.keys import sprint_asset_key
from lead_assets.defs.partitions import ENABLED_SOURCES, VENDOR_RETRY, sprint_partitions
from lead_assets.sources import ImportSource, lead_source
from lead_assets.sources.collector import collect_hour, collection_context
from lead_assets.sources.file_imports import ImportContext

RAW_LEADS = sprint_asset_key("raw_leads")
DEDUPED_LEADS = sprint_asset_key("deduped_leads")


def _specs() -> list[dg.AssetSpec]:
    """The two assets' specs (built here: a module-level spec would be loaded as an asset of its own)."""
    raw = dg.AssetSpec(
        RAW_LEADS,
        group_name="collection",
        kinds={"python", "sql"},
        tags={"lead_sprint/vendor_facing": "true"},
        description=(
            "What the vendor said for one hour x source partition, verbatim. Grain: one row of `raw_landings` "
            "per vendor response (search pages, paid purchases, imported files), stored before it is parsed, so "
            "a re-run replays it instead of paying again. Paged vendors (Apollo, ZoomInfo): the hour's share of "
            "the search plan plus any slice an earlier hour left unfinished, within the rate windows, at most 3 "
            "attempts a call. Import sources (Sales Navigator lead lists, CSV exports): the files that arrived "
            "in the import folder (never scraped)."
        ),
    )
    people = dg.AssetSpec(
        DEDUPED_LEADS,
        deps=[RAW_LEADS],
        group_name="leads",
        kinds={"python", "sql"},
        description=(
            "The people this partition's records resolved to (tables `leads` + `lead_sources`). Grain: one "
            "lead per person; every source record that saw them is a `lead_sources` row. Each page is "
            "normalised, resolved (LinkedIn URL, then email, then vendor id), merged and stored as one batch "
            "the moment it lands, with a first score from what is known; records that cannot be a lead go to "
            "`quarantine` with a reason."
        ),
    )
    return [raw, people]


@dg.multi_asset(
    name="collect_leads",
    specs=_specs(),
    partitions_def=sprint_partitions,
    retry_policy=VENDOR_RETRY,
    required_resource_keys={"sprint", "lead_store", *(lead_source(name).resource_key for name in ENABLED_SOURCES)},
)
def collect_leads(context: dg.AssetExecutionContext):
    """Land one hour of one source and store the people it holds (see `raw_leads` and `deduped_leads`)."""
    keys = context.partition_key.keys_by_dimension
    hour_key, source = keys["hour"], lead_source(keys["source"])
    cfg = context.resources.sprint.brief()
    lead_store = context.resources.lead_store
    store, index = lead_store.store(), lead_store.dedup_index(logger=context.log)
    vendor = getattr(context.resources, source.resource_key)
    if isinstance(source, ImportSource):
        ctx = ImportContext(store, index, TitleMatcher.from_config(cfg), vendor.storage(source.name),
                            run_id=context.run.run_id, log=context.log)
        report, client = source.import_hour(ctx, hour_key), None
        landed = {"files": report.files}
    else:
        client = vendor.client(cfg, logger=context.log)
        ctx = collection_context(cfg, store, index, client=client, run_id=context.run.run_id, log=context.log,
                                 on_batch=_progress_logger(context, source.name, hour_key), source=source.name)
        try:
            report = collect_hour(ctx, hour_key)
        except (VendorAuthError, *source.fatal_errors) as exc:  # a retry cannot help: stop with the reason
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        landed = {"pages_fetched": report.pages_fetched, "pages_replayed": report.pages_replayed}
    for err in report.errors:
        context.log.warning(err)
    yield dg.MaterializeResult(asset_key=RAW_LEADS, metadata=_raw_metadata(report, landed, client))
    yield dg.MaterializeResult(asset_key=DEDUPED_LEADS, metadata=_people_metadata(store, index, report,
                                                                                     context.partition_key))


def _progress_logger(context, source: str, hour_key: str):
    started = time.monotonic()

    def progress(report) -> None:
        rate = report.batch.records / max(time.monotonic() - started, 1e-6)
        context.log.info(
            f"{source} {hour_key}: {report.slices} slices, {report.people_seen} people seen, "
            f"{report.batch.new_leads} new, {report.already_known} already known, "
            f"{report.batch.quarantined} quarantined, {report.credits:.0f} credits, {rate:.0f} records/s"
        )

    return progress


def _raw_metadata(report, landed: dict, client) -> dict:
    """What was asked and landed: slices, pages, purchases, credits, calls (everything but the people)."""
    meta = for_people(report.as_metadata())
    for key in ("partition_key", "records", "new_leads", "merged", "quarantined"):
        meta.pop(key, None)
    if client is not None:  # Redis outages the vendor's limiter rode out on the host's file
        meta["rate_limit_fallbacks"] = getattr(client.http.limiter, "fallbacks", 0)
    if report.errors:
        meta["error_details"] = dg.MetadataValue.md("\n".join(f"- {e}" for e in report.errors[:50]))
    return {"dagster/row_count": sum(landed.values()), **landed, **meta}


def _people_metadata(store, index, report, partition_key: str) -> dict:
    """Who the records are: new, merged, quarantined, distinct people in the partition, dedup health."""
    records, people = store.partition_counts(partition_key)
    return {
        "dagster/row_count": people,
        "records": records,
        "distinct_people": people,
        "in_partition_duplicates": records - people,
        "new_leads": report.batch.new_leads,
        "merged": report.batch.merged,
        "quarantined": report.batch.quarantined,
        "dedup_mode": index.stats["mode"],
        "dedup_fallbacks": index.stats["fallbacks"],
        "dedup_degraded_seconds": index.stats["degraded_seconds"],
    }
