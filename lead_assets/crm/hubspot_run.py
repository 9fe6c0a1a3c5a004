"""HubSpot's send path: the batch upsert payloads and `HubSpotRun`, which sends them and records outcomes.

Contacts are upserted in batches of <= 100 (`POST /crm/v3/objects/contacts/batch/upsert`), each
input keyed by email or by the unique LinkedIn id property (`hubspot_keys`) and traced by its
lead id (`objectWriteTraceId`). A batch HubSpot refuses as a whole is halved until the bad
record stands alone.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import numpy as np
import pandas as pd

from lead_assets.clients.errors import RateLimitExhausted, VendorCallFailed, VendorRequestError
from lead_assets.clients.hubspot import DailyLimitReached
from lead_assets.core.crm_mapping import is_permanent
from lead_assets.crm.report import short
from lead_assets.crm.runner import CrmRun

SPLIT_STATUSES = frozenset({400, 409, 413, 422})
_STOP = object()  # `_upsert`: the run stopped, send nothing more


def hubspot_keys(
    values: pd.DataFrame, id_property: str, has_contact: pd.Series, email_unique: pd.Series
) -> pd.DataFrame:
    """Which unique property each lead is upserted by: ``idProperty`` and ``id`` columns.

    Email when the lead has one, no contact yet, and no other lead shares the address (so it
    cannot land on someone else's contact); otherwise the LinkedIn id property, which every
    contact we write carries, so a lead that gains an email later updates the contact it has.
    """
    email = (
        values["email"] if "email" in values.columns else pd.Series(None, index=values.index, dtype=object)
    )
    has_contact = has_contact.astype(bool).reindex(values.index, fill_value=False)
    email_unique = email_unique.astype(bool).reindex(values.index, fill_value=False)
    by_email = email.notna() & ~has_contact & email_unique
    return pd.DataFrame(
        {
            "idProperty": np.where(by_email, "email", id_property),
            "id": np.where(by_email, email.astype(object), values[id_property].astype(object)),
        },
        index=values.index,
    )


def hubspot_inputs(values: pd.DataFrame, keys: pd.DataFrame, lead_ids: Iterable[str]) -> list[dict]:
    """Batch upsert inputs for `lead_ids` (`objectWriteTraceId` = lead id, for correlation)."""
    ids = list(lead_ids)
    rows = values.loc[ids].to_dict("index")
    key_rows = keys.loc[ids].to_dict("index")
    return [
        {
            "idProperty": key_rows[lead_id]["idProperty"],
            "id": key_rows[lead_id]["id"],
            "properties": {k: v for k, v in rows[lead_id].items() if v is not None and v == v},
            "objectWriteTraceId": lead_id,
        }
        for lead_id in ids
    ]


class HubSpotRun(CrmRun):
    """Sends the mapped leads as batch upserts and records each contact's outcome."""

    def send(self, ids: list[str], leads: pd.DataFrame, states: pd.DataFrame) -> None:
        hs, values = self.adapter.settings(self.config), self.mapped.values
        has_contact = states.set_index("lead_id")["crm_id"].notna() if len(states) else pd.Series(dtype=bool)
        shared = self.store.read_sql(
            "SELECT email FROM leads WHERE email IS NOT NULL GROUP BY email HAVING count(*) > 1"
        )["email"]
        email_unique = ~leads.set_index("lead_id")["email"].isin(set(shared))
        keys = hubspot_keys(values, hs.linkedin_id_property, has_contact, email_unique)
        queue: deque[list[str]] = deque(ids[i : i + hs.batch_size] for i in range(0, len(ids), hs.batch_size))
        rekeyed: set[str] = set()
        self.failures = 0
        while queue:
            batch = queue.popleft()
            outcome = self._upsert(batch, queue, keys)
            if outcome is _STOP:
                return
            if outcome is None:
                continue
            self.report.batches += 1
            retry = self._outcomes(batch, outcome, keys, rekeyed)
            if retry:
                # Keyed by email, the contact's LinkedIn id belongs to another contact: this lead's
                # contact exists under its LinkedIn id (e.g. state lost), so upsert by that instead.
                keys.loc[retry, "idProperty"] = hs.linkedin_id_property
                keys.loc[retry, "id"] = values.loc[retry, hs.linkedin_id_property]
                rekeyed.update(retry)
                queue.append(retry)

    def _upsert(self, batch: list[str], queue: deque[list[str]], keys: pd.DataFrame):
        """The batch's outcome; None when the batch was dealt with here (split, rejected); `_STOP` ends the run."""
        try:
            outcome = self.client.batch_upsert(hubspot_inputs(self.mapped.values, keys, batch))
        except VendorRequestError as exc:
            if exc.status not in SPLIT_STATUSES:
                raise  # 404 and the like: a wrong base URL or path, not a bad record; stop
            if len(batch) > 1:
                # The CRM refused the batch as a whole: halve it until the bad record is alone.
                half = len(batch) // 2
                queue.extendleft([batch[half:], batch[:half]])
                self.report.batch_splits += 1
            else:
                self.record([{"lead_id": batch[0], "state": "rejected", "permanent": True, "reason": short(exc)}])
            return None
        except DailyLimitReached:
            raise  # the rest of the sync waits for the account's next day: `defer`
        except RateLimitExhausted as exc:
            # The burst window stays full longer than a run waits: the rest goes next run, as over budget.
            rest = [i for b in (batch, *queue) for i in b]
            self.skip_unresolved(rest, f"HubSpot API allowance spent ({short(exc)})")
            self.report.status, self.report.message = "stopped", f"HubSpot API allowance spent: {short(exc)}"
            return _STOP
        except VendorCallFailed as exc:
            return self._call_failed(batch, exc)
        self.failures = 0
        return outcome

    def _call_failed(self, batch: list[str], exc: VendorCallFailed):
        """A batch whose call exhausted its retries: rejected as fixable; too many in a row stop the run."""
        self.failures += 1
        self.record([{"lead_id": i, "state": "rejected", "permanent": False, "reason": f"call failed: {short(exc)}"}
                     for i in batch])
        if self.failures < self.config.max_consecutive_call_failures:
            return None
        self.report.status, self.report.retryable = "stopped", True
        self.report.message = f"HubSpot unavailable ({self.failures} calls failed in a row): {short(exc)}"
        self.leave_pending(self.report.message)
        return _STOP

    def _outcomes(self, batch: list[str], outcome, keys: pd.DataFrame, rekeyed: set[str]) -> list[str]:
        """Record each lead's outcome; returns the leads to upsert again by their LinkedIn id."""
        permanent = self.adapter.settings(self.config).permanent_categories
        by_trace = _results_by_lead(batch, outcome, keys)
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
                if e.category == "CONFLICT" and keys.at[lead_id, "idProperty"] == "email" and lead_id not in rekeyed:
                    retry.append(lead_id)
                    continue
                reason = f"{e.category}{' ' + ','.join(e.codes) if e.codes else ''}: {e.message}"[:500]
                results.append({"lead_id": lead_id, "state": "rejected",
                                "permanent": is_permanent(e.category, permanent), "reason": reason})
            else:
                results.append({"lead_id": lead_id, "state": "rejected", "permanent": False,
                                "reason": "HubSpot returned no result for this record"})
        self.record(results)
        return retry


def _results_by_lead(batch: list[str], outcome, keys: pd.DataFrame) -> dict[str, dict]:
    """The batch's results by lead id: by trace id, or by the id property value when HubSpot omits them."""
    by_trace = {str(r.get("objectWriteTraceId")): r for r in outcome.results if isinstance(r, dict)}
    if len(by_trace) < len(outcome.results):  # no trace ids: fall back to the id property value
        by_key = {}
        for r in outcome.results:
            props = r.get("properties") or {}
            for lead_id in batch:
                if props.get(keys.at[lead_id, "idProperty"]) == keys.at[lead_id, "id"]:
                    by_key[lead_id] = r
        by_trace.update(by_key)
    return by_trace
