"""Asset checks on `scored_leads`: one blocking gate per partition, the sprint targets over the store.

`required_fields` is partitioned and blocking (ERROR): it reads the leads of the partition it
checks, and a partition that fails it is not exported to the CRM (`crm_exports`' automation
condition waits for `all_deps_blocking_checks_passed`) until a re-scored partition passes.
The soft targets are whole-sprint figures that fail as WARN, visible on the asset and in the
sensors, without stopping anything. Every check reports its measured value as metadata.
"""


from collections.abc import Callable

import dagster as dg

from lead_assets.core.for_people import for_people
from lead_assets.defs.leads import scored_leads
from lead_assets.defs.partitions import sprint_partitions
from lead_assets.defs.resources import LeadStoreResource, SprintBriefResource
from lead_assets.store.metrics import partition_required_fields, sprint_metrics


def _target_check(name: str, metric: str, target: Callable, at_least: bool, description: str, blocking=False):
    @dg.asset_check(asset=scored_leads, name=name, description=description, blocking=blocking)
    def _check(lead_store: LeadStoreResource, sprint: SprintBriefResource) -> dg.AssetCheckResult:
        m = sprint_metrics(lead_store.store())
        value, goal = m[metric], target(sprint.brief().targets)
        if value is None:
            return dg.AssetCheckResult(passed=True, metadata={"value": "none yet", "target": goal})
        passed = value >= goal if at_least else value < goal
        shown = for_people({metric: float(value), f"target_{metric}": float(goal)})
        return dg.AssetCheckResult(
            passed=passed,
            severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
            metadata={"value": float(value), "target": float(goal), **shown, "leads": m["unique"]},
        )

    return _check


@dg.asset_check(asset=scored_leads, name="required_fields", blocking=True, partitions_def=sprint_partitions,
                description="Every lead of the partition carries a name and a LinkedIn URL or email (blocking: "
                            "a failing partition is not exported to the CRM).")
def required_fields_check(context: dg.AssetCheckExecutionContext, lead_store: LeadStoreResource) -> dg.AssetCheckResult:
    m = partition_required_fields(lead_store.store(), list(context.partition_keys))
    return dg.AssetCheckResult(
        passed=m["missing_identity"] == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"leads": m["leads"], "missing_identity": m["missing_identity"],
                  "required_fields_pct": round(100 * m["required_fields_rate"], 2)
                  if m["required_fields_rate"] is not None else "no leads"},
    )

avg_quality_check = _target_check(
    "average_quality", "avg_quality_score", lambda t: t.avg_quality_score, True, "Average quality score >= target."
)
email_availability_check = _target_check(
    "email_availability", "email_availability", lambda t: t.email_availability, True,
    "Share of leads with a usable email >= target.",
)
company_completeness_check = _target_check(
    "company_completeness", "company_completeness", lambda t: t.company_completeness, True,
    "Share of leads with website, industry and size >= target.",
)
duplicate_rate_check = _target_check(
    "duplicate_rate", "duplicate_rate", lambda t: t.max_duplicate_rate, False,
    "Cross-source duplicate rate below the target.",
)
validation_rate_check = _target_check(
    "validation_rate", "validation_rate", lambda t: t.validation_rate, True,
    "Share of leads whose required fields are all valid >= target.",
)

cost_per_qualified_lead_check = _target_check(
    "cost_per_qualified_lead", "cost_per_qualified_lead", lambda t: t.max_cost_per_qualified_lead, False,
    "Spend per qualified lead below the target (every paid call, from the cost ledger).",
)

SPRINT_TARGET_CHECKS = [
    cost_per_qualified_lead_check,
    required_fields_check,
    avg_quality_check,
    email_availability_check,
    company_completeness_check,
    duplicate_rate_check,
    validation_rate_check,
]
