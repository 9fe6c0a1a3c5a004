"""The CRM export: qualified, unsuppressed leads upserted into the configured CRM, exactly once.

`crm_exports` is partitioned like the leads and materialised by declarative automation, not
by a sensor of ours: a partition is exported once its `scored_leads` partition updated, no
upstream run is in progress, and every blocking check of that partition passed. A partition
whose `required_fields` check failed stays unexported until a re-scored partition passes.
"""

from datetime import timedelta

import dagster as dg

from lead_assets.crm.registry import CRMS
from lead_assets.crm.runner import sync_to_crm
from lead_assets.defs.keys import sprint_asset_key, sprint_key_prefix
from lead_assets.defs.leads import scored_leads
from lead_assets.defs.partitions import CRM_POOL, VENDOR_RETRY, sprint_partitions
from lead_assets.defs.resources import CrmResource, LeadStoreResource
from lead_assets.pipeline.partition_work import export_scope, partitions_lead_ids, unexplained_qualified
from lead_assets.store.suppression import suppressed_lead_ids

# eager() without its latest-time-window and missing-deps clauses: a backfill of past hours must
# export every hour it scores, and one hour x source is complete on its own.
EXPORT_WHEN_SCORED_AND_CHECKED = (
    (dg.AutomationCondition.newly_missing() | dg.AutomationCondition.any_deps_updated()).since_last_handled()
    & ~dg.AutomationCondition.any_deps_missing()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
    & dg.AutomationCondition.all_deps_blocking_checks_passed()
).with_label("scored, checked and not yet exported")


@dg.asset(
    key_prefix=sprint_key_prefix(),
    deps=[scored_leads],
    partitions_def=sprint_partitions,
    group_name="export",
    kinds=set(CRMS),
    automation_condition=EXPORT_WHEN_SCORED_AND_CHECKED,
    # Several partitions requested on one tick go out as one run (one CRM session, full batches).
    backfill_policy=dg.BackfillPolicy.single_run(),
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=2)),
    pool=CRM_POOL,
    retry_policy=VENDOR_RETRY,
    tags={"lead_sprint/vendor_facing": "true"},
)
def crm_exports(context: dg.AssetExecutionContext, lead_store: LeadStoreResource, crm: CrmResource):
    """The qualified leads of these hour x source partitions in the CRM (CRM_TARGET), never duplicated.

    Grain: one `crm_sync_state` row per lead and CRM: created, updated, rejected (with the
    reason; fixable ones retried on the next runs, a bounded number of times) or skipped
    (with the reason). A re-run sends only what is new or changed since the last confirmed
    sync; `leads.crm_synced` is set only on the CRM's confirmation. Materialised by automation
    once the partition is scored and its blocking checks passed; the freshness policy flags an
    export more than 2 hours behind.
    """
    store = lead_store.store()
    config = crm.config()
    partitions = list(context.partition_keys)
    if config.target is None:
        context.log.warning("CRM_TARGET is unset: no CRM sync")
        return dg.MaterializeResult(metadata={"crm": "none", "message": "CRM_TARGET is unset: no CRM sync"})
    exported = set(context.instance.get_materialized_partitions(context.asset_key))
    lead_ids = export_scope(store, config.target, partitions, exported)
    report = sync_to_crm(store, config.target, crm.client(config, logger=context.log), config,
                         run_id=context.run.run_id, log=context.log, lead_ids=lead_ids,
                         suppressed=suppressed_lead_ids(store))
    meta = report.as_metadata()
    rejections = meta.pop("rejections")
    problems = meta.pop("mapping_problems")
    numbers = {k: v for k, v in meta.items() if isinstance(v, int | float | str) and not isinstance(v, bool)}
    numbers["partitions"] = len(partitions)
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


@dg.asset_check(asset=crm_exports, partitions_def=sprint_partitions,
                description="Every qualified lead of the partition is in the CRM or has a recorded reason.")
def qualified_leads_accounted_for(context: dg.AssetCheckExecutionContext, lead_store: LeadStoreResource,
                                  crm: CrmResource) -> dg.AssetCheckResult:
    config = crm.config()
    if config.target is None:
        return dg.AssetCheckResult(passed=True, metadata={"crm": "none"})
    store = lead_store.store()
    unexplained = unexplained_qualified(store, config.target, partitions_lead_ids(store, list(context.partition_keys)))
    return dg.AssetCheckResult(passed=unexplained == 0, metadata={"unexplained_qualified_leads": unexplained})


crm_export_job = dg.define_asset_job("crm_export_job", selection=[crm_exports], partitions_def=sprint_partitions)

# Declarative automation for the export and the final report, evaluated by the daemon every 30 s.
lead_sprint_automation = dg.AutomationConditionSensorDefinition(
    "lead_sprint_automation",
    target=dg.AssetSelection.assets(sprint_asset_key("crm_exports"), sprint_asset_key("final_report")),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Exports each scored, checked partition to the CRM and sends the final report once.",
)
