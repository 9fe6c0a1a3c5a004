"""What every import source shares: its folder, landing each new file once, replaying an hour's files.

A file is landed verbatim (`raw_landings`, kind `import`, keyed by name and content hash) under the
hour it first arrived in, before it is parsed, so re-running that hour replays exactly its files
and a file dropped twice is imported once.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from lead_assets.core.sales_navigator_csv import ImportResult
from lead_assets.pipeline.lead_batches import BatchOutcome, VendorRecord, store_batch
from lead_assets.store.files import FileStorage, LocalStorage, sprint_storage


@dataclass
class ImportContext:
    """Everything one hour of an import source needs; built by the Dagster asset or the CLI."""

    store: Any
    index: Any
    matcher: Any
    files: FileStorage
    run_id: str | None = None
    replay_only: bool = False  # True: store what the hour landed, land nothing new
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("lead_sprint.imports"))


@dataclass
class ImportReport:
    """What one hour of imports did."""

    partition_key: str
    files: int = 0
    files_rejected: int = 0
    rows: int = 0
    rows_rejected: int = 0
    matched_by_name_domain: int = 0
    rematched: int = 0  # rows of earlier imports that matched no lead then and do now
    errors: list[str] = field(default_factory=list)
    batch: BatchOutcome = field(default_factory=BatchOutcome)

    def as_metadata(self) -> dict:
        return {
            "files": self.files, "files_rejected": self.files_rejected,
            "rows": self.rows, "rows_rejected": self.rows_rejected,
            "matched_by_name_domain": self.matched_by_name_domain, "rematched": self.rematched,
            "records": self.batch.records,
            "new_leads": self.batch.new_leads, "merged": self.batch.merged,
            "quarantined": self.batch.quarantined, "errors": len(self.errors),
        }


def import_storage(source: str, import_dir: str | os.PathLike | None = None) -> FileStorage:
    """Where `source`'s files are dropped: `import_dir` when set, else `imports/<source>/` of the sprint's
    storage, which the sensor and every run node share."""
    return LocalStorage(import_dir) if import_dir else sprint_storage().child(f"imports/{source}")


def import_files(files: FileStorage, patterns: tuple[str, ...]) -> list:
    """The files at the top of the import storage that match `patterns` (`StoredFile`s, by name)."""
    return [f for f in files.list() if "/" not in f.name and any(fnmatch.fnmatchcase(f.name, p) for p in patterns)]


def file_key(path: str | Path, data: bytes) -> str:
    return f"{Path(path).name}|sha256={hashlib.sha256(data).hexdigest()}"


def files_of_hour(ctx: ImportContext, source: str, partition_key: str,
                  patterns: tuple[str, ...]) -> Iterator[tuple[str, bytes]]:
    """Land the folder's files no hour has landed yet under this one, then yield (name, bytes) of
    every file this hour owns."""
    if not ctx.replay_only:
        landed = set(ctx.store.landed_request_keys(source, "import"))
        for stored in import_files(ctx.files, patterns):
            data = ctx.files.get(stored.name)
            key = file_key(stored.name, data)
            if key not in landed:
                # base64 keeps any bytes (UTF-16, cp1252, garbage) intact in a text column
                ctx.store.land_raw(source, partition_key, "import", key, base64.b64encode(data).decode(), None,
                                   ctx.run_id)
    for landing in ctx.store.landings(source, partition_key, "import"):
        yield landing["request_key"].split("|", 1)[0], base64.b64decode(landing["payload"])


def reject_file(ctx: ImportContext, source: str, partition_key: str, name: str, data: bytes, why: str,
                report: ImportReport) -> None:
    """A file nothing of which can be imported: one quarantine row with the reason and the file's start."""
    report.files_rejected += 1
    msg = f"{name}: file rejected, nothing imported: {why}"
    report.errors.append(msg)
    ctx.log.error(msg)
    ctx.store.quarantine(pd.DataFrame([{"source": source, "partition_key": partition_key, "vendor_person_id": None,
                                        "reason": f"file {name} rejected: {why}",
                                        "payload": data[:4096].decode("utf-8", "replace")}]))


def count_rows(result: ImportResult, report: ImportReport, **payload: Any) -> list[VendorRecord]:
    """Count a parsed file's rows in the report; its rejected rows as records that become quarantine rows
    (file, line, `payload`, the raw text, the reason)."""
    report.rows += len(result.records) + len(result.rejected_rows)
    report.rows_rejected += len(result.rejected_rows)
    name = result.filename
    return [VendorRecord(payload={"file": name, "line": line, **payload, "row": raw}, fields=None,
                         problem=f"{name} line {line}: {reason}")
            for line, reason, raw in result.rejected_rows]


def store_records(ctx: ImportContext, source: str, partition_key: str, records: list[VendorRecord],
                  report: ImportReport) -> None:
    """Store one file's records (and rejected rows, as quarantine) as one batch."""
    if records:
        report.batch.add(store_batch(records, source=source, partition_key=partition_key, store=ctx.store,
                                     index=ctx.index, matcher=ctx.matcher, now=datetime.now(UTC)))
