"""Run the sprint through the Dagster instance: submit partitions as a backfill, follow it, report.

`lead-sprint run` does what a click on "Materialize" over partitions does in the UI: it adds an
asset backfill to the instance in DAGSTER_HOME. The daemon's backfill, run-queue and automation
loops then execute it (the run queue's limits apply, runs execute in parallel and show in the
UI); `crm_exports` follows by declarative automation. This module only submits and watches.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from lead_assets.defs.keys import sprint_asset_key

SPRINT_ASSETS = ("raw_leads", "deduped_leads", "enriched_leads", "scored_leads")
# Read once per process: a sprint's CLI runs with that sprint's LEAD_SPRINT_ID.
DONE_ASSET = sprint_asset_key("scored_leads")
EXPORT_ASSET = sprint_asset_key("crm_exports")
REQUEST_TAG = "lead_sprint/request"
HEARTBEAT_TOLERANCE_SECONDS = 75
TERMINAL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
REPO_DIR = Path(__file__).resolve().parent.parent


def daemon_problem(instance: dg.DagsterInstance) -> str | None:
    """None when a daemon is heart-beating for this instance, else what is missing (one line)."""
    from dagster._daemon.controller import get_daemon_statuses

    # Dagster's own tolerance is 30 minutes; a daemon beats every 30 s, so 75 s of silence means gone.
    statuses = get_daemon_statuses(instance, instance.get_required_daemon_types(), ignore_errors=True,
                                   heartbeat_tolerance_seconds=HEARTBEAT_TOLERANCE_SECONDS)
    dead = sorted(kind for kind, status in statuses.items() if not status.healthy)
    if not dead:
        return None
    return (f"no Dagster daemon is running for DAGSTER_HOME={instance.root_directory} "
            f"(no recent heartbeat from: {', '.join(dead)})")


HOW_TO_START_A_DAEMON = (
    "Start one with `make dev` (UI + daemon), or `dagster-daemon run -w workspace.yaml` with the same "
    "DAGSTER_HOME; or run here without one: `lead-sprint run --in-process` (partitions one after another)."
)


def materialized(instance: dg.DagsterInstance, asset: dg.AssetKey | None = None) -> set[str]:
    return set(instance.get_materialized_partitions(asset or sprint_asset_key("scored_leads")))


def request_signature(keys: Sequence[str]) -> str:
    """A short, stable name for a set of partitions (a tag: attach to a backfill already under way)."""
    import hashlib

    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:16]


def active_backfill(instance: dg.DagsterInstance, keys: Sequence[str]) -> dg.PartitionBackfill | None:
    """A backfill still running for exactly these partitions (a second `run` follows it, not a copy)."""
    from dagster._core.execution.backfill import BulkActionsFilter, BulkActionStatus

    signature = request_signature(keys)
    running = instance.get_backfills(filters=BulkActionsFilter(
        statuses=[BulkActionStatus.REQUESTED, BulkActionStatus.CANCELING, BulkActionStatus.FAILING]))
    return next((b for b in running if b.tags.get(REQUEST_TAG) == signature), None)


def submit_backfill(instance: dg.DagsterInstance, keys: Sequence[str], *, title: str) -> str:
    """Add an asset backfill of the sprint's assets over `keys` to the instance; returns its id."""
    from dagster._core.execution.backfill import PartitionBackfill
    from dagster._core.utils import make_new_backfill_id
    from dagster._time import get_current_timestamp

    from lead_assets.definitions import defs

    backfill_id = make_new_backfill_id()
    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id=backfill_id,
        asset_graph=defs().resolve_asset_graph(),
        partition_names=list(keys),
        asset_selection=[sprint_asset_key(a) for a in SPRINT_ASSETS],
        backfill_timestamp=get_current_timestamp(),
        tags={REQUEST_TAG: request_signature(keys), "lead_sprint/launched_by": "lead-sprint run"},
        dynamic_partitions_store=instance,
        all_partitions=False,
        title=title,
        description=f"{len(keys)} hour x source partitions submitted by `lead-sprint run`",
        run_config=None,
    )
    instance.add_backfill(backfill)
    return backfill_id


@dataclass
class Progress:
    """One look at a backfill and the store: what the progress line shows."""

    total: int
    done: int = 0
    failed: list[str] = field(default_factory=list)
    running: int = 0
    queued: int = 0
    status: str = "REQUESTED"
    metrics: dict = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def eta_seconds(self) -> float | None:
        left = self.total - self.done - len(self.failed)
        if self.done == 0 or left <= 0:
            return None
        return self.elapsed / self.done * left

    def line(self) -> str:
        m = self.metrics
        eta = self.eta_seconds
        spend = m.get("spend_usd") or 0.0
        return (f"partitions {self.done}/{self.total} done, {self.running} running, {self.queued} queued"
                f"{f', {len(self.failed)} failed' if self.failed else ''} | leads {m.get('unique', 0):,} "
                f"| qualified {m.get('qualified', 0):,} | spend ${spend:,.2f} "
                f"| errors {m.get('vendor_call_errors', 0):,} | "
                f"{'ETA ' + _duration(eta) if eta is not None else 'ETA -'} | {_duration(self.elapsed)} elapsed")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def run_partition(run: dg.DagsterRun) -> str:
    """The partition a run works on (its tag, or a one-partition range), else its id."""
    tags = run.tags
    return tags.get("dagster/partition") or tags.get("dagster/asset_partition_range_start") or run.run_id


def look(instance: dg.DagsterInstance, backfill_id: str, keys: Sequence[str], store, started: float) -> Progress:
    from lead_assets.store.metrics import sprint_metrics

    backfill = instance.get_backfill(backfill_id)
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
    wanted = set(keys)
    done = materialized(instance) & wanted
    latest: dict[str, dg.DagsterRun] = {}
    for run in runs:  # newest first: a retried partition's last run counts
        latest.setdefault(run_partition(run), run)
    failed = sorted(p for p, r in latest.items() if r.status == dg.DagsterRunStatus.FAILURE and p not in done)
    states = [r.status for r in latest.values()]
    return Progress(
        total=len(wanted), done=len(done), failed=failed,
        running=sum(s in (dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING) for s in states),
        queued=sum(s in (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED) for s in states),
        status=backfill.status.value if backfill else "UNKNOWN",
        metrics=sprint_metrics(store), elapsed=time.monotonic() - started,
    )


def follow(instance: dg.DagsterInstance, backfill_id: str, keys: Sequence[str], store, *,
           out: Callable[[str], None] = print, interval: float = 2.0, quiet_every: float = 10.0,
           daemon_check: Callable[[], str | None] | None = None) -> Progress:
    """Watch the backfill until it ends (or the daemon goes away); a live line on a terminal."""
    started = time.monotonic()
    live = _live_line() if sys.stdout.isatty() else None
    last_print = 0.0
    daemon_check = daemon_check or (lambda: daemon_problem(instance))
    missed_heartbeats = 0
    try:
        while True:
            p = look(instance, backfill_id, keys, store, started)
            if live is not None:
                live(p.line())
            elif time.monotonic() - last_print >= quiet_every:
                out(p.line())
                last_print = time.monotonic()
            if p.status in TERMINAL:
                return p
            problem = daemon_check()
            missed_heartbeats = missed_heartbeats + 1 if problem else 0
            if missed_heartbeats >= 3:  # a daemon that just restarted misses one or two beats
                p.status = "DAEMON_DOWN"
                return p
            time.sleep(interval)
    finally:
        if live is not None:
            live(None)


def _live_line() -> Callable[[str | None], None]:
    """A one-line live display (rich); None ends it."""
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    live = Live(Text(""), console=Console(), refresh_per_second=4, transient=False)
    live.start()

    def show(line: str | None) -> None:
        if line is None:
            live.stop()
        else:
            live.update(Text(line))

    return show


def held_back(instance: dg.DagsterInstance, keys: Sequence[str]) -> list[str]:
    """Partitions among `keys` whose latest blocking check failed: automation does not export them."""
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus as Status

    check = dg.AssetCheckKey(sprint_asset_key("scored_leads"), "required_fields")
    infos = instance.event_log_storage.get_asset_check_partition_info([check], partition_keys=list(keys))
    return sorted(i.partition_key for i in infos if i.latest_execution_status == Status.FAILED)


def wait_for_exports(instance: dg.DagsterInstance, keys: Sequence[str], *, timeout: float,
                     out: Callable[[str], None] = print, interval: float = 2.0) -> tuple[int, int, float]:
    """Wait until automation exported every scored partition among `keys` that passed its blocking check.

    Returns (exported, expected, seconds waited)."""
    started = time.monotonic()
    held = held_back(instance, keys)
    if held:
        out(f"  crm: {len(held)} partition(s) held back by a failed blocking check (required_fields): "
            f"{', '.join(held[:5])}{' ...' if len(held) > 5 else ''}; fix their leads and re-run them")
    expected = (materialized(instance) & set(keys)) - set(held)
    last = -1
    while True:
        exported = materialized(instance, sprint_asset_key("crm_exports")) & expected
        if len(exported) != last:
            out(f"  crm: {len(exported)}/{len(expected)} scored partitions exported by automation")
            last = len(exported)
        if len(exported) >= len(expected) or time.monotonic() - started > timeout:
            return len(exported), len(expected), time.monotonic() - started
        time.sleep(interval)


def start_daemon(home: Path, log_path: Path, env: dict | None = None) -> subprocess.Popen:
    """A `dagster-daemon` for this instance (the demo's own; `make dev` runs one with the UI)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    exe = Path(sys.executable).parent / "dagster-daemon"
    cmd = [str(exe), "run", "-w", str(REPO_DIR / "workspace.yaml")]
    with open(log_path, "ab") as log:
        return subprocess.Popen(cmd, cwd=REPO_DIR, env={**os.environ, **(env or {}), "DAGSTER_HOME": str(home)},
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for_daemon(instance: dg.DagsterInstance, proc: subprocess.Popen, timeout: float = 180.0) -> str | None:
    """Block until the daemon heart-beats; the problem (one line) if it died or never did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"dagster-daemon exited with code {proc.returncode}"
        if daemon_problem(instance) is None:
            return None
        time.sleep(1.0)
    return f"dagster-daemon did not heart-beat within {timeout:.0f}s"


def stop_daemon(proc: subprocess.Popen, timeout: float = 60.0) -> None:
    import signal

    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
