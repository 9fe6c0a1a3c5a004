"""Asset checks for the sprint targets, measured over the whole lead store.

Required fields are blocking (ERROR): a lead without an identity must never flow on.
The soft targets fail as WARN, visible on the asset and in the sensors, without
stopping collection. Every check reports its measured value as metadata.
"""


from collections.abc import Callable

import dagster as dg

from lead_assets.config.settings import sprint_config
from lead_assets.defs.leads import scored_leads
from lead_assets.defs.resources import LeadStoreResource
from lead_assets.store.metrics import sprint_metrics


def _target_check(name: str, metric: str, target: Callable, at_least: bool, description: str, blocking=False):
    @dg.asset_check(asset=scored_leads, name=name, description=description, blocking=blocking)
    def _check(lead_store: LeadStoreResource) -> dg.AssetCheckResult:
        m = sprint_metrics(lead_store.store())
        value, goal = m[metric], target(sprint_config().targets)
        if value is None:
            return dg.AssetCheckResult(passed=True, metadata={"value": "none yet", "target": goal})
        passed = value >= goal if at_least else value < goal
        return dg.AssetCheckResult(
            passed=passed,
            severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
            metadata={"value": float(value), "target": float(goal), "leads": m["unique"]},
        )

    return _check


required_fields_check = _target_check(
    "required_fields", "required_fields_rate", lambda t: 1.0, True,
    "100 % of stored leads carry a name and a LinkedIn URL or email (blocking).", blocking=True,
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
