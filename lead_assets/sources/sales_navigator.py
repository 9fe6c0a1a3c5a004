"""Source `sales_navigator`: lawfully held Sales Navigator lead lists (CSV) dropped in a folder.

The project never scrapes LinkedIn (see docs/sales_navigator_import.md). A row that carries
only a Sales Navigator URL keeps it as an alternate key and is matched to an existing lead by
email, or by normalised name plus company domain; `lead_sources.match_method` says which. A row
that matched nobody yet is quarantined with its fields; every later hour looks for its lead
again (parallel collection may store it a minute after the import), and a row that now matches
leaves the quarantine for `lead_sources`.
"""

from __future__ import annotations

import json
from typing import ClassVar

from lead_assets.core.normalise import website_domain
from lead_assets.core.sales_navigator_csv import match_key_name_domain, parse_export
from lead_assets.core.vendor_records import MAPPED_FIELDS
from lead_assets.pipeline.lead_batches import VendorRecord
from lead_assets.sources.adapter import ImportSource
from lead_assets.sources.file_imports import (
    ImportContext,
    ImportReport,
    count_rows,
    files_of_hour,
    reject_file,
    store_records,
)

NO_MATCH_REASON = (
    "only a Sales Navigator URL and no email: no existing lead matched by name and company domain"
)


class SalesNavigatorSource(ImportSource):
    name: ClassVar[str] = "sales_navigator"
    label: ClassVar[str] = "Sales Navigator lead lists"

    def sandbox_file(self, population) -> tuple[str, bytes]:
        from lead_assets.sandbox.sales_navigator_export import export_csv

        return "sales_navigator_export.csv", export_csv(population)

    def import_hour(self, ctx: ImportContext, hour_key: str) -> ImportReport:
        partition_key = f"{hour_key}|{self.name}"
        report = ImportReport(partition_key=partition_key)
        for name, data in files_of_hour(ctx, self.name, partition_key, self.patterns):
            report.files += 1
            self._import_file(ctx, name, data, partition_key, report)
        if not ctx.replay_only:
            self.rematch_unmatched(ctx, report)
        return report

    def rematch_unmatched(self, ctx: ImportContext, report: ImportReport) -> None:
        """Match again the rows no lead matched when they were imported; store those that match now.

        Each keeps the partition it was imported under; its quarantine row is removed once its
        source row is stored (it is no longer unaccounted for). Free: nothing is bought.
        """
        waiting = ctx.store.quarantined_records(self.name, f"%{NO_MATCH_REASON}")
        if waiting.empty:
            return
        rows = [json.loads(p) for p in waiting["payload"]]
        by_name_domain = _leads_by_name_domain(ctx.store, rows)
        matched: dict[str, list[tuple[int, VendorRecord]]] = {}
        for qid, partition_key, row in zip(waiting["quarantine_id"], waiting["partition_key"], rows, strict=True):
            url = row.get("sales_navigator_url")
            record = _matched_record(row, {k: row.get(k) for k in MAPPED_FIELDS}, by_name_domain,
                                     (f"sn:{url}",) if url else ())
            if record is not None:
                matched.setdefault(partition_key, []).append((int(qid), record))
        for partition_key, items in matched.items():
            store_records(ctx, self.name, partition_key, [r for _, r in items], report)
            ctx.store.delete_quarantine([qid for qid, _ in items])
            report.rematched += len(items)
        if report.rematched:
            ctx.log.info("sales navigator: %d rows of earlier imports matched a lead collected since", report.rematched)

    def _import_file(self, ctx: ImportContext, name: str, data: bytes, partition_key: str,
                     report: ImportReport) -> None:
        result = parse_export(data, name)
        if result.file_error:
            reject_file(ctx, self.name, partition_key, name, data, result.file_error, report)
            return
        records = count_rows(result, report)
        by_name_domain = _leads_by_name_domain(ctx.store, [f for _, f in result.records])
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
        store_records(ctx, self.name, partition_key, records, report)


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
    for r in store.linkedin_leads_at_websites(domains):
        key = match_key_name_domain(r["full_name"], r["company_website"])
        if key and found.setdefault(key, r["linkedin_url"]) != r["linkedin_url"]:
            ambiguous.add(key)  # two people of that name at one company: no guessing
    return {k: v for k, v in found.items() if k not in ambiguous}
