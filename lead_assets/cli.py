"""`lead-sprint`: run the sprint from a terminal (demo, run, status) through Dagster.

`run` and `demo` submit the sprint's partitions to the Dagster instance in `DAGSTER_HOME` as a
backfill, exactly like "Materialize" over partitions in the UI (`make dev`): the daemon runs them
in parallel under the run queue's limits, and automation exports them to the CRM.
`run --in-process` executes partitions here, one after another, without a daemon.
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


def _hours(start: str | None, count: int | None) -> list[str]:
    """The sprint hours from `start` (default: the first), `count` of them (default: to the end).

    A start outside the configured sprint, or a count that is not positive, is a one-line error."""
    from lead_assets.config.settings import sprint_config
    from lead_assets.pipeline.search_plan import hour_keys

    cfg = sprint_config()
    keys = hour_keys(cfg.start, cfg.hours)
    if start and start not in keys:
        raise SystemExit(f"--start {start} is not an hour of the sprint: it runs {keys[0]} .. {keys[-1]} "
                         f"({cfg.hours} hours; LEAD_SPRINT_START / sprint.yaml set it)")
    if count is not None and count < 1:
        raise SystemExit(f"--hours must be at least 1 (got {count})")
    first = keys.index(start) if start else 0
    chosen = keys[first:] if count is None else keys[first : first + count]
    if count is not None and len(chosen) < count:
        print(f"note: the sprint ends at {keys[-1]}: running the {len(chosen)} hour(s) left, not {count}")
    return chosen


def _print_status(as_json: bool, targets: bool = False) -> None:
    from lead_assets.config.settings import sprint_config
    from lead_assets.core.crm_config import load_crm_config
    from lead_assets.crm.status import crm_status
    from lead_assets.status import crm_lag, format_status, format_targets, sprint_status, target_results
    from lead_assets.store.crm_sync_state import state_counts
    from lead_assets.store.lead_store import LeadStore

    store = LeadStore()
    store.ensure_schema()
    s = sprint_status(store, sprint_config())
    s.update(crm_lag(store))
    s["crm"] = crm_status(store, load_crm_config())
    if not s["crm"]["enabled"]:
        # Not configured now, but earlier runs (e.g. the demo's sandbox CRM) may have synced: show them.
        s["crm"]["recorded"] = state_counts(store)
    if as_json:
        from lead_assets.core.for_people import for_people

        print(json.dumps(for_people(s, shares_as_pct=False), indent=2, default=str))
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
    if targets:
        print("\nthe brief's targets:\n" + format_targets(target_results(s, sprint_config())))


def cmd_demo(args) -> int:
    os.environ["LEAD_SPRINT_SANDBOX"] = "1"
    os.environ["LEAD_SPRINT_SANDBOX_POPULATION"] = "full" if args.full else "default"
    from lead_assets.config.environment import SANDBOX_STATE_FILE, apply_sandbox_env
    from lead_assets.sandbox.launcher import stop_sandbox

    try:
        apply_sandbox_env()
    except RuntimeError as exc:  # a sandbox of another size is running: the demo owns its sandbox, restart it
        print(f"restarting the sandbox: {exc}")
        stop_sandbox(SANDBOX_STATE_FILE)
    url = apply_sandbox_env()
    hours = _hours(None, None if args.full else args.hours)
    home = _ensure_dagster_home()
    from lead_assets.defs.partitions import ENABLED_SOURCES
    from lead_assets.sources import ImportSource, lead_source

    imports = [name for name in ENABLED_SOURCES if isinstance(lead_source(name), ImportSource)]
    # the quick demo imports the lists once, last, when the vendors' people are stored
    sources = list(ENABLED_SOURCES) if args.full else [name for name in ENABLED_SOURCES if name not in imports]
    print(f"lead-sprint demo{' --full' if args.full else ''}: sandbox at {url}, {len(hours)} hour(s) x "
          f"{', '.join(sources)}, DAGSTER_HOME={home}")
    started = time.monotonic()
    for drop in _drop_sandbox_imports(imports):
        print(f"dropped a sandbox lead list at {drop} (imports never scrape LinkedIn)")
    cmd_crm_setup(None)
    if args.in_process:
        results = run_partitions(hours, sources)
        results += run_partitions(hours[-1:], imports) if not args.full else []
        results.append(("crm_exports", run_crm_export([k for k, ok, _ in results if ok]) is not False, 0.0))
        ok = all(ok for _, ok, _ in results)
        print(f"\n{sum(ok for _, ok, _ in results)}/{len(results)} runs succeeded in "
              f"{time.monotonic() - started:.0f}s\n")
    else:
        with _daemon_for_demo(home) as instance:
            keys = _partition_keys(hours, sources)
            if not args.full:
                keys += _partition_keys(hours[-1:], imports)
            ok = _run_through_instance(instance, keys, crm_wait=600.0, title="lead-sprint demo") == 0
            if args.full:
                path = _wait_for_final_report(instance, timeout=300.0)
                print(f"final report (sent once by automation): {path}" if path else
                      "final report: not materialised yet (see the automation sensor in the UI)")
        print(f"\ndemo finished in {time.monotonic() - started:.0f}s\n")
    _print_status(False, targets=True)
    if not args.full or args.in_process:
        path = run_final_report()
        print(f"\nfinal report: {path}" if path else "\nfinal report: FAILED (see the run in the UI)")
    print("\nSee the runs and assets in the UI: make dev  (then open http://127.0.0.1:3000)")
    return 0 if ok else 1


def _partition_keys(hours: list[str], sources: list[str]) -> list[str]:
    return [f"{hour}|{source}" for hour in hours for source in sources]


DEMO_DAEMON_PID = "demo-daemon.pid"


def stop_leftover_demo_daemon(home: Path) -> bool:
    """Stop the daemon a killed demo left behind (its pid file says which); True if one was stopped."""
    import signal

    pid_file = home / DEMO_DAEMON_PID
    if not pid_file.exists():
        return False
    try:
        os.killpg(int(pid_file.read_text().strip()), signal.SIGTERM)
        stopped = True
    except (ProcessLookupError, ValueError, PermissionError):
        stopped = False
    pid_file.unlink(missing_ok=True)
    return stopped


class _daemon_for_demo:  # noqa: N801 - used as a context manager, reads like one
    """The instance, with a daemon heart-beating on it: the one already running (make dev), or our own."""

    def __init__(self, home: Path):
        self.home, self.proc, self.instance = home, None, None

    def __enter__(self):
        import dagster as dg

        from lead_assets.sprint_runs import daemon_problem, start_daemon, wait_for_daemon

        if stop_leftover_demo_daemon(self.home):
            print("stopped the daemon an earlier, interrupted demo left running")
        self.instance = dg.DagsterInstance.get()
        if daemon_problem(self.instance) is not None:
            log = self.home / "daemon.log"
            print(f"starting a Dagster daemon for the demo (log: {log}) ...")
            self.proc = start_daemon(self.home, log)
            # a demo killed outright cannot stop its daemon: the pid file lets `sandbox stop` and the next demo do it
            (self.home / DEMO_DAEMON_PID).write_text(str(self.proc.pid))
            problem = wait_for_daemon(self.instance, self.proc)
            if problem:
                self.__exit__(None, None, None)
                raise SystemExit(f"lead-sprint demo: {problem}; see {log}")
        return self.instance

    def __exit__(self, *exc):
        from lead_assets.sprint_runs import stop_daemon

        if self.proc is not None:
            stop_daemon(self.proc)
            (self.home / DEMO_DAEMON_PID).unlink(missing_ok=True)
            print("stopped the demo's Dagster daemon (make dev starts the UI and a daemon)")
        if self.instance is not None:
            self.instance.dispose()
        return False


def _run_through_instance(instance, keys: list[str], *, crm_wait: float, title: str, force: bool = False) -> int:
    """Submit the partitions not yet done as a backfill (or follow the one under way), report, wait for the CRM."""
    from lead_assets.core.crm_config import load_crm_config
    from lead_assets.sprint_runs import (
        HOW_TO_START_A_DAEMON,
        active_backfill,
        daemon_problem,
        follow,
        materialized,
        submit_backfill,
        wait_for_exports,
    )
    from lead_assets.store.lead_store import LeadStore

    problem = daemon_problem(instance)
    if problem:
        print(f"lead-sprint: {problem}.\n{HOW_TO_START_A_DAEMON}")
        return 2
    store = LeadStore()
    store.ensure_schema()
    running = active_backfill(instance, keys)
    if running is not None:
        backfill_id = running.backfill_id
        print(f"a backfill for these partitions is under way ({backfill_id}): following it")
    else:
        done = materialized(instance)
        todo = keys if force else [k for k in keys if k not in done]
        if not todo:
            print(f"all {len(keys)} partitions are already done (--force runs them again; replays pay nothing)")
            return 0
        if len(todo) < len(keys):
            print(f"{len(keys) - len(todo)} of {len(keys)} partitions are already done: submitting the other {len(todo)}")
        backfill_id = submit_backfill(instance, todo, title=title)
        keys = todo
        print(f"submitted backfill {backfill_id}: {len(todo)} partitions (see Overview > Backfills in the UI)")
    progress = follow(instance, backfill_id, keys, store)
    print(progress.line())
    code = _explain(progress, backfill_id)
    if load_crm_config().target is not None and progress.done:
        exported, expected, waited = wait_for_exports(instance, keys, timeout=crm_wait)
        print(f"  crm: {exported}/{expected} partitions exported {waited:.0f}s after the last partition "
              f"({'within' if waited <= 7200 else 'later than'} the 2-hour target)"
              + ("" if exported >= expected else f"; still waiting after --crm-wait {crm_wait:.0f}s: see the "
                 "automation sensor lead_sprint_automation in the UI"))
        code = code or (0 if exported >= expected else 1)
    return code


def _explain(progress, backfill_id: str) -> int:
    """One paragraph on how the backfill ended, and what to do next; the exit code."""
    again = "run the same `lead-sprint run` again: it submits only what is missing, and replays what was paid for"
    if progress.status == "DAEMON_DOWN":
        print(f"the Dagster daemon stopped while backfill {backfill_id} was under way ({progress.done}/{progress.total} "
              f"partitions done). Runs already started go on; start the daemon again and the backfill resumes, or {again}.")
        return 3
    if progress.status == "CANCELED":
        print(f"backfill {backfill_id} was cancelled: {progress.done}/{progress.total} partitions done. To finish, {again}.")
        return 1
    if progress.failed:
        print(f"{len(progress.failed)} partition(s) failed: {', '.join(progress.failed[:10])}"
              f"{' ...' if len(progress.failed) > 10 else ''} (their runs are in the UI). To retry them, {again}.")
        return 1
    if progress.status == "FAILED":
        print(f"backfill {backfill_id} failed in the daemon (see Overview > Backfills in the UI). {again[0].upper()}{again[1:]}.")
        return 1
    missing = progress.total - progress.done
    if missing:
        print(f"{missing} partition(s) did not complete. To finish, {again}.")
        return 1
    print(f"all {progress.total} partitions done")
    return 0


def _wait_for_final_report(instance, timeout: float) -> str | None:
    """The final report automation sends once every partition is exported: its HTML path."""
    from lead_assets.defs.keys import sprint_asset_key

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = instance.get_latest_materialization_event(sprint_asset_key("final_report"))
        if event is not None and event.asset_materialization is not None:
            return event.asset_materialization.metadata["html_report"].value
        time.sleep(2.0)
    return None


def _drop_sandbox_imports(sources: list[str]) -> list[str]:
    """Put each import source's sandbox file where its folder setting points (folder or shared storage)."""
    from lead_assets.config.environment import sandbox_population
    from lead_assets.sandbox.population import Population
    from lead_assets.sources import lead_source
    from lead_assets.sources.file_imports import import_storage

    population = Population.for_setting(sandbox_population() or "default")
    dropped = []
    for name in sources:
        source = lead_source(name)
        made = source.sandbox_file(population)
        if made is not None:
            files = import_storage(name, os.environ.get(source.folder_setting))
            dropped.append(files.put(*made))
    return dropped


def cmd_run(args) -> int:
    from lead_assets.defs.partitions import ENABLED_SOURCES

    sources = [s.strip() for s in args.sources.split(",")] if args.sources else list(ENABLED_SOURCES)
    unknown = set(sources) - set(ENABLED_SOURCES)
    if unknown:
        raise SystemExit(f"unknown or not enabled source(s): {', '.join(sorted(unknown))} (this sprint collects "
                         f"{', '.join(ENABLED_SOURCES)}; sprint.yaml `sprint.sources` lists them)")
    hours = _hours(args.start, args.hours)
    from lead_assets.config.environment import apply_sandbox_env

    apply_sandbox_env()
    if args.in_process:
        results = run_partitions(hours, sources)
        crm_ok = run_crm_export([key for key, ok, _ in results if ok])
        _print_status(False)
        return 0 if all(ok for _, ok, _ in results) and crm_ok is not False else 1
    import dagster as dg

    _ensure_dagster_home()
    with dg.DagsterInstance.get() as instance:
        code = _run_through_instance(instance, _partition_keys(hours, sources), crm_wait=args.crm_wait,
                                     title=f"lead-sprint run {hours[0]} +{len(hours)}h {','.join(sources)}",
                                     force=args.force)
    if code != 2:
        _print_status(False)
    return code


def run_crm_export(partition_keys: list[str] | None = None) -> bool | None:
    """Export partitions to the CRM in-process (default: every scored partition); None when no CRM is set."""
    import dagster as dg

    from lead_assets.core.crm_config import load_crm_config
    from lead_assets.sprint_runs import materialized

    if load_crm_config().target is None:
        print("CRM_TARGET is unset: no CRM sync")
        return None
    _ensure_dagster_home()
    job = _load_definitions().resolve_job_def("crm_export_job")
    ok = True
    with dg.DagsterInstance.get() as instance:
        keys = partition_keys if partition_keys is not None else sorted(materialized(instance))
        for key in keys:
            result = job.execute_in_process(instance=instance, raise_on_error=False, run_config=QUIET,
                                            partition_key=key)
            ok &= result.success
    print(f"  crm export of {len(keys)} partition(s): {'ok' if ok else 'FAILED (see the runs in the UI)'}")
    return ok


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
    from lead_assets.crm.registry import CRMS, build_crm_client
    from lead_assets.crm.setup import crm_setup

    apply_sandbox_env()
    config = load_crm_config()
    if config.target is None:
        raise SystemExit(f"CRM_TARGET is unset: set it to {' or '.join(CRMS)} first")
    from lead_assets.clients.errors import VendorError

    try:
        report = crm_setup(config.target, build_crm_client(config), config)
    except (VendorError, ValueError) as exc:  # e.g. 403 MISSING_SCOPES, a setting that cannot work
        raise SystemExit(f"crm setup failed: {exc}") from None
    print(report.format())
    return 0


def cmd_status(args) -> int:
    _print_status(args.json, targets=not args.json)
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
        if stop_leftover_demo_daemon(Path(os.environ.get("DAGSTER_HOME") or DEMO_DAGSTER_HOME)):
            print("stopped the Dagster daemon an interrupted demo left running")
    else:
        from lead_assets.config.environment import sandbox_population

        population = sandbox_population()
        try:
            print(ensure_sandbox(SANDBOX_STATE_FILE, **({} if population is None else {"population": population})))
        except RuntimeError as exc:
            raise SystemExit(f"lead-sprint sandbox start: {exc}; `lead-sprint sandbox stop` first") from None
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lead-sprint")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def load_dotenv_file(path: Path | None = None) -> Path | None:
    """Read `.env` (the current folder's) like Dagster's CLIs do; variables already set win."""
    from dotenv import load_dotenv

    path = path or Path.cwd() / ".env"
    if path.is_file():
        load_dotenv(path, override=False)
        return path
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lead-sprint", description=__doc__.splitlines()[0],
        epilog="Settings come from the environment and from ./.env (copy .env.example); see the README.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="run a sprint against the built-in sandbox through the Dagster daemon",
                          description="Start the sandbox (and a Dagster daemon when none runs), submit the sprint's "
                                      "partitions as a backfill, export to the sandbox CRM, print the numbers.")
    demo.add_argument("--hours", type=int, default=6, help="hours of the sprint to run (default 6; 24 = all)")
    demo.add_argument("--full", action="store_true",
                      help="every hour and every source against a full-size sandbox (25,000+ people): "
                           "shows every target of the brief met (about 15 minutes)")
    demo.add_argument("--in-process", action="store_true",
                      help="execute partitions here one after another instead of through a daemon")
    demo.set_defaults(func=cmd_demo)
    run = sub.add_parser("run", help="submit sprint partitions to the Dagster instance and follow them",
                         description="Submit the hour x source partitions not yet done as a backfill (the daemon "
                                     "runs them in parallel under the run queue's limits), follow it live, then "
                                     "wait for automation to export them to the CRM. Needs a running daemon "
                                     "(make dev) unless --in-process.")
    run.add_argument("--start", help="first hour partition, e.g. 2026-11-27-00:00 (default: the sprint's first)")
    run.add_argument("--hours", type=int, default=None, help="how many hours from --start (default: to the end)")
    run.add_argument("--sources", help="comma-separated sources (default: every enabled source)")
    run.add_argument("--in-process", action="store_true",
                     help="execute here, one partition after another, without a daemon")
    run.add_argument("--force", action="store_true",
                     help="run partitions already done again (landed pages and purchases are replayed, not re-bought)")
    run.add_argument("--crm-wait", type=float, default=900.0, metavar="SECONDS",
                     help="how long to wait for automation to export the partitions to the CRM (default 900)")
    run.set_defaults(func=cmd_run)
    status = sub.add_parser("status", help="print the sprint's numbers against the brief's targets")
    status.add_argument("--json", action="store_true", help="machine-readable, stable keys")
    status.set_defaults(func=cmd_status)
    report = sub.add_parser("report", help="render the hourly (or --final) report, send it, print its path")
    report.add_argument("--final", action="store_true", help="the final report (HTML + Markdown)")
    report.set_defaults(func=cmd_report)
    sync = sub.add_parser("sync", help="export every scored partition to the CRM now, in-process (CRM_TARGET)")
    sync.set_defaults(func=cmd_sync)
    crm = sub.add_parser("crm", help="CRM helpers")
    crm.add_argument("action", choices=["setup"], help="setup: create missing custom properties, show the mapping")
    crm.set_defaults(func=cmd_crm_setup)
    add_maintenance_commands(sub)
    add_privacy_commands(sub)
    add_forecast_commands(sub)
    sandbox = sub.add_parser("sandbox", help="start (or print the URL of) / stop the shared sandbox")
    sandbox.add_argument("action", choices=["start", "stop"], help="start: print its URL (starting it if needed)")
    sandbox.set_defaults(func=cmd_sandbox)
    return parser


def main(argv: list[str] | None = None) -> int:
    load_dotenv_file()
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
