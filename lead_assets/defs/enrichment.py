"""The waterfall enrichment asset: fill missing emails and company data, paying each provider once."""

import dagster as dg

from lead_assets.core.enrichment_config import load_enrichment_config
from lead_assets.core.for_people import for_people
from lead_assets.defs.collection import DEDUPED_LEADS
from lead_assets.defs.keys import sprint_key_prefix
from lead_assets.defs.partitions import VENDOR_RETRY, sprint_partitions
from lead_assets.defs.resources import EnrichmentResource, LeadStoreResource
from lead_assets.pipeline.enrichment import enrich_leads
from lead_assets.pipeline.partition_work import partition_lead_ids


def _metadata_value(value):
    if isinstance(value, bool) or value is None or isinstance(value, int | float | str):
        return value
    return dg.MetadataValue.json(value)


@dg.asset(key_prefix=sprint_key_prefix(), partitions_def=sprint_partitions, deps=[DEDUPED_LEADS], group_name="leads", kinds={"python", "sql"},
          retry_policy=VENDOR_RETRY,
          tags={"lead_sprint/vendor_facing": "true"})
def enriched_leads(context: dg.AssetExecutionContext, lead_store: LeadStoreResource, enrichment: EnrichmentResource):
    """This partition's leads with missing emails and company data filled through the waterfall.

    Grain: one lead per person (table `leads`), plus one `enrichment_ledger` row per
    (person, provider, field) looked up, one `field_provenance` row per filled field and one
    `cost_ledger` row per paid call. Providers are tried in the configured order per field,
    stopping at the first confident answer; found emails are verified before they count.
    A lookup answered within the ledger's time-to-live (found or not) is never bought again,
    and paid calls stop before the budget would be exceeded.
    """
    store = lead_store.store()
    config = load_enrichment_config()
    clients = enrichment.clients(config, logger=context.log)
    if not clients:
        context.log.warning("no enrichment provider configured (HUNTER_API_KEY, NEVERBOUNCE_API_KEY, "
                            "CLEARBIT_API_KEY): leads stay as collected")
    report = enrich_leads(store, partition_lead_ids(store, context.partition_key), clients, config,
                          run_id=context.run.run_id, partition_key=context.partition_key, log=context.log)
    if report.budget_stopped:
        context.log.error(report.budget_message)
    meta = {k: _metadata_value(v) for k, v in for_people(report.as_metadata()).items() if v is not None}
    return dg.MaterializeResult(metadata={"dagster/row_count": report.leads, **meta})
