"""Source `lead_list`: any vendor's CSV export (Apollo, ZoomInfo, a purchased list) dropped in a folder.

Each file is read with a column-mapping *profile* (canonical lead field -> the export's header
spellings). Profiles ship in `config/lead_lists.yaml`; an operator adds or overrides them with a
`lead_lists.yaml` in the import folder itself, read at every hour, so a new vendor's export needs no
redeploy. A file takes the first profile whose file-name globs match its name, else the profile whose
required headers it has and which reads the most of its fields, else the reader's built-in spellings.

A malformed operator file (bad YAML, an unknown field, a header claimed twice) rejects every file of
the hour with the reason: nothing is half-imported under a mapping nobody meant. Fix the file and
re-run the hour. The mapping an hour used is landed with it (`raw_landings`, kind `mapping`), so a
replay of the hour reads the files with the same profiles.

People are matched to other sources' leads by LinkedIn URL, then email (`store_batch`); a profile's
`vendor_id_column` (Apollo's contact id) gives the record a stable id, namespaced by profile so two
vendors' ids never meet.
"""

from __future__ import annotations

import base64
import fnmatch
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import yaml

from lead_assets.core.sales_navigator_csv import ImportResult, _header_key, parse_export
from lead_assets.pipeline.lead_batches import VendorRecord
from lead_assets.sources.adapter import ImportSource
from lead_assets.sources.file_imports import (
    ImportContext,
    ImportReport,
    count_rows,
    file_key,
    files_of_hour,
    reject_file,
    store_records,
)

SHIPPED_MAPPING = Path(__file__).resolve().parents[1] / "config" / "lead_lists.yaml"
OPERATOR_MAPPING = "lead_lists.yaml"  # in the import folder, next to the exports
MAX_MAPPING_BYTES = 256 * 1024  # a mapping file is a few dozen lines; a bigger one is a mistake
_PROFILE_KEYS = {"label", "match", "columns", "vendor_id_column"}
_PROFILE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class MappingFileError(ValueError):
    """A column-mapping file that cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Profile:
    """How one kind of export is read: which files it fits and which header means which lead field."""

    name: str
    columns: dict[str, tuple[str, ...]]
    files: tuple[str, ...] = ()  # file-name globs, case-insensitive
    headers: tuple[str, ...] = ()  # headers a file must have for the profile to fit it
    vendor_id_column: str | None = None
    label: str = ""

    def fits_name(self, filename: str) -> bool:
        return any(fnmatch.fnmatchcase(filename.casefold(), g.casefold()) for g in self.files)

    def fits_headers(self, headers: tuple[str, ...]) -> bool:
        present = {_header_key(h) for h in headers}  # compared as the reader compares them
        return bool(self.headers) and all(_header_key(h) in present for h in self.headers)

    def mapping(self) -> dict[str, tuple[str, ...]]:
        """The `parse_export` column mapping: the profile's columns plus its id column."""
        if self.vendor_id_column is None:
            return self.columns
        return {**self.columns, "vendor_record_id": (self.vendor_id_column,)}


def _strings(value: Any, what: str) -> tuple[str, ...]:
    """One string or a list of non-empty strings, as a tuple; MappingFileError otherwise."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(s, str) and s.strip() for s in items):
        raise MappingFileError(f"{what} must be a string or a list of non-empty strings")
    return tuple(s.strip() for s in items)


def _profile(name: Any, spec: Any, where: str) -> Profile:
    if not isinstance(name, str) or not _PROFILE_NAME_RE.fullmatch(name):
        raise MappingFileError(f"{where}: profile name {name!r} must be letters, digits, '_', '-' or '.'")
    what = f"{where}: profile {name!r}"
    if not isinstance(spec, dict):
        raise MappingFileError(f"{what} must be a mapping (match, columns, vendor_id_column)")
    unknown = set(spec) - _PROFILE_KEYS
    if unknown:
        raise MappingFileError(f"{what}: unknown key(s) {', '.join(sorted(map(str, unknown)))} "
                               f"(known: {', '.join(sorted(_PROFILE_KEYS))})")
    match = spec.get("match") or {}
    if not isinstance(match, dict) or set(match) - {"files", "headers"}:
        raise MappingFileError(f"{what}: match must be a mapping of files and/or headers")
    files = _strings(match["files"], f"{what}: match.files") if match.get("files") else ()
    headers = _strings(match["headers"], f"{what}: match.headers") if match.get("headers") else ()
    if not files and not headers:
        raise MappingFileError(f"{what}: match lists no file-name glob and no header, so it fits no file")
    columns = spec.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise MappingFileError(f"{what}: columns must map lead fields to header spellings")
    cols = {str(field): _strings(spellings, f"{what}: columns.{field}") for field, spellings in columns.items()}
    vid = spec.get("vendor_id_column")
    profile = Profile(name=name, columns=cols, files=files, headers=headers,
                      vendor_id_column=_strings(vid, f"{what}: vendor_id_column")[0] if vid is not None else None,
                      label=str(spec.get("label") or name))
    try:  # the reader checks a mapping before it reads a byte: one set of rules
        parse_export(b"", "", columns=profile.mapping())
    except ValueError as exc:
        raise MappingFileError(f"{what}: {exc}") from None
    return profile


def load_profiles(data: bytes, where: str) -> list[Profile]:
    """The profiles of one mapping file (`profiles: {name: {match, columns, vendor_id_column}}`), in order.

    An empty file has none. Raises MappingFileError naming `where` for anything unusable.
    """
    if len(data) > MAX_MAPPING_BYTES:
        raise MappingFileError(f"{where}: {len(data)} bytes, more than a mapping file ({MAX_MAPPING_BYTES})")
    try:
        raw = yaml.safe_load(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise MappingFileError(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except yaml.YAMLError as exc:
        raise MappingFileError(f"{where}: not valid YAML: {' '.join(str(exc).split())}") from None
    if raw is None:
        return []
    if not isinstance(raw, dict) or set(raw) - {"profiles"}:
        raise MappingFileError(f"{where}: expected one top-level key, profiles")
    profiles = raw.get("profiles") or {}
    if not isinstance(profiles, dict):
        raise MappingFileError(f"{where}: profiles must map profile names to profiles")
    return [_profile(name, spec, where) for name, spec in profiles.items()]


@cache
def shipped_profiles() -> tuple[Profile, ...]:
    """The profiles shipped in `config/lead_lists.yaml` (read once per process)."""
    return tuple(load_profiles(SHIPPED_MAPPING.read_bytes(), "config/lead_lists.yaml"))


def merge_profiles(operator: list[Profile], shipped: tuple[Profile, ...]) -> list[Profile]:
    """The operator's profiles first (one named like a shipped profile replaces it), then the shipped ones."""
    own = {p.name for p in operator}
    return [*operator, *(p for p in shipped if p.name not in own)]


def choose_profile(profiles: list[Profile], filename: str, data: bytes) -> tuple[Profile | None, str, ImportResult]:
    """(profile, how it was chosen, the file parsed with it); profile None = the reader's built-in spellings.

    File name first (the first profile whose glob matches), then header fit: of the profiles whose
    required headers the file has, the one that reads the most lead fields (the first on a tie). Each such
    candidate reads the whole file: a few profiles times a hand-held export, cheaper than a second reader.
    """
    for profile in profiles:
        if profile.fits_name(filename):
            return profile, "file name", parse_export(data, filename, columns=profile.mapping())
    best: tuple[int, Profile, ImportResult] | None = None
    for profile in profiles:
        if not profile.headers:
            continue
        result = parse_export(data, filename, columns=profile.mapping())
        if result.file_error is None and profile.fits_headers(result.headers):
            if best is None or len(result.column_map) > best[0]:
                best = (len(result.column_map), profile, result)
    if best is not None:
        return best[1], "headers", best[2]
    return None, "built-in spellings", parse_export(data, filename)


class LeadListSource(ImportSource):
    name: ClassVar[str] = "lead_list"
    label: ClassVar[str] = "Lead lists (CSV exports)"

    def sandbox_file(self, population) -> tuple[str, bytes]:
        from lead_assets.sandbox.lead_list_export import export_csv

        return "apollo-contacts-export.csv", export_csv(population)

    def import_hour(self, ctx: ImportContext, hour_key: str) -> ImportReport:
        partition_key = f"{hour_key}|{self.name}"
        report = ImportReport(partition_key=partition_key)
        profiles: list[Profile] | str | None = None  # read at the hour's first file: an empty hour lands nothing
        for name, data in files_of_hour(ctx, self.name, partition_key, self.patterns):
            report.files += 1
            if profiles is None:
                profiles = self.hour_profiles(ctx, partition_key)
            if isinstance(profiles, str):
                reject_file(ctx, self.name, partition_key, name, data, profiles, report)
            else:
                self._import_file(ctx, name, data, partition_key, profiles, report)
        return report

    def hour_profiles(self, ctx: ImportContext, partition_key: str) -> list[Profile] | str:
        """The hour's profiles (operator's, then shipped), or why no file of the hour can be read."""
        try:
            operator = load_profiles(self._operator_mapping(ctx, partition_key),
                                     f"{OPERATOR_MAPPING} in the import folder")
            return merge_profiles(operator, shipped_profiles())
        except MappingFileError as exc:
            return f"column mapping unusable: {exc}; fix it and re-run this hour"

    def _operator_mapping(self, ctx: ImportContext, partition_key: str) -> bytes:
        """The operator's mapping file as this run reads it (b'' when there is none).

        A run reads the folder and lands what it read (an absent file as empty), one landing per
        run; a replay reads the hour's last landing, so it parses with the profiles the import used.
        """
        if ctx.replay_only:
            landed = ctx.store.landings(self.name, partition_key, "mapping")
            return base64.b64decode(landed[-1]["payload"]) if landed else b""
        data = ctx.files.get(OPERATOR_MAPPING) if ctx.files.exists(OPERATOR_MAPPING) else b""
        at = datetime.now(UTC).isoformat()
        ctx.store.land_raw(self.name, partition_key, "mapping", f"{file_key(OPERATOR_MAPPING, data)}|at={at}",
                           base64.b64encode(data).decode(), None, ctx.run_id)
        return data

    def _import_file(self, ctx: ImportContext, name: str, data: bytes, partition_key: str,
                     profiles: list[Profile], report: ImportReport) -> None:
        profile, how, result = choose_profile(profiles, name, data)
        used = profile.name if profile else "built-in"
        if result.file_error:
            reject_file(ctx, self.name, partition_key, name, data, f"{result.file_error} (profile {used}, by {how})",
                        report)
            return
        ctx.log.info("lead list %s: profile %s (by %s), %d rows, %d rejected", name, used, how,
                     len(result.records), len(result.rejected_rows))
        records = count_rows(result, report, profile=used)
        for line, fields in result.records:
            fields = dict(fields)
            vendor_id = fields.pop("vendor_record_id", None)
            if vendor_id is not None:
                fields["vendor_person_id"] = f"{used}:{vendor_id}"
            payload = {"file": name, "line": line, "profile": used, **fields}
            alt = result.alternate_urls.get(line)  # a Sales Navigator URL instead of a public profile
            if alt is not None:
                payload["sales_navigator_url"] = alt
            records.append(VendorRecord(payload=payload, fields=fields, extra_keys=(f"sn:{alt}",) if alt else ()))
        store_records(ctx, self.name, partition_key, records, report)
