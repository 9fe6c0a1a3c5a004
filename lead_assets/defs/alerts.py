"""Live progress and alerts: a minute-by-minute `sprint_progress` observation and the alert sensor.

Both read only what runs recorded (the lead store, check evaluations, run outcomes);
neither calls a vendor. An alert fires once when its condition starts and once when it
clears: the state lives in the sensor's cursor.
"""

from datetime import UTC, datetime

import dagster as dg

from lead_assets.core.alert_rules import evaluate_alerts, load_alert_rules
from lead_assets.core.for_people import for_people
from lead_assets.defs.checks import SPRINT_TARGET_CHECKS
from lead_assets.defs.keys import sprint_asset_key, sprint_key_prefix
from lead_assets.defs.resources import LeadStoreResource, NotifierResource, SprintBriefResource
from lead_assets.status import sprint_status
from lead_assets.store.metrics import sprint_metrics
from lead_assets.store.window_metrics import window_metrics

sprint_progress = dg.AssetSpec(
    sprint_asset_key("sprint_progress"),
    group_name="monitoring",
    kinds={"sql"},
    description=(
        "The sprint's running numbers (collected, unique, rate per hour, quality, email and company "
        "coverage, spend, cost per qualified lead, error rate), observed every minute by "
        "`sprint_alerts_sensor` so the plots stay under a minute old. Grain: one observation a minute."
    ),
)

# Backfills and automation launch asset runs under the implicit asset job: watch those too.
WATCHED_JOBS = ("lead_sprint", "crm_export_job", "hourly_report_job", "final_report_job", "__ASSET_JOB")


def latest_check_results(instance: dg.DagsterInstance) -> list[dict]:
    """Latest evaluation of every sprint target check, as the alert rules read them.

    A partitioned check (the blocking `required_fields`) reports each partition's latest result,
    so a failing hour stays failing while other hours pass, and clears when it passes itself.
    """
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus as Status

    out = []
    for check in SPRINT_TARGET_CHECKS:
        for key in check.check_keys:
            spec = check.get_spec_for_check_key(key)
            base = {"asset": key.asset_key.to_user_string(), "check": key.name, "blocking": spec.blocking,
                    "description": spec.description}
            if spec.partitions_def is not None:
                for info in instance.event_log_storage.get_asset_check_partition_info([key]):
                    if info.latest_execution_status in (Status.SUCCEEDED, Status.FAILED):
                        out.append({**base, "partition": info.partition_key,
                                    "passed": info.latest_execution_status == Status.SUCCEEDED})
                continue
            record = instance.get_latest_asset_check_evaluation_record(key)
            if record is None or record.event is None or record.status.value == "PLANNED":
                continue
            out.append({**base, "passed": record.status.value == "SUCCEEDED", "partition": record.partition})
    return out


def _this_sprints(run: dg.DagsterRun, prefix: list[str]) -> bool:
    """False for an asset run of another sprint on the same instance (its keys carry its own prefix)."""
    keys = run.asset_selection or ()
    return not (prefix and keys) or any(k.path[: len(prefix)] == prefix for k in keys)


def latest_run_outcomes(instance: dg.DagsterInstance, limit: int = 200) -> list[dict]:
    """Latest finished run per (job, partition): a failure fires, a later success clears."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE],
                              job_name=None),
        limit=limit,
    )
    seen, out, prefix = set(), [], sprint_key_prefix()
    for run in runs:  # newest first
        if run.job_name not in WATCHED_JOBS or not _this_sprints(run, prefix):
            continue
        # One asset run of a partition may collect and another export it: they fail and clear apart.
        what = ",".join(sorted(k.to_user_string() for k in run.asset_selection or ())) or run.job_name
        key = (what, run.tags.get("dagster/partition") or run.tags.get("dagster/asset_partition_range_start"))
        if key in seen:
            continue
        seen.add(key)
        job = run.job_name if run.job_name != "__ASSET_JOB" else what
        out.append({"job": job, "partition": key[1], "status": run.status.value, "run_id": run.run_id})
    return out


def progress_metadata(status: dict, window: dict) -> dict:
    """The numbers the `sprint_progress` plots show (numbers only: the UI plots numeric metadata)."""
    keys = ("collected", "unique", "duplicate_rate", "quarantined", "avg_quality_score", "email_availability",
            "company_completeness", "validation_rate", "qualified", "credits", "error_rate", "rate_per_hour",
            "progress_pct")
    meta = {k: status[k] for k in keys if isinstance(status.get(k), int | float)}
    for k in ("leads_per_hour_in_window", "error_rate_in_window", "spend_usd", "unsynced_qualified"):
        if isinstance(window.get(k), int | float):
            meta[k] = window[k]
    if meta.get("qualified") and isinstance(window.get("spend_usd"), int | float):
        meta["cost_per_qualified_lead"] = window["spend_usd"] / meta["qualified"]
    return for_people(meta)


@dg.sensor(minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def sprint_alerts_sensor(context: dg.SensorEvaluationContext, lead_store: LeadStoreResource,
                         notifier: NotifierResource, sprint: SprintBriefResource):
    """Every minute: observe `sprint_progress`, evaluate every alert rule, send what started or cleared."""
    cfg = sprint.brief()
    store = lead_store.store()
    rules = load_alert_rules(cfg)
    now = datetime.now(UTC)
    metrics = sprint_metrics(store)
    window = window_metrics(store, now, cfg=cfg, rules=rules)
    decision = evaluate_alerts(metrics, window, context.cursor, rules,
                               checks=latest_check_results(context.instance),
                               runs=latest_run_outcomes(context.instance), now=now)
    if decision.alerts:
        notifier.notifier(logger=context.log).send_alerts(decision.alerts)
        for alert in decision.alerts:
            context.log.info(alert.headline)
    context.update_cursor(decision.cursor())
    events = []
    if metrics["unique"]:
        meta = progress_metadata(sprint_status(store, cfg, now=now), window)
        events.append(dg.AssetObservation(asset_key=sprint_progress.key, metadata=meta))
    return dg.SensorResult(asset_events=events)
