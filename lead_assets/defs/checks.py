"""Asset checks on `scored_leads`: one blocking gate per partition, the sprint targets over the store.

`required_fields` is partitioned and blocking (ERROR): it reads the leads of the partition it
checks, and a partition that fails it is not exported to the CRM (`crm_exports`' automation
condition waits for `all_deps_blocking_checks_passed`) until a re-scored partition passes.
The soft targets are whole-sprint figures that fail as WARN, visible on the asset and in the
sensors, without stopping anything; one step computes the sprint's metrics once and answers all
six. Every check reports its measured value as metadata.
"""


from collections.abc import Callable

import dagster as dg

from lead_assets.core.for_people import for_people
from lead_assets.defs.leads import scored_leads
from lead_assets.defs.partitions import sprint_partitions
from lead_assets.defs.resources import LeadStoreResource, SprintBriefResource
from lead_assets.store.metrics import partition_required_fields, sprint_metrics

# name, metric of `sprint_metrics`, its target in the brief, at least (True) or below (False), description
SPRINT_TARGETS: tuple[tuple[str, str, Callable, bool, str], ...] = (
    ("cost_per_qualified_lead", "cost_per_qualified_lead", lambda t: t.max_cost_per_qualified_lead, False,
     "Spend per qualified lead below the target (every paid call, from the cost ledger)."),
    ("average_quality", "avg_quality_score", lambda t: t.avg_quality_score, True, "Average quality score >= target."),
    ("email_availability", "email_availability", lambda t: t.email_availability, True,
     "Share of leads with a usable email >= target."),
    ("company_completeness", "company_completeness", lambda t: t.company_completeness, True,
     "Share of leads with website, industry and size >= target."),
    ("duplicate_rate", "duplicate_rate", lambda t: t.max_duplicate_rate, False,
     "Cross-source duplicate rate below the target."),
    ("validation_rate", "validation_rate", lambda t: t.validation_rate, True,
     "Share of leads whose required fields are all valid >= target."),
)


@dg.multi_asset_check(
    specs=[dg.AssetCheckSpec(name, asset=scored_leads, description=description)
           for name, _, _, _, description in SPRINT_TARGETS],
    name="sprint_targets",
)
def sprint_target_checks(lead_store: LeadStoreResource, sprint: SprintBriefResource):
    """The brief's whole-sprint targets, from one read of the store's metrics per run (WARN when missed)."""
    m = sprint_metrics(lead_store.store())
    targets = sprint.brief().targets
    for name, metric, target, at_least, _ in SPRINT_TARGETS:
        value, goal = m[metric], target(targets)
        if value is None:
            yield dg.AssetCheckResult(check_name=name, asset_key=scored_leads.key, passed=True,
                                      metadata={"value": "none yet", "target": goal})
            continue
        shown = for_people({metric: float(value), f"target_{metric}": float(goal)})
        yield dg.AssetCheckResult(
            check_name=name, asset_key=scored_leads.key,
            passed=bool(value >= goal if at_least else value < goal), severity=dg.AssetCheckSeverity.WARN,
            metadata={"value": float(value), "target": float(goal), **shown, "leads": m["unique"]},
        )


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


SPRINT_TARGET_CHECKS = [required_fields_check, sprint_target_checks]
