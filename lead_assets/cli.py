"""`lead-sprint`: run the sprint from a terminal (demo, run, status) through Dagster.

Runs execute in-process against the Dagster instance in `DAGSTER_HOME`, so they show up
in the UI (`make dev`) exactly like runs launched there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from lead_assets.config.settings import STATE_DIR
from lead_assets.forecast_cli import add_forecast_commands
from lead_assets.maintenance_cli import add_maintenance_commands
from lead_assets.privacy_cli import add_privacy_commands

DEMO_DAGSTER_HOME = STATE_DIR / "dagster_home"
LOCAL_INSTANCE_YAML = Path(__file__).resolve().parent / "config" / "dagster_local.yaml"


# The terminal gets one line per partition; the full event log is in the UI.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _ensure_dagster_home() -> Path:
    """Use DAGSTER_HOME, or the repo-local one the demo and `make dev` share (SQLite storage)."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(DEMO_DAGSTER_HOME)))
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists():
        target.write_text(LOCAL_INSTANCE_YAML.read_text())
    return home


def _load_definitions():
    from lead_assets.definitions import defs

    return defs()


def run_partitions(hours: list[str], sources: list[str], *, log=print) -> list[tuple[str, bool, float]]:
    """Execute the sprint job for each hour x source, in order; returns (partition, success, seconds)."""
    import dagster as dg

    from lead_assets.defs.partitions import sprint_partition_key

    _ensure_dagster_home()
    definitions = _load_definitions()
    job = definitions.resolve_job_def("lead_sprint")
    results = []
    with dg.DagsterInstance.get() as instance:
        for hour in hours:
            for source in sources:
                started = time.monotonic()
                key = sprint_partition_key(hour, source)
                result = job.execute_in_process(
                    partition_key=key, instance=instance, raise_on_error=False, run_config=QUIET
                )
                seconds = time.monotonic() - started
                results.append((str(key), result.success, seconds))
                log(f"  {key}: {'ok' if result.success else 'FAILED'} in {seconds:.1f}s")
    return results


def run_final_report() -> str | None:
    """Materialise `final_report` through Dagster (so the UI has it); returns the HTML path."""
    import dagster as dg

    _ensure_dagster_home()
    job = _load_definitions().resolve_job_def("final_report_job")
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False, run_config=QUIET)
    if not result.success:
        return None
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    return meta["html_report"].value


def _hours(start: str | None, count: int) -> list[str]:
    from lead_assets.config.settings import sprint_config
    from lead_assets.pipeline.search_plan import hour_keys

    cfg = sprint_config()
    keys = hour_keys(cfg.start, cfg.hours)
    first = keys.index(start) if start else 0
    if start and start not in keys:
        raise SystemExit(f"--start {start} is not an hour of the sprint ({keys[0]} .. {keys[-1]})")
    return keys[first : first + count]


def _print_status(as_json: bool) -> None:
    from lead_assets.config.settings import sprint_config
    from lead_assets.core.crm_config import load_crm_config
    from lead_assets.pipeline.crm_sync import crm_status
    from lead_assets.status import format_status, sprint_status
    from lead_assets.store.crm_sync_state import state_counts
    from lead_assets.store.lead_store import LeadStore

    store = LeadStore()
    store.ensure_schema()
    s = sprint_status(store, sprint_config())
    s["crm"] = crm_status(store, load_crm_config())
    if not s["crm"]["enabled"]:
        # Not configured now, but earlier runs (e.g. the demo's sandbox CRM) may have synced: show them.
        s["crm"]["recorded"] = state_counts(store)
    if as_json:
        print(json.dumps(s, indent=2, default=str))
        return
    print(format_status(s))
    crm = s["crm"]
    def counts(states: dict) -> str:
        return ", ".join(f"{n:,} {k}" for k, n in sorted(states.items()) if n) or "nothing yet"

    if crm["enabled"]:
        print(f"{'crm'.ljust(16)}  {crm['target']}: {counts(crm.get('states', {}))}")
    else:
        earlier = "; ".join(f"earlier runs synced to {name}: {counts(st)}" for name, st in crm["recorded"].items())
        print(f"{'crm'.ljust(16)}  {crm['message']}" + (f" ({earlier})" if earlier else ""))


def cmd_demo(args) -> int:
    os.environ["LEAD_SPRINT_SANDBOX"] = "1"
    from lead_assets.config.environment import apply_sandbox_env

    url = apply_sandbox_env()
    hours = _hours(None, args.hours)
    print(f"lead-sprint demo: sandbox at {url}, {len(hours)} hour(s), DAGSTER_HOME={_ensure_dagster_home()}")
    started = time.monotonic()
    results = run_partitions(hours, ["apollo", "zoominfo"])
    drop = _drop_sales_navigator_export()
    print(f"dropped a Sales Navigator-style lead list into {drop.parent} (imports never scrape LinkedIn)")
    results += run_partitions(hours[-1:], ["sales_navigator"])
    cmd_crm_setup(None)
    results.append(("crm_exports", run_crm_export() is not False, 0.0))
    print(f"\n{sum(ok for _, ok, _ in results)}/{len(results)} runs succeeded in {time.monotonic() - started:.0f}s\n")
    _print_status(False)
    path = run_final_report()
    print(f"\nfinal report: {path}" if path else "\nfinal report: FAILED (see the run in the UI)")
    print("\nSee the runs and assets in the UI: make dev  (then open http://127.0.0.1:3000)")
    return 0 if all(ok for _, ok, _ in results) else 1


def _drop_sales_navigator_export() -> Path:
    """Put the sandbox's lead-list export where the import folder setting points."""
    from lead_assets.config.environment import env_or_default
    from lead_assets.sandbox.population import Population
    from lead_assets.sandbox.sales_navigator_export import export_csv

    folder = Path(env_or_default("SALES_NAVIGATOR_IMPORT_DIR") or STATE_DIR / "imports" / "sales_navigator")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "sales_navigator_export.csv"
    target.write_bytes(export_csv(Population.generate(7, 6000, None)))
    return target


def cmd_run(args) -> int:
    from lead_assets.defs.partitions import ENABLED_SOURCES

    sources = [s.strip() for s in args.sources.split(",")] if args.sources else list(ENABLED_SOURCES)
    unknown = set(sources) - set(ENABLED_SOURCES)
    if unknown:
        raise SystemExit(f"unknown or not yet enabled source(s): {', '.join(sorted(unknown))}")
    from lead_assets.config.environment import apply_sandbox_env

    apply_sandbox_env()
    results = run_partitions(_hours(args.start, args.hours), sources)
    crm_ok = run_crm_export()
    _print_status(False)
    return 0 if all(ok for _, ok, _ in results) and crm_ok is not False else 1


def run_crm_export() -> bool | None:
    """Materialise `crm_exports` through Dagster when a CRM is configured; None when none is."""
    import dagster as dg

    from lead_assets.core.crm_config import load_crm_config

    if load_crm_config().target is None:
        print("CRM_TARGET is unset: no CRM sync")
        return None
    _ensure_dagster_home()
    job = _load_definitions().resolve_job_def("crm_export_job")
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False, run_config=QUIET)
    print(f"  crm export: {'ok' if result.success else 'FAILED (see the run in the UI)'}")
    return result.success


def cmd_sync(args) -> int:
    from lead_assets.config.environment import apply_sandbox_env

    apply_sandbox_env()
    ok = run_crm_export()
    _print_status(False)
    return 0 if ok is not False else 1


def cmd_crm_setup(args) -> int:
    """Create the custom properties the mapping needs (HubSpot), then show the validated mapping."""
    from lead_assets.config.environment import apply_sandbox_env
    from lead_assets.core.crm_config import load_crm_config
    from lead_assets.pipeline.crm_sync import build_crm_client, crm_setup

    apply_sandbox_env()
    config = load_crm_config()
    if config.target is None:
        raise SystemExit("CRM_TARGET is unset: set it to hubspot or salesforce first")
    from lead_assets.clients.errors import VendorError

    try:
        report = crm_setup(config.target, build_crm_client(config), config)
    except (VendorError, ValueError) as exc:  # e.g. 403 MISSING_SCOPES, a setting that cannot work
        raise SystemExit(f"crm setup failed: {exc}") from None
    print(report.format())
    return 0


def cmd_status(args) -> int:
    _print_status(args.json)
    return 0


def cmd_report(args) -> int:
    """Render the hourly (or final) report from what is recorded, send it where alerts go, print the path."""
    from datetime import UTC, datetime

    from lead_assets.clients.notify import Notifier
    from lead_assets.config.environment import apply_sandbox_env
    from lead_assets.config.settings import sprint_config
    from lead_assets.reports.render import render_final, render_hourly
    from lead_assets.store.lead_store import LeadStore

    apply_sandbox_env()
    store = LeadStore()
    store.ensure_schema()
    cfg = sprint_config()
    out = STATE_DIR / "reports"
    if args.final:
        report = render_final(store, cfg, out)
        report.send(Notifier.from_env())
        print(report.html_path)
    else:
        now = datetime.now(UTC)
        report = render_hourly(store, cfg, now)
        folder = out / "hourly"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{now:%Y-%m-%dT%H%M}.md"
        path.write_text(report.text)
        (folder / f"{now:%Y-%m-%dT%H%M}.png").write_bytes(report.png)
        report.send(Notifier.from_env())
        print(path)
    return 0


def cmd_sandbox(args) -> int:
    from lead_assets.config.environment import SANDBOX_STATE_FILE
    from lead_assets.sandbox.launcher import ensure_sandbox, stop_sandbox

    if args.action == "stop":
        stop_sandbox(SANDBOX_STATE_FILE)
        print("sandbox stopped")
    else:
        print(ensure_sandbox(SANDBOX_STATE_FILE))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lead-sprint", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run a compressed sprint against the built-in sandbox")
    demo.add_argument("--hours", type=int, default=6, help="hours of the sprint to run (default 6; 24 = all)")
    demo.set_defaults(func=cmd_demo)
    run = sub.add_parser("run", help="run sprint partitions against the configured vendors")
    run.add_argument("--start", help="first hour partition, e.g. 2026-11-27-00:00 (default: sprint start)")
    run.add_argument("--hours", type=int, default=1)
    run.add_argument("--sources", help="comma-separated sources (default: every enabled source)")
    run.set_defaults(func=cmd_run)
    status = sub.add_parser("status", help="print the sprint's numbers")
    status.add_argument("--json", action="store_true", help="machine-readable, stable keys")
    status.set_defaults(func=cmd_status)
    report = sub.add_parser("report", help="render the hourly (or --final) report, send it, print its path")
    report.add_argument("--final", action="store_true", help="the final report (HTML + Markdown)")
    report.set_defaults(func=cmd_report)
    sync = sub.add_parser("sync", help="run the CRM export alone (CRM_TARGET)")
    sync.set_defaults(func=cmd_sync)
    crm = sub.add_parser("crm", help="CRM helpers")
    crm.add_argument("action", choices=["setup"], help="setup: create missing custom properties, show the mapping")
    crm.set_defaults(func=cmd_crm_setup)
    add_maintenance_commands(sub)
    add_privacy_commands(sub)
    add_forecast_commands(sub)
    sandbox = sub.add_parser("sandbox", help="start (or print the URL of) / stop the shared sandbox")
    sandbox.add_argument("action", choices=["start", "stop"])
    sandbox.set_defaults(func=cmd_sandbox)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
