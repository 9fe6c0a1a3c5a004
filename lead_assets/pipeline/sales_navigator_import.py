"""Import lawfully held Sales Navigator lead lists (CSV) dropped in a folder, as source `sales_navigator`.

The project never scrapes LinkedIn (see docs/sales_navigator_import.md). An hour of this
source imports the files that arrived and no earlier hour landed; each file is landed
verbatim (`raw_landings`, kind `import`, keyed by name and content hash) before it is
parsed, so re-running the hour replays exactly its files. A row that carries only a Sales
Navigator URL keeps it as an alternate key and is matched to an existing lead by email,
or by normalised name plus company domain; `lead_sources.match_method` says which. A row
that matched nobody yet is quarantined with its fields; every later hour looks for its lead
again (parallel collection may store it a minute after the import), and a row that now
matches leaves the quarantine for `lead_sources`.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from lead_assets.core.normalise import website_domain
from lead_assets.core.sales_navigator_csv import match_key_name_domain, parse_export
from lead_assets.core.vendor_records import MAPPED_FIELDS
from lead_assets.pipeline.lead_batches import BatchOutcome, VendorRecord, store_batch
from lead_assets.store.files import FileStorage, LocalStorage, sprint_storage

SOURCE = "sales_navigator"
PATTERNS = ("*.csv", "*.CSV", "*.txt", "*.tsv")


def import_storage(import_dir: str | os.PathLike | None = None) -> FileStorage:
    """Where lead lists are dropped: the folder `import_dir` (SALES_NAVIGATOR_IMPORT_DIR) when set, else
    `imports/sales_navigator/` of the sprint's storage, which the sensor and every run node share."""
    return LocalStorage(import_dir) if import_dir else sprint_storage().child("imports/sales_navigator")


def lead_list_files(files: FileStorage) -> list:
    """The lead-list files at the top of the import storage (`StoredFile`s, by name)."""
    return [f for f in files.list() if "/" not in f.name and any(fnmatch.fnmatchcase(f.name, p) for p in PATTERNS)]
NO_MATCH_REASON = (
    "only a Sales Navigator URL and no email: no existing lead matched by name and company domain"
)


@dataclass
class ImportReport:
    """What one hour of imports did."""

    partition_key: str
    files: int = 0
    files_rejected: int = 0
    files_replayed: int = 0
    rows: int = 0
    rows_rejected: int = 0
    matched_by_name_domain: int = 0
    rematched: int = 0  # rows of earlier imports that matched no lead then and do now
    errors: list[str] = field(default_factory=list)
    batch: BatchOutcome = field(default_factory=BatchOutcome)

    def as_metadata(self) -> dict:
        return {
            "files": self.files, "files_rejected": self.files_rejected, "files_replayed": self.files_replayed,
            "rows": self.rows, "rows_rejected": self.rows_rejected,
            "matched_by_name_domain": self.matched_by_name_domain, "rematched": self.rematched,
            "records": self.batch.records,
            "new_leads": self.batch.new_leads, "merged": self.batch.merged,
            "quarantined": self.batch.quarantined, "errors": len(self.errors),
        }


def file_key(path: str | Path, data: bytes) -> str:
    return f"{Path(path).name}|sha256={hashlib.sha256(data).hexdigest()}"


def import_hour(store, index, matcher, import_dir: Path | FileStorage, hour_key: str, *, run_id: str | None = None,
                replay_only: bool = False, log: logging.Logger | None = None) -> ImportReport:
    """Land the folder's new files under this hour, then store every file this hour owns."""
    log = log or logging.getLogger("lead_sprint.sales_navigator")
    partition_key = f"{hour_key}|{SOURCE}"
    report = ImportReport(partition_key=partition_key)
    files = import_dir if isinstance(import_dir, FileStorage) else LocalStorage(import_dir)
    if not replay_only:
        landed = set(store.read_sql(
            "SELECT request_key FROM raw_landings WHERE source = :s AND request_kind = 'import'", {"s": SOURCE}
        )["request_key"])
        for stored in lead_list_files(files):
            data = files.get(stored.name)
            key = file_key(stored.name, data)
            if key not in landed:
                # base64 keeps any bytes (UTF-16, cp1252, garbage) intact in a text column
                store.land_raw(SOURCE, partition_key, "import", key, base64.b64encode(data).decode(), None, run_id)
    for landing in store.landings(SOURCE, partition_key, "import"):
        name = landing["request_key"].split("|", 1)[0]
        report.files += 1
        _import_file(store, index, matcher, name, base64.b64decode(landing["payload"]), partition_key, report, log)
    if not replay_only:
        rematch_unmatched(store, index, matcher, report, log)
    return report


def rematch_unmatched(store, index, matcher, report: ImportReport, log: logging.Logger) -> None:
    """Match again the rows no lead matched when they were imported; store those that match now.

    Each keeps the partition it was imported under; its quarantine row is removed once its
    source row is stored (it is no longer unaccounted for). Free: nothing is bought.
    """
    waiting = store.read_sql(
        "SELECT quarantine_id, partition_key, payload FROM quarantine WHERE source = :s AND reason LIKE :r",
        {"s": SOURCE, "r": f"%{NO_MATCH_REASON}"})
    if waiting.empty:
        return
    rows = [json.loads(p) for p in waiting["payload"]]
    by_name_domain = _leads_by_name_domain(store, rows)
    matched: dict[str, list[tuple[int, VendorRecord]]] = {}
    for qid, partition_key, row in zip(waiting["quarantine_id"], waiting["partition_key"], rows, strict=True):
        url = row.get("sales_navigator_url")
        record = _matched_record(row, {k: row.get(k) for k in MAPPED_FIELDS}, by_name_domain,
                                 (f"sn:{url}",) if url else ())
        if record is not None:
            matched.setdefault(partition_key, []).append((int(qid), record))
    for partition_key, items in matched.items():
        store_batch([r for _, r in items], source=SOURCE, partition_key=partition_key, store=store, index=index,
                    matcher=matcher, now=datetime.now(UTC))
        store.delete_quarantine([qid for qid, _ in items])
        report.rematched += len(items)
    if report.rematched:
        log.info("sales navigator: %d rows of earlier imports matched a lead collected since", report.rematched)


def _import_file(store, index, matcher, name: str, data: bytes, partition_key: str, report: ImportReport, log):
    result = parse_export(data, name)
    if result.file_error:
        report.files_rejected += 1
        msg = f"{name}: file rejected, nothing imported: {result.file_error}"
        report.errors.append(msg)
        log.error(msg)
        store.quarantine(pd.DataFrame([{"source": SOURCE, "partition_key": partition_key, "vendor_person_id": None,
                                "reason": f"file {name} rejected: {result.file_error}",
                                "payload": data[:4096].decode("utf-8", "replace")}]))
        return
    records: list[VendorRecord] = [
        VendorRecord(payload={"file": name, "line": line, "row": raw}, fields=None,
                     problem=f"{name} line {line}: {reason}")
        for line, reason, raw in result.rejected_rows
    ]
    report.rows_rejected += len(result.rejected_rows)
    by_name_domain = _leads_by_name_domain(store, [f for _, f in result.records])
    for line, fields in result.records:
        payload = {"file": name, "line": line, **fields}
        alt = result.alternate_urls.get(line)
        if alt is None:
            records.append(VendorRecord(payload=payload, fields=fields))
            continue
        extra = (f"sn:{alt}",)
        matched = _matched_record(payload, fields, by_name_domain, extra)
        if matched is not None:  # even with an email: the lead may be known by another one, or none
            report.matched_by_name_domain += 1
            records.append(matched)
        elif fields.get("email"):
            records.append(VendorRecord(payload=payload, fields=fields, extra_keys=extra))
        else:
            # kept whole (the Sales Navigator URL too) so a later hour can match it again
            records.append(VendorRecord(payload={**payload, "sales_navigator_url": alt}, fields=None,
                                        problem=f"{name} line {line}: {NO_MATCH_REASON}"))
    report.rows += len(result.records) + len(result.rejected_rows)
    if records:
        outcome = store_batch(records, source=SOURCE, partition_key=partition_key, store=store, index=index,
                              matcher=matcher, now=datetime.now(UTC))
        report.batch.add(outcome)


def _matched_record(payload: dict, fields: dict, by_name_domain: dict[str, str],
                    extra_keys: tuple[str, ...]) -> VendorRecord | None:
    """The row as a source of the stored lead with its name at its company domain, or None."""
    nd = match_key_name_domain(fields.get("full_name"), fields.get("company_website"))
    lead = by_name_domain.get(nd) if nd else None
    if lead is None:
        return None
    return VendorRecord(payload=payload, fields={**fields, "linkedin_url": lead}, match_method="name_domain",
                        extra_keys=extra_keys)


def _leads_by_name_domain(store, rows: list[dict]) -> dict[str, str]:
    """name|domain -> canonical LinkedIn URL of stored leads at the rows' company domains."""
    domains = sorted({d for r in rows if (d := website_domain(r.get("company_website")))})
    if not domains:
        return {}
    found: dict[str, str] = {}
    ambiguous: set[str] = set()
    for i in range(0, len(domains), 500):
        chunk = domains[i : i + 500]
        params = {f"d{j}": d for j, d in enumerate(chunk)}
        leads = store.read_sql(
            "SELECT full_name, company_website, linkedin_url FROM leads WHERE linkedin_url IS NOT NULL "
            f"AND company_website IN ({', '.join(':' + k for k in params)})", params)
        for full, site, url in leads.itertuples(index=False):
            key = match_key_name_domain(full, site)
            if key and found.setdefault(key, url) != url:
                ambiguous.add(key)  # two people of that name at one company: no guessing
    return {k: v for k, v in found.items() if k not in ambiguous}

