"""The shared CRM sync run: `sync_to_crm` and `CrmRun`, the same for every CRM.

`sync_to_crm` looks the CRM up in the registry and runs its adapter's `CrmRun` subclass, in
this order:

1. Validate the mapping against the CRM's own schema (HubSpot property list, Salesforce
   describe of Lead). A missing or mistyped field stops the run *before* any record is sent.
2. Read the leads and their `crm_sync_state`; decide per lead: skipped (unqualified,
   suppressed, over budget), rejected before sending (too long by rule, required field
   missing, no LinkedIn URL), unchanged (the CRM holds this exact content), held (rejected
   for a permanent reason, unchanged since: reported once already), gave up (fixable
   rejection out of attempts), or send.
3. Mark what is sent `pending` and hand it to the subclass's `send`, which sends it in bulk
   (HubSpot batch upsert of <= 100; Salesforce Bulk API 2.0 upsert jobs on the External ID)
   and records each record's outcome as it comes back (`record`). A batch the CRM refuses as
   a whole is split in halves until the bad record stands alone; a record refused for a
   fixable reason is retried on the next run, bounded.

Every lead in scope ends the run in exactly one bucket of the `SyncReport`; the state table
says the same per lead. `leads.crm_synced` is set only when the CRM confirmed the record.
Upserts are idempotent on a unique key (email or the canonical LinkedIn URL), so re-sending
a record whose outcome was lost (a run that died mid-call) cannot create a duplicate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from lead_assets.clients.errors import RateLimitExhausted, VendorAuthError, VendorError, VendorRequestError
from lead_assets.core.crm_config import CrmConfig
from lead_assets.core.crm_mapping import GAVE_UP, HELD, SEND, UNCHANGED, MappedLeads, select_for_sync
from lead_assets.crm.report import SyncReport, short
from lead_assets.store.crm_sync_state import deferred_reason, deferred_until, read_states, write_states
from lead_assets.store.lead_store import LeadStore, utc_now

if TYPE_CHECKING:
    from lead_assets.crm.adapter import CrmAdapter

MAX_REPORTED_REJECTIONS = 50


def sync_to_crm(
    store: LeadStore,
    crm: str | None,
    client: Any,
    config: CrmConfig,
    run_id: str | None = None,
    log: logging.Logger | None = None,
    *,
    lead_ids: Sequence[str] | None = None,
    suppressed: Iterable[str] = (),
    max_records: int | None = None,
) -> SyncReport:
    """Sync the leads in scope (all, or `lead_ids`) to `crm`; see the module docs.

    `suppressed` lead ids are skipped; `max_records` (or the config's `max_records_per_run`)
    caps what one run sends, the rest is skipped as over budget and goes next run.
    """
    log = log or logging.getLogger("lead_sprint.crm")
    report = SyncReport(crm=crm, run_id=run_id)
    if crm is None:
        report.status, report.message = "disabled", "CRM_TARGET is unset: no CRM sync"
        return report
    from lead_assets.crm.registry import crm_adapter  # here: the adapters' runners import this module

    adapter = crm_adapter(crm)
    started = time.monotonic()
    runner = adapter.run_class(adapter, store, client, config, report, log)

    def stop(message: str, *, retryable: bool = False) -> None:
        report.status, report.message, report.retryable = "stopped", message, retryable
        runner.leave_pending(message)
        log.error("CRM sync stopped: %s", message)

    try:
        runner.run(lead_ids, set(suppressed), max_records)
    except adapter.deferral_errors as exc:
        runner.defer(exc)
    except RateLimitExhausted as exc:
        stop(f"{crm} API allowance spent: {short(exc)}")
    except (*adapter.stop_errors, VendorAuthError) as exc:
        stop(str(exc))  # credentials or the org's allowance: nothing more can succeed in this run
    except VendorRequestError as exc:
        stop(f"{crm} refused a request: {exc}")  # a wrong URL or field, not an outage: a retry would not help
    except VendorError as exc:
        stop(f"{crm} unavailable: {exc}", retryable=True)
    finally:
        report.duration_s = round(time.monotonic() - started, 3)
        runner.persist_calls(run_id)
    if report.status == "ok":
        report.message = (
            f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
            f"{report.rejected} rejected, {report.held} held, {sum(report.skipped.values())} skipped"
        )
    log.info("CRM sync (%s): %s", crm, report.message)
    return report


class CrmRun:
    """One sync run; a CRM's subclass implements `send` (payloads, bulk calls, `record` outcomes)."""

    def __init__(
        self, adapter: CrmAdapter, store: LeadStore, client: Any, config: CrmConfig, report: SyncReport,
        log: logging.Logger,
    ):
        self.adapter, self.crm = adapter, adapter.name
        self.store, self.client, self.config, self.report, self.log = store, client, config, report, log
        self.mapped: MappedLeads | None = None
        self.attempts: dict[str, int] = {}
        self.unresolved: set[str] = set()
        self.updated_at: pd.Series | None = None
        self.lags: list[float] = []

    def send(self, ids: list[str], leads: pd.DataFrame, states: pd.DataFrame) -> None:
        """Send the mapped leads `ids` (`self.mapped.values`) and `record` every outcome."""
        raise NotImplementedError

    # -- the run --

    def run(self, lead_ids: Sequence[str] | None, suppressed: set[str], max_records: int | None) -> None:
        """Validate, decide per lead, send what needs sending; the report says what happened."""
        if self._deferred_by_earlier_run() or not self._mapping_valid():
            return
        leads = self.store.read_leads() if lead_ids is None else self.store.fetch_leads(list(lead_ids))
        leads = leads.astype({"lead_id": str})
        states = read_states(self.store, self.crm, None if lead_ids is None else leads["lead_id"].tolist())
        states = states[states["lead_id"].isin(leads["lead_id"])]
        self.report.considered = len(leads)
        self.updated_at = leads.set_index("lead_id")["updated_at"]
        prior = states.set_index("lead_id") if len(states) else states

        qualified = leads["is_qualified"].fillna(False).astype(bool)
        is_suppressed = leads["lead_id"].isin(suppressed)
        self._skip(leads.loc[is_suppressed, "lead_id"], "suppressed", prior)
        self._skip(leads.loc[~is_suppressed & ~qualified, "lead_id"], "unqualified", prior)
        candidates = leads[qualified & ~is_suppressed]
        to_send = self._decide(candidates, states, prior, max_records)
        self._mark_pending(to_send)
        if to_send:
            self.send(to_send, candidates, states)
        if self.unresolved:  # a stop inside send() left these without an outcome
            self.leave_pending(self.report.message or "run ended before the CRM answered")
        if self.lags:
            self.report.max_lag_s = round(max(self.lags), 1)

    def _deferred_by_earlier_run(self) -> bool:
        resume = deferred_until(self.store, self.crm)
        if resume is None or resume <= utc_now():
            return False
        # An earlier run met the daily limit: asking again before it resets only adds refusals.
        report = self.report
        report.status, report.resume_at = "deferred", resume.isoformat(timespec="seconds")
        report.message = (f"deferred: {self.crm}'s DAILY API limit was spent by an earlier run; "
                          f"nothing is sent before {report.resume_at}")
        return True

    def _mapping_valid(self) -> bool:
        self.report.mapping = mapping = self.adapter.validate_mapping(self.client, self.config)
        if not mapping.ok:
            self.report.status = "mapping_invalid"
            self.report.message = "mapping does not match the CRM; nothing was sent\n" + mapping.format()
        return mapping.ok

    def _decide(self, candidates: pd.DataFrame, states: pd.DataFrame, prior: pd.DataFrame,
                max_records: int | None) -> list[str]:
        """Map the candidates, account for those not sent, and return the lead ids to send."""
        report = self.report
        self.mapped = mapped = self.adapter.map_leads(candidates, self.config, report.mapping)
        report.truncated = int((mapped.truncated != "").sum())
        self._pre_reject(mapped.reject_reason.dropna(), prior)
        sendable = mapped.sendable()
        decision = select_for_sync(mapped.content_hash[sendable], states, self.config.max_attempts_per_record)
        report.unchanged = int((decision["action"] == UNCHANGED).sum())
        report.held = int((decision["action"] == HELD).sum())
        self._give_up(decision.index[decision["action"] == GAVE_UP], prior)
        to_send = decision.index[decision["action"] == SEND].tolist()
        cap = min(x for x in (max_records, self.config.max_records_per_run, len(to_send)) if x is not None)
        if cap < len(to_send):
            self._skip(pd.Series(to_send[cap:]), f"over budget: at most {cap} records per run", prior)
            to_send = to_send[:cap]
        self.attempts = {i: int(decision.at[i, "attempts"]) + 1 for i in to_send}
        return to_send

    def _mark_pending(self, to_send: list[str]) -> None:
        self._write([_row(i, "pending", None, self.attempts[i], self.mapped.content_hash[i]) for i in to_send])
        self.unresolved = set(to_send)
        self.report.sent = len(to_send)

    # -- outcomes --

    def _write(self, rows: list[dict]) -> None:
        if rows:
            write_states(self.store, self.crm, pd.DataFrame(rows))

    def _skip(self, ids: pd.Series, reason: str, prior: pd.DataFrame) -> None:
        ids = pd.Series(ids, dtype=object)
        if not len(ids):
            return
        bucket = reason.split(":")[0]
        self.report.skipped[bucket] = self.report.skipped.get(bucket, 0) + len(ids)
        rows = []
        for lead_id in ids:
            # Rewriting an identical skip every run would churn the table for nothing.
            if (
                lead_id in prior.index
                and prior.at[lead_id, "state"] == "skipped"
                and prior.at[lead_id, "reason"] == reason
            ):
                continue
            known = lead_id in prior.index
            rows.append(_row(lead_id, "skipped", reason, int(prior.at[lead_id, "attempts"]) if known else 0,
                             prior.at[lead_id, "content_hash"] if known else None))
        self._write(rows)

    def _pre_reject(self, reasons: pd.Series, prior: pd.DataFrame) -> None:
        rows = []
        for lead_id, why in reasons.items():
            reason = f"not sent: {why}"
            digest = self.mapped.content_hash[lead_id]
            if (
                lead_id in prior.index
                and prior.at[lead_id, "state"] == "rejected"
                and prior.at[lead_id, "content_hash"] == digest
                and prior.at[lead_id, "reason"] == reason
            ):
                self.report.held += 1  # reported once already, nothing changed
                continue
            self.report.rejected_permanent += 1
            self._note_rejection(lead_id, reason, True)
            rows.append(_row(lead_id, "rejected", reason, 0, digest, permanent=True))
        self._write(rows)

    def _give_up(self, ids: pd.Index, prior: pd.DataFrame) -> None:
        rows = []
        for lead_id in ids:
            attempts = int(prior.at[lead_id, "attempts"])
            reason = f"gave up after {attempts} attempts: {prior.at[lead_id, 'reason']}"
            self.report.gave_up += 1
            self._note_rejection(lead_id, reason, True)
            rows.append(_row(lead_id, "rejected", reason, attempts, prior.at[lead_id, "content_hash"], permanent=True))
        self._write(rows)

    def _hash(self, lead_id: str) -> str | None:
        return self.mapped.content_hash[lead_id] if self.mapped is not None else None

    def _note_rejection(self, lead_id: str, reason: str, permanent: bool) -> None:
        if len(self.report.rejections) < MAX_REPORTED_REJECTIONS:
            self.report.rejections.append({"lead_id": lead_id, "reason": reason, "permanent": permanent})

    def record(self, outcomes: list[dict]) -> None:
        """Store per-record outcomes: {lead_id, state, crm_id?, reason?, permanent?}."""
        now = utc_now()
        rows = []
        for o in outcomes:
            lead_id = o["lead_id"]
            if lead_id not in self.unresolved:
                continue  # already resolved (e.g. re-sent after a split): first answer wins
            self.unresolved.discard(lead_id)
            row = {
                "lead_id": lead_id,
                "state": o["state"],
                "crm_id": o.get("crm_id"),
                "reason": o.get("reason"),
                "permanent": bool(o.get("permanent")),
                "attempts": self.attempts[lead_id],
                "content_hash": self.mapped.content_hash[lead_id],
            }
            if o["state"] in ("created", "updated"):
                row["synced_at"] = now
                setattr(self.report, o["state"], getattr(self.report, o["state"]) + 1)
                changed = self.updated_at.get(lead_id) if self.updated_at is not None else None
                if changed is not None and not pd.isna(changed):
                    self.lags.append((now - pd.Timestamp(changed).to_pydatetime()).total_seconds())
            elif row["permanent"]:
                self.report.rejected_permanent += 1
                self._note_rejection(lead_id, str(o.get("reason")), True)
            else:
                self.report.rejected_fixable += 1
                self._note_rejection(lead_id, str(o.get("reason")), False)
            rows.append(row)
        self._write(rows)

    def leave_pending(self, why: str) -> None:
        """Leads sent or about to be sent whose outcome is unknown stay pending, with the reason."""
        if not self.unresolved:
            return
        ids = sorted(self.unresolved)
        self.report.pending += len(ids)
        self._write([_row(i, "pending", f"not confirmed: {why}"[:500], self.attempts.get(i, 0), self._hash(i))
                     for i in ids])
        self.unresolved.clear()

    def skip_unresolved(self, ids: Iterable[str], reason: str, bucket: str = "over budget") -> None:
        """Leads not sent because an allowance ran out: skipped (`bucket`), sent next run.

        Not an attempt: the row keeps the attempts the lead had before this run and the content
        it was about to send, so a later send of that content carries the same count.
        """
        ids = [i for i in ids if i in self.unresolved]
        if not ids:
            return
        self.unresolved.difference_update(ids)
        self.report.skipped[bucket] = self.report.skipped.get(bucket, 0) + len(ids)
        self._write([_row(i, "skipped", f"{bucket}: {reason}"[:500], self.attempts[i] - 1, self._hash(i))
                     for i in ids])

    def defer(self, exc: Exception) -> None:
        """The CRM's daily allowance is spent: every lead not yet confirmed waits for its next day.

        The run ends `deferred` (the Dagster step fails without retries: retrying today cannot
        help); no lead is charged an attempt or marked rejected. `exc` is one of the adapter's
        `deferral_errors`: it carries `resume_at` and `time_zone`.
        """
        why = deferred_reason(self.crm, exc.resume_at, exc.time_zone).removeprefix("deferred: ")
        self.skip_unresolved(sorted(self.unresolved), why, bucket="deferred")
        self.report.status, self.report.resume_at = "deferred", exc.resume_at.isoformat(timespec="seconds")
        self.report.message = f"deferred to the account's next day: {short(exc)}"
        self.log.warning("CRM sync deferred: %s", self.report.message)

    def persist_calls(self, run_id: str | None) -> None:
        """Write the client's call log to `vendor_calls` (same accounting as every vendor)."""
        drain = getattr(self.client, "drain_calls", None)
        if drain is None:
            return
        calls = drain()
        self.report.requests += len(calls)
        if hasattr(self.client, "limiter"):
            self.report.rate_limit_wait_s = round(getattr(self.client.limiter, "waited", 0.0), 2)
        self.report.token_refreshes = getattr(self.client, "token_refreshes", 0)
        rows = [c.as_row(None, run_id) for c in calls]
        try:
            self.store.record_vendor_calls(rows)
        except Exception:  # the call log must never turn a finished sync into a failed one
            self.log.exception("could not record %d CRM calls", len(rows))


def _row(lead_id: str, state: str, reason: str | None, attempts: int, content_hash: str | None, **more) -> dict:
    """One `crm_sync_state` row to write."""
    return {"lead_id": lead_id, "state": state, "reason": reason, "attempts": attempts,
            "content_hash": content_hash, **more}
