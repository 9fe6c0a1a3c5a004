"""The sprint job and the hourly schedule that runs each hour's partitions."""


import dagster as dg

from lead_assets.defs.collection import collect_leads
from lead_assets.defs.enrichment import enriched_leads
from lead_assets.defs.leads import scored_leads
from lead_assets.defs.partitions import (
    ENABLED_SOURCES,
    hour_partitions,
    sprint_partition_key,
    sprint_partitions,
)

sprint_job = dg.define_asset_job(
    "lead_sprint",
    selection=dg.AssetSelection.assets(collect_leads, enriched_leads, scored_leads),
    partitions_def=sprint_partitions,
    description="Collect, dedupe, enrich and score one hour x source partition of the sprint.",
)


@dg.schedule(job=sprint_job, cron_schedule="5 * * * *", execution_timezone="UTC")
def hourly_sprint_schedule(context: dg.ScheduleEvaluationContext):
    """At five past each hour of the sprint, run that hour for every enabled source."""
    hour_key = context.scheduled_execution_time.strftime("%Y-%m-%d-%H:00")
    if hour_key not in hour_partitions.get_partition_keys():
        return dg.SkipReason(f"{hour_key} is outside the sprint window")
    return [
        dg.RunRequest(run_key=f"{hour_key}|{source}", partition_key=sprint_partition_key(hour_key, source))
        for source in ENABLED_SOURCES
    ]

