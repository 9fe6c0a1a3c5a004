"""`lead-sprint run` through the instance: what it submits on a second try, and what it says when things go wrong."""

from __future__ import annotations

import dagster as dg
import pytest

from lead_assets import cli, sprint_runs
from lead_assets.sprint_runs import Progress

KEYS = [f"2026-11-27-0{h}:00|{s}" for h in range(2) for s in ("apollo", "zoominfo")]


@pytest.fixture
def instance(monkeypatch, tmp_path):
    monkeypatch.setenv("LEADS_DATABASE_URL", f"sqlite:///{tmp_path / 'leads.db'}")
    with dg.instance_for_test() as inst:
        yield inst


def submitted_partitions(instance) -> list[set[str]]:
    out = []
    for backfill in instance.get_backfills():
        subset = backfill.asset_backfill_data.target_subset
        out.append({str(k) for k in subset.get_partitions_subset(dg.AssetKey("scored_leads")).get_partition_keys()})
    return out


def test_a_second_run_submits_only_what_is_missing(instance, monkeypatch, capsys):
    monkeypatch.setattr(sprint_runs, "daemon_problem", lambda inst: None)
    seen = {}

    def follow(inst, backfill_id, keys, store, **kwargs):
        seen["keys"] = list(keys)
        return Progress(total=len(keys), done=len(keys), status="COMPLETED_SUCCESS")

    monkeypatch.setattr(sprint_runs, "follow", follow)
    for key in KEYS[:3]:  # a first run got three partitions done before it was cancelled
        instance.report_runless_asset_event(dg.AssetMaterialization("scored_leads", partition=key))
    code = cli._run_through_instance(instance, KEYS, crm_wait=0, title="test")
    out = capsys.readouterr().out
    assert "3 of 4 partitions are already done: submitting the other 1" in out
    assert submitted_partitions(instance) == [{KEYS[3]}] and seen["keys"] == [KEYS[3]]
    assert code == 0

    instance.report_runless_asset_event(dg.AssetMaterialization("scored_leads", partition=KEYS[3]))
    assert cli._run_through_instance(instance, KEYS, crm_wait=0, title="test") == 0
    assert "all 4 partitions are already done" in capsys.readouterr().out
    assert len(instance.get_backfills()) == 1  # nothing submitted the second time


def test_without_a_daemon_it_says_how_to_start_one(instance):
    assert cli._run_through_instance(instance, KEYS, crm_wait=0, title="test") == 2
    assert instance.get_backfills() == []


@pytest.mark.parametrize("status, failed, expected, code", [
    ("DAEMON_DOWN", [], "the Dagster daemon stopped", 3),
    ("CANCELED", [], "was cancelled: 1/4 partitions done", 1),
    ("COMPLETED_FAILED", [KEYS[1]], "1 partition(s) failed: " + KEYS[1], 1),
    ("COMPLETED_SUCCESS", [], "all 4 partitions done", 0),
])
def test_how_a_backfill_ended_is_explained_with_what_to_do(status, failed, expected, code, capsys):
    done = 4 if status == "COMPLETED_SUCCESS" else 1
    assert cli._explain(Progress(total=4, done=done, failed=failed, status=status), "bf1") == code
    out = capsys.readouterr().out
    assert expected in out
    if code:
        assert "submits only what is missing" in out
