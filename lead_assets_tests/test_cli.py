"""The `lead-sprint` command: the demo runs through Dagster, status prints stable keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lead_assets.status import STATUS_KEYS

REPO = Path(__file__).resolve().parents[1]


def _run(args, state_dir: Path, **env):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADS_", "REDIS_URL", "APOLLO_", "DAGSTER"))}
    full_env.update(LEAD_SPRINT_STATE_DIR=str(state_dir), DAGSTER_HOME=str(state_dir / "dagster_home"), **env)
    return subprocess.run([sys.executable, "-m", "lead_assets.cli", *args], cwd=REPO, env=full_env,
                          capture_output=True, text=True, timeout=300)


def test_demo_runs_partitions_through_dagster_then_status_reports_them(tmp_path):
    try:
        demo = _run(["demo", "--hours", "1"], tmp_path)
        assert demo.returncode == 0, demo.stderr[-2000:]
        # an hour of Apollo and of ZoomInfo and the lead-list import, backfilled through a daemon the demo
        # started (and stopped), then exported to the sandbox CRM by automation
        assert "starting a Dagster daemon for the demo" in demo.stdout, demo.stdout[-2000:]
        assert "all 3 partitions done" in demo.stdout, demo.stdout[-3000:]
        assert "crm: 3/3 partitions exported" in demo.stdout, demo.stdout[-3000:]
        assert "the brief's targets:" in demo.stdout
        assert "final report: " in demo.stdout and (tmp_path / "reports" / "final-report.html").exists()
        assert (tmp_path / "leads.db").exists()
        runs = list((tmp_path / "dagster_home").glob("history/runs/*.db"))
        assert runs, "the demo's runs must land in DAGSTER_HOME for the UI"

        status = _run(["status", "--json"], tmp_path)
        assert status.returncode == 0, status.stderr[-2000:]
        data = json.loads(status.stdout)
        assert set(STATUS_KEYS) <= set(data)
        assert data["unique"] > 0 and data["collected"] >= data["unique"]
        assert data["progress_pct"] == round(100 * data["collected"] / data["target_collected"], 2)
        assert data["required_fields_rate"] == 1.0
        assert data["crm"]["target"] is None  # the demo's sandbox CRM is not configured in this shell...
        hubspot = data["crm"]["recorded"]["hubspot"]  # ...but its sync is shown: every qualified lead is in it,
        assert hubspot["created"] + hubspot["updated"] == data["qualified"]  # some updated by a later partition
        assert 0 < data["spend_usd"] < data["budget_usd"]
    finally:
        _run(["sandbox", "stop"], tmp_path)


def test_status_on_an_empty_store_says_none_yet(tmp_path):
    out = _run(["status"], tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "none yet" in out.stdout and "0 / 20,000" in out.stdout
    data = json.loads(_run(["status", "--json"], tmp_path).stdout)
    assert data["avg_quality_score"] is None and data["duplicate_rate"] is None


def test_run_rejects_an_unknown_source(tmp_path):
    out = _run(["run", "--sources", "myspace"], tmp_path)
    assert out.returncode != 0 and "myspace" in out.stderr


def test_an_hour_outside_the_sprint_is_a_clear_message_not_a_traceback(tmp_path):
    for args in (["run", "--start", "2031-01-01-00:00"], ["run", "--start", "yesterday"], ["run", "--hours", "0"]):
        out = _run(args, tmp_path)
        assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr[-2000:]
        assert "--start" in out.stderr or "--hours" in out.stderr
    late = _run(["run", "--start", "2026-11-27-23:00", "--hours", "5", "--in-process", "--sources", "sales_navigator"],
                tmp_path)
    assert "running the 1 hour(s) left, not 5" in late.stdout, late.stdout[-2000:] + late.stderr[-2000:]


def test_version_help_and_dotenv(tmp_path):
    version = _run(["--version"], tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("lead-sprint ")
    helped = _run(["run", "--help"], tmp_path)
    assert "--in-process" in helped.stdout and "--crm-wait" in helped.stdout
    # `.env` in the working folder is read like Dagster's CLIs read it; the environment wins over it
    from lead_assets.cli import load_dotenv_file

    (tmp_path / ".env").write_text("LEAD_SPRINT_TEST_FROM_DOTENV=from-file\nHOME_TEST_KEEP=file\n")
    os.environ["HOME_TEST_KEEP"] = "environment"
    try:
        assert load_dotenv_file(tmp_path / ".env") == tmp_path / ".env"
        assert os.environ["LEAD_SPRINT_TEST_FROM_DOTENV"] == "from-file"
        assert os.environ["HOME_TEST_KEEP"] == "environment"
    finally:
        os.environ.pop("LEAD_SPRINT_TEST_FROM_DOTENV", None)
        os.environ.pop("HOME_TEST_KEEP", None)


def test_every_subcommand_and_option_has_help():
    import argparse

    from lead_assets.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {c.dest: c.help for c in sub._choices_actions}
    for name, command in sub.choices.items():
        assert helps.get(name), f"`lead-sprint {name}` has no help"
        for action in command._actions:
            if action.dest != "help":
                assert action.help, f"`lead-sprint {name} {'/'.join(action.option_strings) or action.dest}` has no help"


def test_every_setting_is_documented():
    from lead_assets.config.environment import SETTINGS

    readme = (REPO / "README.md").read_text()
    example = (REPO / ".env.example").read_text()
    for name in SETTINGS:
        assert f"`{name}`" in readme, f"{name} missing from README's settings table"
        assert name in example, f"{name} missing from .env.example"
