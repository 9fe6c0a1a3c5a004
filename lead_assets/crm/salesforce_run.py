"""Salesforce's send path: the Bulk API 2.0 CSV payload and `SalesforceRun`, which submits ingest jobs
(upsert on the External ID), waits for them and records each record's outcome."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from lead_assets.core.crm_mapping import is_permanent
from lead_assets.crm.runner import CrmRun


def csv_payload(values: pd.DataFrame, columns: Sequence[str]) -> str:
    """CSV for Bulk API 2.0 (comma, LF, RFC 4180 quoting); missing values are empty cells.

    Values are expected to be neutralised already (`map_leads` does it); an empty cell leaves
    the Salesforce field unchanged, so gaps never erase CRM data.
    """
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    writer.writerow(columns)
    frame = values.reindex(columns=list(columns)).astype(object)
    writer.writerows(frame.where(frame.notna(), "").itertuples(index=False, name=None))
    return out.getvalue()


def salesforce_error_code(sf_error: str) -> str:
    """The status code of an ``sf__Error`` cell (``REQUIRED_FIELD_MISSING:Required fields ...``)."""
    return (sf_error or "").split(":", 1)[0].strip() or "UNKNOWN"


@dataclass
class _Job:
    job_id: str
    ids: list[str]
    by_key: dict[str, str]  # external id value as sent -> lead id


class SalesforceRun(CrmRun):
    """Sends the mapped leads as Bulk API 2.0 upsert jobs and records each Lead's outcome."""

    def send(self, ids: list[str], leads: pd.DataFrame, states: pd.DataFrame) -> None:
        sf = self.adapter.settings(self.config)
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
        sf = self.adapter.settings(self.config)
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
        sf = self.adapter.settings(self.config)
        values = self.mapped.values.loc[ids]
        info = self.client.create_job("Lead", "upsert", sf.external_id_field)
        self.client.upload(info["id"], csv_payload(values, columns))
        self.client.close(info["id"])
        self.report.jobs += 1
        keys = values[sf.external_id_field]
        return _Job(info["id"], ids, dict(zip(keys.astype(str), ids, strict=True)))

    def _collect(self, job: _Job, info: dict, columns: list[str]) -> list[_Job]:
        """Record a finished job's outcomes; returns the split jobs a failed job needs."""
        outcomes, seen = self._row_outcomes(job, info)
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
        permanent_errors = self.adapter.settings(self.config).permanent_errors
        for lead_id in leftover:
            if failed_job:
                code = next((c for c in permanent_errors if c in message), None)
                outcomes.append({"lead_id": lead_id, "state": "rejected", "permanent": code is not None,
                                 "reason": f"job {info.get('state')}: {message}"[:500]})
            else:
                outcomes.append({"lead_id": lead_id, "state": "rejected", "permanent": False,
                                 "reason": "Salesforce returned no result for this record"})
        self.record(outcomes)
        return []

    def _row_outcomes(self, job: _Job, info: dict) -> tuple[list[dict], set[str]]:
        """The outcomes of the job's successful and failed rows, and the lead ids they cover."""
        sf = self.adapter.settings(self.config)
        results = self.client.results(job.job_id, info)
        ext = sf.external_id_field
        outcomes, seen = [], set()
        for row in results.successful:
            lead_id = job.by_key.get(row.get(ext, ""))
            if lead_id is None or lead_id in seen:
                continue
            seen.add(lead_id)
            created = str(row.get("sf__Created", "")).lower() == "true"
            outcomes.append({"lead_id": lead_id, "state": "created" if created else "updated",
                             "crm_id": row.get("sf__Id") or None})
        for row in results.failed:
            lead_id = job.by_key.get(row.get(ext, ""))
            if lead_id is None or lead_id in seen:
                continue
            seen.add(lead_id)
            error = row.get("sf__Error", "")
            outcomes.append({"lead_id": lead_id, "state": "rejected", "crm_id": row.get("sf__Id") or None,
                             "permanent": is_permanent(salesforce_error_code(error), sf.permanent_errors),
                             "reason": error[:500]})
        return outcomes, seen
