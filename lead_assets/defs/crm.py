"""The CRM export: qualified, unsuppressed leads upserted into HubSpot or Salesforce, exactly once."""

from datetime import timedelta

import dagster as dg

from lead_assets.defs.leads import scored_leads
from lead_assets.defs.partitions import CRM_POOL, VENDOR_RETRY
from lead_assets.defs.resources import CrmResource, LeadStoreResource
from lead_assets.pipeline.crm_sync import sync_to_crm
from lead_assets.store.suppression import suppressed_lead_ids


@dg.asset(
    deps=[scored_leads],
    group_name="export",
    kinds={"hubspot", "salesforce"},
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=2)),
    pool=CRM_POOL,
    retry_policy=VENDOR_RETRY,
    tags={"lead_sprint/vendor_facing": "true"},
)
def crm_exports(context: dg.AssetExecutionContext, lead_store: LeadStoreResource, crm: CrmResource):
    """Every qualified lead in the configured CRM (CRM_TARGET), created or updated, never duplicated.

    Grain: one `crm_sync_state` row per lead and CRM: created, updated, rejected (with the
    reason; fixable ones retried on the next runs, a bounded number of times) or skipped
    (with the reason). A re-run sends only what is new or changed since the last confirmed
    sync; `leads.crm_synced` is set only on the CRM's confirmation. The freshness policy
    flags an export more than 2 hours behind the scored leads.
    """
    store = lead_store.store()
    config = crm.config()
    if config.target is None:
        context.log.warning("CRM_TARGET is unset: no CRM sync")
        return dg.MaterializeResult(metadata={"crm": "none", "message": "CRM_TARGET is unset: no CRM sync"})
    report = sync_to_crm(store, config.target, crm.client(config, logger=context.log), config,
                         run_id=context.run.run_id, log=context.log, suppressed=suppressed_lead_ids(store))
    meta = report.as_metadata()
    rejections = meta.pop("rejections")
    problems = meta.pop("mapping_problems")
    numbers = {k: v for k, v in meta.items() if isinstance(v, int | float | str) and not isinstance(v, bool)}
    if rejections:
        numbers["rejection_sample"] = dg.MetadataValue.json(rejections)
    if problems:
        numbers["mapping_problems"] = dg.MetadataValue.md("\n".join(f"- {p}" for p in problems))
    if not report.ok:
        # An outage is worth the step's retries (nothing confirmed is resent); bad credentials,
        # an invalid mapping or a spent allowance are not: they fail at once, with the numbers.
        raise dg.Failure(description=f"CRM sync {report.status}: {report.message}", metadata=numbers,
                         allow_retries=report.retryable)
    return dg.MaterializeResult(metadata={"dagster/row_count": report.accounted, **numbers})


@dg.asset_check(asset=crm_exports, description="Every qualified lead is in the CRM or has a recorded reason.")
def qualified_leads_accounted_for(lead_store: LeadStoreResource, crm: CrmResource) -> dg.AssetCheckResult:
    config = crm.config()
    if config.target is None:
        return dg.AssetCheckResult(passed=True, metadata={"crm": "none"})
    unexplained = lead_store.store().read_sql(
        "SELECT count(*) AS n FROM leads l LEFT JOIN crm_sync_state s ON s.lead_id = l.lead_id AND s.crm = :crm "
        "WHERE l.is_qualified = :t AND (s.lead_id IS NULL OR s.state = 'pending')",
        {"crm": config.target, "t": True},
    ).iloc[0]["n"]
    return dg.AssetCheckResult(passed=int(unexplained) == 0, metadata={"unexplained_qualified_leads": int(unexplained)})


crm_export_job = dg.define_asset_job("crm_export_job", selection=[crm_exports])


@dg.sensor(job=crm_export_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def crm_export_sensor(context: dg.SensorEvaluationContext):
    """New scored leads (any partition) -> one CRM export run, well inside the 2-hour window."""
    event = context.instance.get_latest_materialization_event(scored_leads.key)
    if event is None:
        return dg.SkipReason("no scored leads yet")
    if context.cursor and int(context.cursor) >= event.storage_id:
        return dg.SkipReason("no new scored leads since the last export")
    context.update_cursor(str(event.storage_id))
    return dg.RunRequest(run_key=f"crm-export-{event.storage_id}")
