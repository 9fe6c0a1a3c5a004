"""Push qualified, unsuppressed leads into the configured CRM, exactly once, nothing lost.

`sync_to_crm` is the whole run, in this order:

1. Validate the mapping against the CRM's own schema (HubSpot property list, Salesforce
   describe of Lead). A missing or mistyped field stops the run *before* any record is sent.
2. Read the leads and their `crm_sync_state`; decide per lead: skipped (unqualified,
   suppressed, over budget), rejected before sending (too long by rule, required field
   missing, no LinkedIn URL), unchanged (the CRM holds this exact content), held (rejected
   for a permanent reason, unchanged since: reported once already), gave up (fixable
   rejection out of attempts), or send.
3. Mark what is sent `pending`, send it in bulk (HubSpot batch upsert of <= 100; Salesforce
   Bulk API 2.0 upsert jobs on the External ID), record each record's outcome as it comes
   back. A batch the CRM refuses as a whole is split in halves until the bad record stands
   alone; a record refused for a fixable reason is retried on the next run, bounded.

Every lead in scope ends the run in exactly one bucket of the `SyncReport`; the state table
says the same per lead. `leads.crm_synced` is set only when the CRM confirmed the record.
Upserts are idempotent on a unique key (email or the canonical LinkedIn URL), so re-sending
a record whose outcome was lost (a run that died mid-call) cannot create a duplicate.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lead_assets.clients.errors import (
    RateLimitExhausted,
    VendorAuthError,
    VendorCallFailed,
    VendorError,
    VendorRequestError,
)
from lead_assets.clients.hubspot import DailyLimitReached, HubSpotClient
from lead_assets.clients.salesforce import CrmAuthError, CrmLimitError, SalesforceClient
from lead_assets.core.crm_config import CrmConfig
from lead_assets.core.crm_mapping import (
    GAVE_UP,
    HELD,
    SEND,
    UNCHANGED,
    MappedLeads,
    MappingReport,
    csv_payload,
    hubspot_inputs,
    hubspot_keys,
    is_permanent,
    map_leads,
    salesforce_error_code,
    select_for_sync,
    validate_hubspot_mapping,
    validate_salesforce_mapping,
)
from lead_assets.store.crm_sync_state import (
    deferred_reason,
    deferred_until,
    read_states,
    state_counts,
    write_states,
)
from lead_assets.store.lead_store import LeadStore, utc_now

SPLIT_STATUSES = frozenset({400, 409, 413, 422})
MAX_REPORTED_REJECTIONS = 50


class CrmSyncError(RuntimeError):
    """A CRM sync that stopped (mapping invalid, credentials refused, CRM unavailable)."""


@dataclass
class SyncReport:
    """What one run did; every lead in scope is in exactly one of the counted buckets."""

    crm: str | None
    run_id: str | None = None
    status: str = "ok"  # ok | disabled | mapping_invalid | stopped | deferred (a daily limit: resume_at)
    message: str = ""
    retryable: bool = False  # stopped by an outage a later attempt may not meet (not credentials, not limits)
    resume_at: str | None = None  # deferred: when the CRM's daily allowance comes back (ISO, UTC)
    considered: int = 0
    sent: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected_permanent: int = 0  # newly rejected this run, reported now
    rejected_fixable: int = 0  # retried on the next run
    held: int = 0  # rejected for a permanent reason earlier, unchanged since: not resent
    gave_up: int = 0  # fixable rejections out of attempts: now permanent, reported now
    skipped: dict[str, int] = field(default_factory=dict)
    pending: int = 0  # not resolved because the run stopped: resent next run
    truncated: int = 0
    requests: int = 0
    batches: int = 0
    batch_splits: int = 0
    jobs: int = 0
    token_refreshes: int = 0
    rate_limit_wait_s: float = 0.0
    duration_s: float = 0.0
    max_lag_s: float | None = None
    mapping: MappingReport | None = None
    rejections: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True unless the run stopped (a disabled sync is not a failure)."""
        return self.status in ("ok", "disabled")

    @property
    def rejected(self) -> int:
        """Rejections recorded by this run."""
        return self.rejected_permanent + self.rejected_fixable + self.gave_up

    @property
    def accounted(self) -> int:
        """Leads placed in a bucket: equals `considered` unless something was lost."""
        return (
            self.created
            + self.updated
            + self.unchanged
            + self.rejected
            + self.held
            + sum(self.skipped.values())
            + self.pending
        )

    def as_metadata(self) -> dict[str, Any]:
        """Flat JSON-ready numbers for the asset's metadata and the status command."""
        data = asdict(self)
        data.pop("mapping")
        data["rejections"] = self.rejections[:10]
        data["rejected"] = self.rejected
        data["accounted"] = self.accounted
        data["mapping_problems"] = list(self.mapping.problems) if self.mapping else []
        return data

    def raise_for_status(self) -> None:
        """Raise `CrmSyncError` with the report's message when the run stopped."""
        if not self.ok:
            raise CrmSyncError(f"CRM sync {self.status}: {self.message}")


@dataclass
class SetupReport:
    """What `crm_setup` did and the mapping it validated afterwards."""

    crm: str
    created: list[str]
    existing: list[str]
    mapping: MappingReport

    def format(self) -> str:
        """Readable summary for the CLI."""
        lines = [
            f"{self.crm}: created {len(self.created)} propert{'y' if len(self.created) == 1 else 'ies'}"
            + (f" ({', '.join(self.created)})" if self.created else "")
        ]
        if self.existing:
            lines.append(f"already present: {', '.join(self.existing)}")
        lines += ["", self.mapping.format()]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Entry points.
# --------------------------------------------------------------------------------------------


def build_crm_client(config: CrmConfig, *, logger: logging.Logger | None = None, sleep=None):
    """The client for `config.target` (None when no CRM is configured); ValueError names a missing setting."""
    if config.target == "hubspot":
        hs = config.hubspot
        if not hs.access_token:
            raise ValueError("CRM_TARGET=hubspot needs HUBSPOT_ACCESS_TOKEN")
        return HubSpotClient(
            hs.base_url,
            hs.access_token,
            ten_second_limit=hs.ten_second_limit,
            daily_limit=hs.daily_limit,
            margin=hs.margin_seconds,
            account_time_zone=hs.account_time_zone,
            timeout=hs.timeout,
            max_attempts=hs.max_attempts,
            logger=logger,
            sleep=sleep,
        )
    if config.target == "salesforce":
        sf = config.salesforce
        if not sf.client_id:
            raise ValueError("CRM_TARGET=salesforce needs SALESFORCE_CLIENT_ID (and a secret or a JWT key)")
        key = Path(sf.jwt_key_file).read_text() if sf.jwt_key_file else None
        return SalesforceClient(
            sf.login_url,
            sf.client_id,
            sf.client_secret,
            api_version=sf.api_version,
            auth_flow=sf.auth_flow,
            username=sf.username,
            private_key=key,
            timeout=sf.timeout,
            max_attempts=sf.max_attempts,
            logger=logger,
            sleep=sleep,
        )
    return None


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
    if crm not in ("hubspot", "salesforce"):
        raise ValueError(f"unknown CRM {crm!r}")
    started = time.monotonic()
    runner_cls = _HubSpotRun if crm == "hubspot" else _SalesforceRun
    runner = runner_cls(store, client, config, report, log)
    def stop(message: str, *, retryable: bool = False) -> None:
        report.status, report.message, report.retryable = "stopped", message, retryable
        runner.leave_pending(message)
        log.error("CRM sync stopped: %s", message)

    try:
        runner.run(lead_ids, set(suppressed), max_records)
    except DailyLimitReached as exc:
        runner.defer(exc)
    except RateLimitExhausted as exc:
        stop(f"{crm} API allowance spent: {_short(exc)}")
    except (CrmAuthError, CrmLimitError, VendorAuthError) as exc:
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


def crm_setup(crm: str, client: Any, config: CrmConfig, log: logging.Logger | None = None) -> SetupReport:
    """Create the custom properties the mapping needs (HubSpot), then validate and show the mapping.

    Salesforce fields cannot be created through the APIs the export uses: the report lists
    what is missing for an admin to add in Setup.
    """
    log = log or logging.getLogger("lead_sprint.crm")
    if crm == "hubspot":
        hs = config.hubspot
        present = {p.get("name") for p in client.list_properties() if not p.get("archived")}
        created, existing = [], []
        for definition in hubspot_property_definitions(config):
            if definition["name"] in present:
                existing.append(definition["name"])
                continue
            if client.create_property(definition) is not None:
                created.append(definition["name"])
                log.info("created HubSpot contact property %s", definition["name"])
            else:
                existing.append(definition["name"])
        mapping = validate_hubspot_mapping(hs.fields, client.list_properties(), hs.linkedin_id_property)
        return SetupReport(crm, created, existing, mapping)
    if crm == "salesforce":
        sf = config.salesforce
        mapping = validate_salesforce_mapping(sf.fields, client.describe("Lead"), sf.external_id_field)
        return SetupReport(crm, [], [], mapping)
    raise ValueError(f"unknown CRM {crm!r}")


def hubspot_property_definitions(config: CrmConfig) -> list[dict]:
    """The unique LinkedIn id property plus the configured custom properties, as POST bodies."""
    hs = config.hubspot
    defs = [
        {
            "name": hs.linkedin_id_property,
            "label": "LinkedIn URL (canonical, lead-sprint)",
            "description": "Canonical LinkedIn profile URL; lead-sprint upserts contacts without an email by it.",
            "type": "string",
            "fieldType": "text",
            "groupName": "contactinformation",
            "hasUniqueValue": True,
        }
    ]
    for prop in hs.custom_properties:
        defs.append({"groupName": "contactinformation", "description": "Written by lead-sprint.", **prop})
    return defs


def crm_status(store: LeadStore, config: CrmConfig) -> dict[str, Any]:
    """The CRM part of `lead-sprint status`: target, whether sync is on, state counts."""
    if config.target is None:
        return {"target": None, "enabled": False, "message": "CRM_TARGET is unset: no CRM sync", "states": {}}
    counts = state_counts(store, config.target).get(config.target, {})
    synced = store.read_sql("SELECT count(*) AS n FROM leads WHERE crm_synced = :t", {"t": True})
    return {
        "target": config.target,
        "enabled": True,
        "message": f"syncing to {config.target}",
        "states": counts,
        "crm_synced": int(synced["n"].iloc[0]) if len(synced) else 0,
    }


# --------------------------------------------------------------------------------------------
# The shared run.
# --------------------------------------------------------------------------------------------


class _Run:
    """One sync run; subclasses fetch the schema and send batches."""

    crm = ""

    def __init__(
        self, store: LeadStore, client: Any, config: CrmConfig, report: SyncReport, log: logging.Logger
    ):
        self.store, self.client, self.config, self.report, self.log = store, client, config, report, log
        self.mapped: MappedLeads | None = None
        self.attempts: dict[str, int] = {}
        self.unresolved: set[str] = set()
        self.updated_at: pd.Series | None = None
        self.lags: list[float] = []

    # -- subclass hooks --

    def validate(self) -> MappingReport:
        raise NotImplementedError

    def identity_field(self) -> str:
        raise NotImplementedError

    def send(self, ids: list[str], leads: pd.DataFrame, states: pd.DataFrame) -> None:
        raise NotImplementedError

    # -- the run --

    def run(self, lead_ids: Sequence[str] | None, suppressed: set[str], max_records: int | None) -> None:
        report = self.report
        resume = deferred_until(self.store, self.crm)
        if resume is not None and resume > utc_now():
            # An earlier run met the daily limit: asking again before it resets only adds refusals.
            report.status, report.resume_at = "deferred", resume.isoformat(timespec="seconds")
            report.message = (f"deferred: {self.crm}'s DAILY API limit was spent by an earlier run; "
                              f"nothing is sent before {report.resume_at}")
            return
        report.mapping = mapping = self.validate()
        if not mapping.ok:
            report.status = "mapping_invalid"
            report.message = "mapping does not match the CRM; nothing was sent\n" + mapping.format()
            return
        leads = self.store.read_leads() if lead_ids is None else self.store.fetch_leads(list(lead_ids))
        leads = leads.astype({"lead_id": str})
        states = read_states(self.store, self.crm, None if lead_ids is None else leads["lead_id"].tolist())
        states = states[states["lead_id"].isin(leads["lead_id"])]
        report.considered = len(leads)
        self.updated_at = leads.set_index("lead_id")["updated_at"]
        prior = states.set_index("lead_id") if len(states) else states

        qualified = leads["is_qualified"].fillna(False).astype(bool)
        is_suppressed = leads["lead_id"].isin(suppressed)
        self._skip(leads.loc[is_suppressed, "lead_id"], "suppressed", prior)
        self._skip(leads.loc[~is_suppressed & ~qualified, "lead_id"], "unqualified", prior)
        candidates = leads[qualified & ~is_suppressed]
        self.mapped = mapped = map_leads(
            candidates, self.config.rules(self.crm), self.identity_field(), max_lengths=mapping.max_lengths
        )
        report.truncated = int((mapped.truncated != "").sum())
        pre_rejected = mapped.reject_reason.dropna()
        self._pre_reject(pre_rejected, prior)
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
        self._write(
            [
                {
                    "lead_id": i,
                    "state": "pending",
                    "reason": None,
                    "attempts": self.attempts[i],
                    "content_hash": mapped.content_hash[i],
                }
                for i in to_send
            ]
        )
        self.unresolved = set(to_send)
        report.sent = len(to_send)
        if to_send:
            self.send(to_send, candidates, states)
        if self.unresolved:  # a stop inside send() left these without an outcome
            self.leave_pending(report.message or "run ended before the CRM answered")
        if self.lags:
            report.max_lag_s = round(max(self.lags), 1)

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
            rows.append(
                {
                    "lead_id": lead_id,
                    "state": "skipped",
                    "reason": reason,
                    "attempts": int(prior.at[lead_id, "attempts"]) if lead_id in prior.index else 0,
                    "content_hash": prior.at[lead_id, "content_hash"] if lead_id in prior.index else None,
                }
            )
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
            rows.append(
                {
                    "lead_id": lead_id,
                    "state": "rejected",
                    "reason": reason,
                    "permanent": True,
                    "attempts": 0,
                    "content_hash": digest,
                }
            )
        self._write(rows)

    def _give_up(self, ids: pd.Index, prior: pd.DataFrame) -> None:
        rows = []
        for lead_id in ids:
            attempts = int(prior.at[lead_id, "attempts"])
            reason = f"gave up after {attempts} attempts: {prior.at[lead_id, 'reason']}"
            self.report.gave_up += 1
            self._note_rejection(lead_id, reason, True)
            rows.append(
                {
                    "lead_id": lead_id,
                    "state": "rejected",
                    "reason": reason,
                    "permanent": True,
                    "attempts": attempts,
                    "content_hash": prior.at[lead_id, "content_hash"],
                }
            )
        self._write(rows)

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
        self._write(
            [
                {
                    "lead_id": i,
                    "state": "pending",
                    "reason": f"not confirmed: {why}"[:500],
                    "attempts": self.attempts.get(i, 0),
                    "content_hash": self.mapped.content_hash[i] if self.mapped is not None else None,
                }
                for i in ids
            ]
        )
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
        self._write(
            [
                {
                    "lead_id": i,
                    "state": "skipped",
                    "reason": f"{bucket}: {reason}"[:500],
                    "attempts": self.attempts[i] - 1,
                    "content_hash": self.mapped.content_hash[i] if self.mapped is not None else None,
                }
                for i in ids
            ]
        )

    def defer(self, exc: DailyLimitReached) -> None:
        """The CRM's daily allowance is spent: every lead not yet confirmed waits for its next day.

        The run ends `deferred` (the Dagster step fails without retries: retrying today cannot
        help); no lead is charged an attempt or marked rejected.
        """
        why = deferred_reason(self.crm, exc.resume_at, exc.time_zone).removeprefix("deferred: ")
        self.skip_unresolved(sorted(self.unresolved), why, bucket="deferred")
        self.report.status, self.report.resume_at = "deferred", exc.resume_at.isoformat(timespec="seconds")
        self.report.message = f"deferred to the account's next day: {_short(exc)}"
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


# --------------------------------------------------------------------------------------------
# HubSpot.
# --------------------------------------------------------------------------------------------


class _HubSpotRun(_Run):
    crm = "hubspot"

    def identity_field(self) -> str:
        return self.config.hubspot.linkedin_id_property

    def validate(self) -> MappingReport:
        hs = self.config.hubspot
        return validate_hubspot_mapping(hs.fields, self.client.list_properties(), hs.linkedin_id_property)

    def send(self, ids: list[str], leads: pd.DataFrame, states: pd.DataFrame) -> None:
        hs, values = self.config.hubspot, self.mapped.values
        has_contact = states.set_index("lead_id")["crm_id"].notna() if len(states) else pd.Series(dtype=bool)
        shared = self.store.read_sql(
            "SELECT email FROM leads WHERE email IS NOT NULL GROUP BY email HAVING count(*) > 1"
        )["email"]
        email_unique = ~leads.set_index("lead_id")["email"].isin(set(shared))
        keys = hubspot_keys(values, hs.linkedin_id_property, has_contact, email_unique)
        queue: deque[list[str]] = deque(ids[i : i + hs.batch_size] for i in range(0, len(ids), hs.batch_size))
        rekeyed: set[str] = set()
        failures = 0
        while queue:
            batch = queue.popleft()
            try:
                outcome = self.client.batch_upsert(hubspot_inputs(values, keys, batch))
            except VendorRequestError as exc:
                if exc.status not in SPLIT_STATUSES:
                    raise  # 404 and the like: a wrong base URL or path, not a bad record; stop
                if len(batch) > 1:
                    # The CRM refused the batch as a whole: halve it until the bad record is alone.
                    half = len(batch) // 2
                    queue.extendleft([batch[half:], batch[:half]])
                    self.report.batch_splits += 1
                    continue
                self.record(
                    [{"lead_id": batch[0], "state": "rejected", "permanent": True, "reason": _short(exc)}]
                )
                continue
            except DailyLimitReached:
                raise  # the rest of the sync waits for the account's next day: `defer`
            except RateLimitExhausted as exc:
                # The burst window stays full longer than a run waits: the rest goes next run, as over budget.
                rest = [i for b in (batch, *queue) for i in b]
                self.skip_unresolved(rest, f"HubSpot API allowance spent ({_short(exc)})")
                self.report.status, self.report.message = (
                    "stopped",
                    f"HubSpot API allowance spent: {_short(exc)}",
                )
                return
            except VendorCallFailed as exc:
                failures += 1
                self.record(
                    [
                        {
                            "lead_id": i,
                            "state": "rejected",
                            "permanent": False,
                            "reason": f"call failed: {_short(exc)}",
                        }
                        for i in batch
                    ]
                )
                if failures >= self.config.max_consecutive_call_failures:
                    self.report.status, self.report.retryable = "stopped", True
                    self.report.message = (
                        f"HubSpot unavailable ({failures} calls failed in a row): {_short(exc)}"
                    )
                    self.leave_pending(self.report.message)
                    return
                continue
            failures = 0
            self.report.batches += 1
            retry = self._outcomes(batch, outcome, keys, rekeyed)
            if retry:
                # Keyed by email, the contact's LinkedIn id belongs to another contact: this lead's
                # contact exists under its LinkedIn id (e.g. state lost), so upsert by that instead.
                keys.loc[retry, "idProperty"] = hs.linkedin_id_property
                keys.loc[retry, "id"] = values.loc[retry, hs.linkedin_id_property]
                rekeyed.update(retry)
                queue.append(retry)

    def _outcomes(self, batch: list[str], outcome, keys: pd.DataFrame, rekeyed: set[str]) -> list[str]:
        permanent = self.config.hubspot.permanent_categories
        by_trace = {str(r.get("objectWriteTraceId")): r for r in outcome.results if isinstance(r, dict)}
        if len(by_trace) < len(outcome.results):  # no trace ids: fall back to the id property value
            by_key = {}
            for r in outcome.results:
                props = r.get("properties") or {}
                for lead_id in batch:
                    if props.get(keys.at[lead_id, "idProperty"]) == keys.at[lead_id, "id"]:
                        by_key[lead_id] = r
            by_trace.update(by_key)
        results, retry = [], []
        errors = {t: e for e in outcome.errors for t in e.trace_ids}
        for lead_id in batch:
            hit = by_trace.get(lead_id)
            if hit is not None:
                results.append(
                    {
                        "lead_id": lead_id,
                        "state": "created" if hit.get("new") else "updated",
                        "crm_id": str(hit.get("id")),
                    }
                )
            elif lead_id in errors:
                e = errors[lead_id]
                if (
                    e.category == "CONFLICT"
                    and keys.at[lead_id, "idProperty"] == "email"
                    and lead_id not in rekeyed
                ):
                    retry.append(lead_id)
                    continue
                results.append(
                    {
                        "lead_id": lead_id,
                        "state": "rejected",
                        "permanent": is_permanent(e.category, permanent),
                        "reason": f"{e.category}{' ' + ','.join(e.codes) if e.codes else ''}: {e.message}"[
                            :500
                        ],
                    }
                )
            else:
                results.append(
                    {
                        "lead_id": lead_id,
                        "state": "rejected",
                        "permanent": False,
                        "reason": "HubSpot returned no result for this record",
                    }
                )
        self.record(results)
        return retry


# --------------------------------------------------------------------------------------------
# Salesforce.
# --------------------------------------------------------------------------------------------


@dataclass
class _Job:
    job_id: str
    ids: list[str]
    by_key: dict[str, str]  # external id value as sent -> lead id


class _SalesforceRun(_Run):
    crm = "salesforce"

    def identity_field(self) -> str:
        return self.config.salesforce.external_id_field

    def validate(self) -> MappingReport:
        sf = self.config.salesforce
        return validate_salesforce_mapping(sf.fields, self.client.describe("Lead"), sf.external_id_field)

    def send(self, ids: list[str], leads: pd.DataFrame, states: pd.DataFrame) -> None:
        sf = self.config.salesforce
        columns = [r.target for r in sf.fields] + [sf.external_id_field]
        outstanding = [self._submit(chunk, columns) for chunk in self._chunks(ids, columns)]
        while outstanding:
            infos = self.client.wait(
                [j.job_id for j in outstanding],
                poll_interval=sf.poll_interval,
                max_interval=sf.poll_max_interval,
                timeout=sf.job_timeout,
            )
            next_round = []
            for job in outstanding:
                next_round += self._collect(job, infos[job.job_id], columns)
            outstanding = next_round

    def _chunks(self, ids: list[str], columns: list[str]) -> list[list[str]]:
        sf = self.config.salesforce
        row_bytes = (
            self.mapped.values.loc[ids, columns]
            .fillna("")
            .astype(str)
            .apply(lambda col: col.str.len())
            .sum(axis=1)
            + len(columns) * 3
        )
        chunks, current, size = [], [], 0
        for lead_id in ids:
            nbytes = int(row_bytes[lead_id])
            if current and (len(current) >= sf.job_size or size + nbytes > sf.max_job_bytes):
                chunks.append(current)
                current, size = [], 0
            current.append(lead_id)
            size += nbytes
        if current:
            chunks.append(current)
        return chunks

    def _submit(self, ids: list[str], columns: list[str]) -> _Job:
        sf = self.config.salesforce
        values = self.mapped.values.loc[ids]
        info = self.client.create_job("Lead", "upsert", sf.external_id_field)
        self.client.upload(info["id"], csv_payload(values, columns))
        self.client.close(info["id"])
        self.report.jobs += 1
        keys = values[sf.external_id_field]
        return _Job(info["id"], ids, dict(zip(keys.astype(str), ids, strict=True)))

    def _collect(self, job: _Job, info: dict, columns: list[str]) -> list[_Job]:
        """Record a finished job's outcomes; returns the split jobs a failed job needs."""
        sf = self.config.salesforce
        results = self.client.results(job.job_id, info)
        ext = sf.external_id_field
        outcomes, seen = [], set()
        for row in results.successful:
            lead_id = job.by_key.get(row.get(ext, ""))
            if lead_id is None or lead_id in seen:
                continue
            seen.add(lead_id)
            created = str(row.get("sf__Created", "")).lower() == "true"
            outcomes.append(
                {
                    "lead_id": lead_id,
                    "state": "created" if created else "updated",
                    "crm_id": row.get("sf__Id") or None,
                }
            )
        for row in results.failed:
            lead_id = job.by_key.get(row.get(ext, ""))
            if lead_id is None or lead_id in seen:
                continue
            seen.add(lead_id)
            error = row.get("sf__Error", "")
            code = salesforce_error_code(error)
            outcomes.append(
                {
                    "lead_id": lead_id,
                    "state": "rejected",
                    "crm_id": row.get("sf__Id") or None,
                    "permanent": is_permanent(code, sf.permanent_errors),
                    "reason": error[:500],
                }
            )
        failed_job = info.get("state") in ("Failed", "Aborted")
        leftover = [i for i in job.ids if i not in seen]
        if failed_job and len(leftover) > 1:
            # The job failed as a whole: resubmit each half so the bad record ends up alone.
            self.record(outcomes)
            half = len(leftover) // 2
            self.report.batch_splits += 1
            self.log.warning(
                "salesforce job %s failed (%s); splitting %d records",
                job.job_id,
                info.get("errorMessage"),
                len(leftover),
            )
            return [self._submit(part, columns) for part in (leftover[:half], leftover[half:])]
        message = info.get("errorMessage") or "unprocessed"
        for lead_id in leftover:
            if failed_job:
                code = next((c for c in sf.permanent_errors if c in message), None)
                outcomes.append(
                    {
                        "lead_id": lead_id,
                        "state": "rejected",
                        "permanent": code is not None,
                        "reason": f"job {info.get('state')}: {message}"[:500],
                    }
                )
            else:
                outcomes.append(
                    {
                        "lead_id": lead_id,
                        "state": "rejected",
                        "permanent": False,
                        "reason": "Salesforce returned no result for this record",
                    }
                )
        self.record(outcomes)
        return []


def _short(exc: BaseException, limit: int = 300) -> str:
    text = str(exc)
    if isinstance(exc, VendorError) and text.startswith(f"{exc.vendor}: "):
        text = text[len(exc.vendor) + 2 :]
    return text[:limit]
