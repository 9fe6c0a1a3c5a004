"""The Dagster layer: definitions load, a partition materialises with its checks, the schedule fans out."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from lead_assets.defs.checks import SPRINT_TARGET_CHECKS
from lead_assets.defs.collection import DEDUPED_LEADS, RAW_LEADS, collect_leads
from lead_assets.defs.crm import crm_exports, qualified_leads_accounted_for
from lead_assets.defs.enrichment import enriched_leads
from lead_assets.defs.jobs import hourly_sprint_schedule, sprint_job
from lead_assets.defs.leads import scored_leads
from lead_assets.defs.partitions import ENABLED_SOURCES, sprint_partition_key, sprint_partitions
from lead_assets.defs.resources import ApolloResource, CrmResource
from lead_assets.sandbox import SandboxConfig, start_sandbox
from lead_assets_tests.sandbox_resources import sandbox_resources


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(SandboxConfig(population=1500)) as sb:
        yield sb


def test_definitions_load_with_every_asset_check_job_and_schedule():
    from lead_assets.definitions import defs

    d = defs()
    keys = {k.to_user_string() for k in d.resolve_all_asset_keys()}
    assert {"raw_leads", "deduped_leads", "enriched_leads", "scored_leads", "crm_exports", "sprint_progress",
            "hourly_report", "final_report", "lead_store_backup"} <= keys
    checks = {k.name for k in d.resolve_asset_graph().asset_check_keys}
    assert checks == {"required_fields", "average_quality", "email_availability", "company_completeness",
                      "duplicate_rate", "validation_rate", "cost_per_qualified_lead", "qualified_leads_accounted_for"}
    assert d.resolve_job_def("lead_sprint").partitions_def == sprint_partitions
    assert d.resolve_schedule_def("hourly_sprint_schedule") and d.resolve_schedule_def("hourly_report_schedule")
    for sensor in ("sales_navigator_files_sensor", "sprint_alerts_sensor", "lead_sprint_automation"):
        assert d.resolve_sensor_def(sensor)
    for asset in (collect_leads, enriched_leads, scored_leads, crm_exports):
        for key in asset.keys:
            assert asset.descriptions_by_key.get(key), f"{key} needs a docstring for the UI"


def test_partition_keys_are_hour_then_source():
    keys = sprint_partitions.get_partition_keys()
    assert len(keys) == 24 * len(ENABLED_SOURCES)
    assert keys[0] == "2026-11-27-00:00|apollo"


def test_materialising_a_partition_stores_leads_and_runs_the_checks(sandbox, tmp_path):
    resources = sandbox_resources(sandbox.base_url, tmp_path)
    _crm_setup(resources["crm"])
    with dg.instance_for_test() as instance:
        key = sprint_partition_key("2026-11-27-00:00", "apollo")
        result = dg.materialize(
            [collect_leads, enriched_leads, scored_leads, crm_exports, *SPRINT_TARGET_CHECKS,
             qualified_leads_accounted_for],
            partition_key=key, resources=resources, instance=instance,
        )
        assert result.success
        mats = {e.asset_key.to_user_string(): e.materialization.metadata
                for e in result.get_asset_materialization_events()}
        raw, people = mats["raw_leads"], mats["deduped_leads"]
        assert people["new_leads"].value > 0 and raw["credits"].value == raw["bought"].value
        assert raw["errors"].value == 0 and raw["slices_failed"].value == 0
        assert people["distinct_people"].value == people["new_leads"].value + people["merged"].value - \
            people["in_partition_duplicates"].value
        assert mats["scored_leads"]["sprint_unique"].value == mats["scored_leads"]["dagster/row_count"].value
        evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
        assert evaluations["required_fields"].passed
        assert evaluations["average_quality"].metadata["value"].value >= 75
        assert evaluations["cost_per_qualified_lead"].passed
        enriched = mats["enriched_leads"]
        assert enriched["spend_usd"].value > 0 and enriched["errors"].value == 0
        # the CRM holds every qualified lead, or says why not
        assert evaluations["qualified_leads_accounted_for"].passed
        crm = mats["crm_exports"]
        assert crm["created"].value == mats["scored_leads"]["sprint_qualified"].value
        spend_after_first = mats["scored_leads"]["sprint_spend_usd"].value

        # Re-materialising the partition adds nothing and buys nothing.
        again = dg.materialize([collect_leads, enriched_leads, scored_leads], partition_key=key,
                               resources=resources, instance=instance)
        mats2 = {e.asset_key: e.materialization.metadata for e in again.get_asset_materialization_events()}
        raw2 = mats2[RAW_LEADS]
        assert mats2[DEDUPED_LEADS]["new_leads"].value == 0 and raw2["credits"].value == 0
        assert raw2["pages_replayed"].value == raw["pages_fetched"].value
        scored2 = [e.materialization for e in again.get_asset_materialization_events()
                   if e.asset_key == scored_leads.key][0].metadata
        assert scored2["sprint_spend_usd"].value == spend_after_first  # a re-run costs $0.00 more


def test_wrong_api_key_fails_the_run_without_retrying(sandbox, tmp_path):
    resources = sandbox_resources(
        sandbox.base_url, tmp_path,
        apollo=ApolloResource(base_url=f"{sandbox.base_url}/apollo", api_key="wrong"),
    )
    with dg.instance_for_test() as instance:
        result = dg.materialize([collect_leads], partition_key=sprint_partition_key("2026-11-27-00:00", "apollo"),
                                resources=resources, instance=instance, raise_on_error=False)
        assert not result.success
        failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
        assert "APOLLO_API_KEY" in failure.step_failure_data.error.message
        assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]


def test_schedule_requests_each_enabled_source_for_its_hour():
    ctx = dg.build_schedule_context(scheduled_execution_time=dt.datetime(2026, 11, 27, 5, 5, tzinfo=dt.UTC))
    requests = list(hourly_sprint_schedule(ctx))
    assert [r.partition_key for r in requests] == [f"2026-11-27-05:00|{s}" for s in ENABLED_SOURCES]
    assert requests[0].run_key == "2026-11-27-05:00|apollo"
    outside = dg.build_schedule_context(scheduled_execution_time=dt.datetime(2026, 12, 1, 5, 5, tzinfo=dt.UTC))
    assert isinstance(hourly_sprint_schedule(outside), dg.SkipReason)
    assert sprint_job.name == "lead_sprint"



def _crm_setup(crm: CrmResource) -> None:
    from lead_assets.crm.setup import crm_setup

    config = crm.config()
    crm_setup(config.target, crm.client(config), config)


def test_zoominfo_partition_joins_people_apollo_already_has(sandbox, tmp_path):
    resources = sandbox_resources(sandbox.base_url, tmp_path)
    with dg.instance_for_test() as instance:
        for source in ("apollo", "zoominfo"):
            result = dg.materialize([collect_leads], partition_key=sprint_partition_key("2026-11-27-00:00", source),
                                    resources=resources, instance=instance)
            assert result.success
        meta = result.get_asset_materialization_events()[0].materialization.metadata
        assert meta["errors"].value == 0 and meta["bought"].value > 0
    store = resources["lead_store"].store()
    both = store.read_sql("SELECT lead_id FROM lead_sources GROUP BY lead_id HAVING COUNT(DISTINCT source) = 2")
    assert len(both) > 0  # one person seen by both vendors is one lead with two sources
    spend = store.read_sql("SELECT vendor, SUM(cost_usd) AS usd FROM cost_ledger GROUP BY vendor")
    assert set(spend["vendor"]) == {"apollo", "zoominfo"}


def test_crm_export_holds_a_pool_of_one_and_runs_execute_in_process():
    """CRM exports run one at a time across runs (see dagster.yaml); enrichment holds leads instead."""
    from pathlib import Path

    import yaml

    from lead_assets.definitions import defs
    from lead_assets.defs.partitions import CRM_POOL

    assert crm_exports.op.pool == CRM_POOL
    # collection is capped per source by run tags; enrichment holds its leads (LeadStore.claimed)
    assert collect_leads.op.pool is None and enriched_leads.op.pool is None
    d = defs()
    for job in ("lead_sprint", "crm_export_job"):
        assert d.resolve_job_def(job).executor_def.name == "in_process"
    root = Path(__file__).resolve().parents[1]
    for instance_yaml in (root / "dagster.yaml", root / "lead_assets" / "config" / "dagster_local.yaml"):
        assert yaml.safe_load(instance_yaml.read_text())["concurrency"]["pools"]["default_limit"] == 1
