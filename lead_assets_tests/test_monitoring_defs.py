"""Monitoring in Dagster: the alert sensor fires once and clears once, observes progress; reports materialise."""

from __future__ import annotations

import json

import dagster as dg
import pytest
import requests

from lead_assets.defs.alerts import latest_run_outcomes, sprint_alerts_sensor, sprint_progress
from lead_assets.defs.collection import collect_leads
from lead_assets.defs.reports import final_report, hourly_report
from lead_assets.defs.resources import LeadStoreResource, NotifierResource
from lead_assets.sandbox import SandboxConfig, start_sandbox
from lead_assets_tests.sandbox_resources import sandbox_resources


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(SandboxConfig(population=1500)) as sb:
        yield sb


def slack_messages(sandbox):
    stats = requests.get(f"{sandbox.base_url}/__sandbox/stats", timeout=5).json()
    return stats["vendors"]["slack"]["messages"]


def resources(tmp_path, sandbox):
    return {
        "lead_store": LeadStoreResource(database_url=f"sqlite:///{tmp_path / 'leads.db'}"),
        "notifier": NotifierResource(slack_bot_token="xoxb-sandbox-token", slack_channel="lead-sprint",
                                     slack_base_url=f"{sandbox.base_url}/slack"),
    }


@dg.op
def failing_op():
    raise RuntimeError("vendor exploded")


@dg.op
def fine_op():
    return 1


def test_run_failure_alert_fires_once_then_clears_once(tmp_path, sandbox):
    requests.post(f"{sandbox.base_url}/__sandbox/reset", json={"config": True}, timeout=5)
    res = resources(tmp_path, sandbox)
    with dg.instance_for_test() as instance:
        bad = dg.GraphDefinition(name="lead_sprint", node_defs=[failing_op]).to_job()
        bad.execute_in_process(instance=instance, raise_on_error=False, tags={"dagster/partition": "p1"})
        assert latest_run_outcomes(instance)[0]["status"] == "FAILURE"

        ctx = dg.build_sensor_context(instance=instance, resources=res)
        sprint_alerts_sensor(ctx)
        fired = [m for m in slack_messages(sandbox) if "lead_sprint" in json.dumps(m)]
        assert len(fired) == 1
        cursor = ctx.cursor

        ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources=res)
        sprint_alerts_sensor(ctx)  # still failing: nothing new
        assert len([m for m in slack_messages(sandbox) if "lead_sprint" in json.dumps(m)]) == 1

        good = dg.GraphDefinition(name="lead_sprint", node_defs=[fine_op]).to_job()
        good.execute_in_process(instance=instance, tags={"dagster/partition": "p1"})
        ctx = dg.build_sensor_context(instance=instance, cursor=ctx.cursor, resources=res)
        sprint_alerts_sensor(ctx)
        assert len([m for m in slack_messages(sandbox) if "lead_sprint" in json.dumps(m)]) == 2
        assert json.loads(ctx.cursor)["active"] == {}


def test_progress_is_observed_once_there_are_leads(tmp_path, sandbox):
    from lead_assets.defs.partitions import sprint_partition_key

    res = resources(tmp_path, sandbox)
    with dg.instance_for_test() as instance:
        empty = sprint_alerts_sensor(dg.build_sensor_context(instance=instance, resources=res))
        assert empty.asset_events == []
        dg.materialize([collect_leads], partition_key=sprint_partition_key("2026-11-27-00:00", "apollo"),
                       instance=instance, resources=sandbox_resources(sandbox.base_url, tmp_path))
        result = sprint_alerts_sensor(dg.build_sensor_context(instance=instance, resources=res))
        (observation,) = result.asset_events
        assert observation.asset_key == sprint_progress.key
        assert observation.metadata["unique"].value > 0
        assert 0 < observation.metadata["progress_pct"].value < 100


def test_reports_materialise_and_post(tmp_path, sandbox, monkeypatch):
    monkeypatch.setenv("LEAD_SPRINT_STORAGE_URL", str(tmp_path))
    requests.post(f"{sandbox.base_url}/__sandbox/reset", json={"config": True}, timeout=5)
    res = resources(tmp_path, sandbox)
    with dg.instance_for_test() as instance:
        result = dg.materialize([hourly_report, final_report], resources=res, instance=instance)
        assert result.success
        meta = {e.asset_key.to_user_string(): e.materialization.metadata
                for e in result.get_asset_materialization_events()}
        assert meta["hourly_report"]["delivered_slack"].value is True
        html = meta["final_report"]["html_report"].value
        assert html.endswith(".html") and "none yet" in open(html).read()  # an empty sprint, no ZeroDivision
        assert len(slack_messages(sandbox)) >= 2
