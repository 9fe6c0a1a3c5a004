"""Declarative automation: a scored partition is exported once its blocking check passed; the final report once.

Evaluated with Dagster's own evaluator against an instance holding the events a run would
record (materialisations and check evaluations), so the conditions are tested as the daemon
evaluates them. `test_daemon_e2e.py` runs them for real.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from lead_assets.definitions import defs
from lead_assets.defs.checks import required_fields_check
from lead_assets.defs.leads import scored_leads
from lead_assets.defs.resources import LeadStoreResource, SprintBriefResource
from lead_assets_tests.test_crm_sync import make_leads

SCORED = dg.AssetKey("scored_leads")
EXPORTS = dg.AssetKey("crm_exports")
FINAL = dg.AssetKey("final_report")
P1, P2 = "2026-11-27-00:00|apollo", "2026-11-27-00:00|zoominfo"


@pytest.fixture(scope="module")
def definitions():
    return defs()


@pytest.fixture
def store_resource(tmp_path):
    """A lead store holding one lead in each partition; P2's lead lost its name (a hand edit, an old bug)."""
    resource = LeadStoreResource(database_url=f"sqlite:///{tmp_path / 'leads.db'}")
    store = resource.store()
    leads = make_leads(2)
    store.upsert_leads(leads)
    store.record_sources(pd.DataFrame({"source": ["apollo", "zoominfo"], "vendor_person_id": ["a1", "z1"],
                                       "lead_id": leads["lead_id"], "partition_key": [P1, P2]}))
    set_name(store, P2, None)
    return resource


def set_name(store, partition: str, name: str | None) -> None:
    with store.transaction() as conn:
        conn.exec_driver_sql(
            "UPDATE leads SET full_name = ? WHERE lead_id IN (SELECT lead_id FROM lead_sources WHERE partition_key = ?)",
            (name, partition))


def scored(instance: dg.DagsterInstance, resource: LeadStoreResource, partition: str) -> bool:
    """A real run of `scored_leads` and its blocking check for one partition; whether the check passed."""
    result = dg.materialize([scored_leads, required_fields_check], partition_key=partition, instance=instance,
                            resources={"lead_store": resource, "sprint": SprintBriefResource()}, raise_on_error=False)
    return next(e.passed for e in result.get_asset_check_evaluations() if e.check_name == "required_fields")


def requested(result, key: dg.AssetKey) -> set[str]:
    return {str(k) for k in result.get_requested_partitions(key)} if result.get_num_requested(key) else set()


def test_a_partition_is_exported_only_after_its_blocking_check_passed(definitions, store_resource):
    with dg.instance_for_test() as instance:
        first = dg.evaluate_automation_conditions(defs=definitions, instance=instance,
                                                  asset_selection=dg.AssetSelection.assets(EXPORTS))
        assert first.total_requested == 0  # nothing scored yet

        assert scored(instance, store_resource, P1) is True
        assert scored(instance, store_resource, P2) is False
        result = dg.evaluate_automation_conditions(defs=definitions, instance=instance, cursor=first.cursor,
                                                   asset_selection=dg.AssetSelection.assets(EXPORTS))
        assert requested(result, EXPORTS) == {P1}  # P2 failed its blocking check: held back

        # Requested once: the next tick does not ask again for the same update.
        again = dg.evaluate_automation_conditions(defs=definitions, instance=instance, cursor=result.cursor,
                                                  asset_selection=dg.AssetSelection.assets(EXPORTS))
        assert P1 not in requested(again, EXPORTS)

        # P2 re-scored after its leads were fixed: the check passes and the partition goes out.
        set_name(store_resource.store(), P2, "Pat Person1")
        assert scored(instance, store_resource, P2) is True
        fixed = dg.evaluate_automation_conditions(defs=definitions, instance=instance, cursor=again.cursor,
                                                  asset_selection=dg.AssetSelection.assets(EXPORTS))
        assert requested(fixed, EXPORTS) == {P2}


def test_the_final_report_goes_once_every_partition_is_exported(definitions):
    partitions = definitions.resolve_assets_def(EXPORTS).partitions_def.get_partition_keys()
    selection = dg.AssetSelection.assets(FINAL)
    with dg.instance_for_test() as instance:
        for key in partitions[:-1]:
            instance.report_runless_asset_event(dg.AssetMaterialization(EXPORTS, partition=key))
        waiting = dg.evaluate_automation_conditions(defs=definitions, instance=instance, asset_selection=selection)
        assert waiting.get_num_requested(FINAL) == 0  # one partition still to export

        instance.report_runless_asset_event(dg.AssetMaterialization(EXPORTS, partition=partitions[-1]))
        ready = dg.evaluate_automation_conditions(defs=definitions, instance=instance, cursor=waiting.cursor,
                                                  asset_selection=selection)
        assert ready.get_num_requested(FINAL) == 1

        instance.report_runless_asset_event(dg.AssetMaterialization(FINAL))
        instance.report_runless_asset_event(dg.AssetMaterialization(EXPORTS, partition=partitions[0]))  # a re-export
        after = dg.evaluate_automation_conditions(defs=definitions, instance=instance, cursor=ready.cursor,
                                                  asset_selection=selection)
        assert after.get_num_requested(FINAL) == 0  # sent once: a re-export does not send it again


def test_an_export_also_sends_qualified_leads_whose_partitions_were_all_exported_before(tmp_path):
    """A lead qualified by a partition it has no record in (a list row matched later) is not left behind."""
    from lead_assets.pipeline.partition_work import export_scope

    store = LeadStoreResource(database_url=f"sqlite:///{tmp_path / 'leads.db'}").store()
    leads = make_leads(3)
    store.upsert_leads(leads)
    p3 = "2026-11-27-23:00|sales_navigator"
    store.record_sources(pd.DataFrame({"source": ["apollo", "zoominfo", "sales_navigator"],
                                       "vendor_person_id": ["a1", "z1", "s1"], "lead_id": leads["lead_id"],
                                       "partition_key": [P1, P2, p3]}))
    ids = list(leads["lead_id"])
    # P1 is being exported; P3 was exported before its lead qualified; P2 (held back, say) never was
    assert export_scope(store, "hubspot", [P1], exported={p3}) == [ids[0], ids[2]]
    assert export_scope(store, "hubspot", [P1], exported=set()) == [ids[0]]
