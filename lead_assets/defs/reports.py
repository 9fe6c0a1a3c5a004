"""Reports: the hourly one (a schedule) and the final one (by automation, once every partition is exported)."""

import os
from datetime import UTC, datetime

import dagster as dg

from lead_assets.defs.keys import sprint_asset_key, sprint_key_prefix
from lead_assets.defs.resources import LeadStoreResource, NotifierResource, SprintBriefResource
from lead_assets.reports.render import render_final, render_hourly
from lead_assets.store.files import FileStorage, sprint_storage


def reports_storage() -> FileStorage:
    """`reports/` in the sprint's storage (`.lead_sprint/reports` by default; see store/files.py)."""
    return sprint_storage().child("reports")


def _delivery(results: dict) -> dict:
    flat = {}
    for channel, result in (results or {}).items():
        items = result if isinstance(result, list) else [result]
        flat[f"delivered_{channel}"] = all(getattr(r, "ok", False) for r in items)
    return flat


@dg.asset(key_prefix=sprint_key_prefix(), group_name="monitoring", kinds={"python", "slack"})
def hourly_report(context: dg.AssetExecutionContext, lead_store: LeadStoreResource, notifier: NotifierResource,
                  sprint: SprintBriefResource):
    """The hourly report: progress, rate, errors by vendor, quality, spend and projected finish.

    Grain: one report per materialisation (Markdown + progress chart under
    `reports/hourly/` of the sprint's storage), posted to Slack/email when configured, else logged.
    """
    now = datetime.now(UTC)
    report = render_hourly(lead_store.store(), sprint.brief(), now)
    storage = reports_storage().child("hourly")
    stem = now.strftime("%Y-%m-%dT%H%M")
    md_location = storage.put(f"{stem}.md", report.text.encode())
    storage.put(f"{stem}.png", report.png)
    delivered = report.send(notifier.notifier(logger=context.log))
    return dg.MaterializeResult(metadata={
        "report": dg.MetadataValue.md(report.text),
        "path": dg.MetadataValue.path(md_location),
        **_delivery(delivered),
    })


# Once, when the last partition of the sprint is exported: `missing()` is false for ever after the
# report's first materialisation, so re-exports never send it again (a click in the UI does).
SEND_ONCE_WHEN_EVERYTHING_EXPORTED = (
    dg.AutomationCondition.missing()
    & ~dg.AutomationCondition.any_deps_missing()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("every partition exported, report not sent yet")


@dg.asset(key_prefix=sprint_key_prefix(), group_name="monitoring", kinds={"python", "html"},
          deps=[sprint_asset_key("crm_exports")],
          automation_condition=SEND_ONCE_WHEN_EVERYTHING_EXPORTED)
def final_report(context: dg.AssetExecutionContext, lead_store: LeadStoreResource, notifier: NotifierResource,
                 sprint: SprintBriefResource):
    """The sprint's final report: every target, coverage, CRM outcome, cost by source, recommendations.

    Sent once by automation when every hour x source partition is exported (or on a click). Grain: one self-contained HTML file (charts embedded) and its Markdown twin under
    `reports/` of the sprint's storage, posted to Slack/email when configured.
    """
    storage = reports_storage()
    with storage.staging() as folder:  # rendered here, stored (uploaded) when complete
        report = render_final(lead_store.store(), sprint.brief(), folder)
        delivered = report.send(notifier.notifier(logger=context.log))  # attaches the staged HTML
    numbers = {k: v for k, v in report.summary.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    return dg.MaterializeResult(metadata={
        "html_report": dg.MetadataValue.path(storage.location(report.html_path.name)),
        "markdown_report": dg.MetadataValue.path(storage.location(report.md_path.name)),
        "recommendations": dg.MetadataValue.md("\n".join(f"- {r.text}" for r in report.recommendations) or "none"),
        **numbers,
        **_delivery(delivered),
    })


hourly_report_job = dg.define_asset_job("hourly_report_job", selection=[hourly_report])
final_report_job = dg.define_asset_job("final_report_job", selection=[final_report])

hourly_report_schedule = dg.ScheduleDefinition(
    name="hourly_report_schedule", job=hourly_report_job, execution_timezone="UTC",
    cron_schedule=os.environ.get("LEAD_SPRINT_HOURLY_REPORT_CRON") or "10 * * * *",
    description="Ten past each hour: the hourly report to Slack/email (switch on for the sprint).",
)
