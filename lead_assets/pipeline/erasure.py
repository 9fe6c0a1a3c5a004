"""Erase one person (GDPR art. 17 / CCPA delete): every trace but a hashed suppression entry and an audit row.

`erase_person` finds the person's lead(s) by canonical LinkedIn URL or normalised email (in
`leads` and through the `li:` / `em:` dedup keys), then, in this order:

1. adds suppression entries (sha256 of every email, LinkedIn URL and vendor / alternate key of
   the person, so collection stops re-adding them while the erasure runs and forever after);
2. in one transaction deletes their `enrichment_ledger`, `field_provenance`, `crm_sync_state`,
   `lead_sources` and `leads` rows, the `quarantine` rows and `raw_landings` rows whose payload
   (or request key) names them, nulls `cost_ledger.lead_id` (the money record stays, anonymous)
   and blanks a `vendor_calls.error` text that names them;
3. forgets their dedup keys in the database and Redis (`DedupIndex.forget`);
4. deletes them from the CRM through its adapter's `erase` (`lead_assets/crm/`): HubSpot's GDPR
   delete (`POST /crm/v3/objects/contacts/gdpr-delete`) of each contact found first, by the sync
   state's contact id or else by a search on their emails and LinkedIn id property; Salesforce
   `DELETE /sobjects/Lead/{id}`. A CRM failure does not undo the local erasure, it is audited;
5. writes one `erasure_audit` row: request id, hash of the identifier, counts, CRM outcome.

CRM outcomes (`erasure_audit.crm_outcome`): `deleted` (a contact/lead was found and deleted),
`not_found_blocklisted` (HubSpot: no contact found; the GDPR delete by email was still sent, which
answers 204 for an unknown address and blocklists it, so it cannot come back; vendor-apis.md
Corrections 8: a 204 alone never proves a contact existed), `not_found`, `unsupported`,
`failed: <error> <status>`, `none` (no CRM). HubSpot's search lags writes by seconds: a contact
created moments before the erasure can be missed by the search, then deleted by the email delete
and audited as `not_found_blocklisted` (never the other way round).

Raw landings: a landing is one vendor response (a search page, a purchase of up to 10 people)
and rows are immutable (no UPDATE), so it cannot be redacted in place: **every landing that
names the person is deleted whole**, like the retention purge does. What that changes: re-running
such a partition re-fetches its search page (free); the others on a deleted purchase are in the
dedup index and are not bought again; only someone of that purchase who ended in quarantine
(no vendor key registered) could be bought again by a replay. The report lists the partitions.

A shared email (held by another lead that is not being erased, e.g. info@) is neither used to
find leads nor suppressed: it is not this person's alone.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, text

from lead_assets.core import privacy
from lead_assets.core.dedup_keys import email_key, linkedin_key
from lead_assets.crm.adapter import ErasureSubject
from lead_assets.crm.registry import CRMS
from lead_assets.store.lead_store import LeadStore, ts_param, utc_now
from lead_assets.store.suppression import add_entries, apply_suppression, suppressed_lead_ids

__all__ = ["ErasureReport", "apply_suppression", "erase_person", "read_audit", "suppressed_lead_ids"]

ERASED_TEXT = "[erased]"


@dataclass
class ErasureReport:
    """What one erasure did. Holds no personal data (hashes and counts only)."""

    request_id: str
    subject_kind: str
    subject_hash: str
    leads_erased: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    crm: str | None = None
    crm_outcome: str = "none"  # see the module docs: deleted, not_found_blocklisted, not_found, ...
    suppression_entries: int = 0
    partitions_with_deleted_landings: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return self.leads_erased > 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Person:
    lead_ids: set[str]
    emails: set[str]
    urls: set[str]
    keys: set[str]  # every dedup key of the leads (li:, em:, vid:, sn:)
    vendor_ids: set[tuple[str, str]]  # (source, vendor person id)
    crm_ids: dict[str, set[str]]  # crm -> ids the CRM gave the person


def erase_person(
    store: LeadStore,
    index: Any,
    crm_client: Any,
    crm_name: str | None,
    identifier: str,
    request_id: str,
    log: logging.Logger | None = None,
    *,
    kind: str | None = None,
    linkedin_id_property: str | None = None,
) -> ErasureReport:
    """Erase the person named by `identifier` (an email or a LinkedIn URL); see the module docs.

    `index` is the `DedupIndex` (None: the `dedup_keys` rows are deleted directly, no Redis);
    `crm_client` None skips the CRM (outcome "none"). Idempotent: a second run finds nothing,
    still makes sure the identifier is suppressed, and audits the request again.
    """
    log = log or logging.getLogger("lead_sprint.erasure")
    kind, norm, digest = privacy.subject_hash(identifier, kind)
    report = ErasureReport(request_id=request_id, subject_kind=kind, subject_hash=digest, crm=crm_name)
    person = _find(store, kind, norm)
    report.leads_erased = len(person.lead_ids)
    log.info("erasure %s: subject %s… matches %d lead(s)", request_id, digest[:12], len(person.lead_ids))

    # 1. Suppress first: a collection running meanwhile cannot bring the person back.
    entries = privacy.suppression_entries(
        emails=person.emails, linkedin_urls=person.urls,
        keys=[k for k in person.keys if k.startswith(("vid:", "sn:"))]
        + [f"vid:{s}:{v}" for s, v in person.vendor_ids],
    )
    report.suppression_entries = add_entries(store, entries, reason=f"erasure {request_id}"[:200])

    # 2. The database, in one transaction.
    needles = _needles(person)
    with store.transaction() as conn:
        counts = report.counts
        ids = sorted(person.lead_ids)
        for table in ("enrichment_ledger", "field_provenance", "crm_sync_state", "lead_sources"):
            counts[table] = _delete_in(store, conn, table, "lead_id", ids)
        counts["cost_ledger_anonymised"] = _update_in(store, conn, "UPDATE cost_ledger SET lead_id = NULL "
                                                      "WHERE lead_id {in_clause}", ids)
        counts["leads"] = _delete_in(store, conn, "leads", "lead_id", ids)
        counts["quarantine"] = _delete_matching(store, conn, "quarantine", "quarantine_id", needles, person)
        deleted, partitions = _delete_landings(store, conn, needles)
        counts["raw_landings"] = deleted
        report.partitions_with_deleted_landings = partitions
        counts["vendor_calls_redacted"] = _redact_calls(store, conn, needles)

    # 3. Dedup keys, database and Redis.
    keys = sorted(person.keys)
    if index is not None:
        counts["dedup_keys"] = index.forget(keys)
    else:
        with store.transaction() as conn:
            counts["dedup_keys"] = _delete_in(store, conn, "dedup_keys", "key", keys)

    # 4. The CRM.
    if crm_client is not None and crm_name:
        report.crm_outcome, counts["crm_records_deleted"] = _crm_delete(
            crm_client, crm_name, person, linkedin_id_property, log)

    # 5. The audit row (no personal data).
    _audit(store, report)
    log.info("erasure %s done: %s; CRM %s", request_id,
             ", ".join(f"{k}={v}" for k, v in sorted(counts.items()) if v), report.crm_outcome)
    return report


# -- finding the person -----------------------------------------------------------------------


def _find(store: LeadStore, kind: str, norm: str) -> _Person:
    emails = {norm} if kind == "email" else set()
    urls = {norm} if kind == "linkedin" else set()
    key = email_key(norm) if kind == "email" else linkedin_key(norm)
    column = "email" if kind == "email" else "linkedin_url"
    with store._read() as conn:
        ids = {r[0] for r in conn.execute(text(f"SELECT lead_id FROM leads WHERE {column} = :v"), {"v": norm})}
        ids |= {r[0] for r in conn.execute(text("SELECT lead_id FROM dedup_keys WHERE key = :k"), {"k": key})}
        leads = list(store._in_chunks(conn, "SELECT lead_id, email, linkedin_url FROM leads WHERE lead_id {in_clause}",
                                      "ids", sorted(ids)))
        keys = list(store._in_chunks(conn, "SELECT key, lead_id FROM dedup_keys WHERE lead_id {in_clause}",
                                     "ids", sorted(ids)))
        sources = list(store._in_chunks(conn, "SELECT source, vendor_person_id FROM lead_sources "
                                              "WHERE lead_id {in_clause}", "ids", sorted(ids)))
        states = list(store._in_chunks(conn, "SELECT crm, crm_id FROM crm_sync_state "
                                             "WHERE crm_id IS NOT NULL AND lead_id {in_clause}", "ids", sorted(ids)))
        lead_emails = {r["email"] for r in leads if r["email"]}
        shared: set[str] = set()
        if lead_emails:
            shared = {
                r["email"] for r in store._in_chunks(
                    conn, "SELECT email, lead_id FROM leads WHERE email {in_clause}", "e", sorted(lead_emails))
                if r["lead_id"] not in ids
            }
    emails |= lead_emails - shared
    urls |= {r["linkedin_url"] for r in leads if r["linkedin_url"]}
    all_keys = {r["key"] for r in keys} | {key} | {email_key(e) for e in emails} | {linkedin_key(u) for u in urls}
    vendor_ids = {(r["source"], str(r["vendor_person_id"])) for r in sources}
    for k in all_keys:
        if k.startswith("vid:"):
            _, source, vid = k.split(":", 2)
            vendor_ids.add((source, vid))
    crm_ids: dict[str, set[str]] = {}
    for r in states:
        crm_ids.setdefault(r["crm"], set()).add(str(r["crm_id"]))
    return _Person(ids, emails, urls, all_keys, vendor_ids, crm_ids)


@dataclass(frozen=True)
class _Needle:
    term: str  # lower-case literal, for a cheap SQL pre-filter (LIKE)
    pattern: re.Pattern  # the exact test on lower-cased text


def _needles(person: _Person) -> list[_Needle]:
    """What says a raw text names the person: an email, a LinkedIn slug, a vendor id, an alternate URL."""
    out = [_Needle(e.lower(), re.compile(r"(?<![\w.%+-])" + re.escape(e.lower()) + r"(?![\w-])"))
           for e in person.emails]
    slugs = {privacy.linkedin_slug(u) for u in person.urls}
    out += [_Needle(s.lower(), re.compile(r"/in\\?/" + re.escape(s.lower()) + r"(?![\w%-])")) for s in slugs if s]
    out += [_Needle(v.lower(), re.compile(r"(?<![\w-])" + re.escape(v.lower()) + r"(?![\w-])"))
            for _, v in person.vendor_ids if v]
    alternates = {privacy.linkedin_slug(k[3:].split("?")[0].split(",")[0]) for k in person.keys if k.startswith("sn:")}
    out += [_Needle(a.lower(), re.compile(r"(?<![\w-])" + re.escape(a.lower()) + r"(?![\w-])"))
            for a in alternates if a]
    return out


def _like_terms(needles: list[_Needle]) -> list[str]:
    return list(dict.fromkeys(n.term for n in needles if n.term))


def _names_person(text_value: str | None, needles: list[_Needle]) -> bool:
    if not text_value:
        return False
    low = text_value.lower()
    return any(n.pattern.search(low) for n in needles)


# -- deleting -----------------------------------------------------------------------------------


def _delete_in(store: LeadStore, conn: Connection, table: str, column: str, values: list[str]) -> int:
    return _update_in(store, conn, f"DELETE FROM {table} WHERE {column} {{in_clause}}", values)


def _update_in(store: LeadStore, conn: Connection, sql: str, values: list) -> int:
    if not values:
        return 0
    from sqlalchemy import bindparam

    total = 0
    size = 500
    for start in range(0, len(values), size):
        chunk = values[start : start + size]
        if store.dialect == "postgresql":
            total += conn.execute(text(sql.format(in_clause="= ANY(:vals)")), {"vals": chunk}).rowcount
        else:
            stmt = text(sql.format(in_clause="IN :vals")).bindparams(bindparam("vals", expanding=True))
            total += conn.execute(stmt, {"vals": chunk}).rowcount
    return total


def _candidates(conn: Connection, table: str, id_col: str, cols: list[str], terms: list[str],
                extra_where: str = "") -> list[dict]:
    if not terms:
        return []
    clauses, params = [], {}
    for i, t in enumerate(terms):
        params[f"t{i}"] = f"%{t}%"
        clauses += [f"lower({c}) LIKE :t{i}" for c in cols]
    where = " OR ".join(clauses)
    if extra_where:
        where = f"({where}) OR {extra_where}"
    sql = f"SELECT {id_col}, {', '.join(cols)} FROM {table} WHERE {where}"
    return [dict(r) for r in conn.execute(text(sql), params).mappings()]


def _delete_matching(store: LeadStore, conn: Connection, table: str, id_col: str, needles, person: _Person) -> int:
    terms = _like_terms(needles)
    rows = _candidates(conn, table, id_col, ["payload", "reason"], terms)
    hit = {r[id_col] for r in rows if _names_person(r["payload"], needles) or _names_person(r["reason"], needles)}
    by_vendor = {}
    for source, vid in person.vendor_ids:
        for r in conn.execute(text(f"SELECT {id_col} FROM {table} WHERE source = :s AND vendor_person_id = :v"),
                              {"s": source, "v": vid}):
            by_vendor[r[0]] = True
    hit |= set(by_vendor)
    return _update_in(store, conn, f"DELETE FROM {table} WHERE {id_col} {{in_clause}}", sorted(hit))


def _decoded(payload: str) -> str:
    try:
        return base64.b64decode(payload, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return payload


def _delete_landings(store: LeadStore, conn: Connection, needles) -> tuple[int, list[str]]:
    terms = _like_terms(needles)
    rows = _candidates(conn, "raw_landings", "landing_id", ["payload", "request_key"], terms)
    hit = {r["landing_id"] for r in rows
           if _names_person(r["payload"], needles) or _names_person(r["request_key"], needles)}
    # Imported files are landed base64-encoded: decode them to look inside.
    for r in conn.execute(text("SELECT landing_id, payload FROM raw_landings WHERE request_kind = 'import'")).mappings():
        if r["landing_id"] not in hit and _names_person(_decoded(r["payload"]), needles):
            hit.add(r["landing_id"])
    if not hit:
        return 0, []
    ids = sorted(hit)
    parts = set()
    with_ids = "SELECT DISTINCT source, partition_key FROM raw_landings WHERE landing_id {in_clause}"
    for r in store._in_chunks(conn, with_ids, "ids", ids):
        parts.add(r["partition_key"])
    return _update_in(store, conn, "DELETE FROM raw_landings WHERE landing_id {in_clause}", ids), sorted(parts)


def _redact_calls(store: LeadStore, conn: Connection, needles) -> int:
    rows = _candidates(conn, "vendor_calls", "call_id", ["error"], _like_terms(needles))
    ids = sorted(r["call_id"] for r in rows if _names_person(r["error"], needles))
    return _update_in(store, conn, f"UPDATE vendor_calls SET error = '{ERASED_TEXT}' WHERE call_id {{in_clause}}",
                      ids)


# -- the CRM ------------------------------------------------------------------------------------


def _crm_delete(client: Any, crm: str, person: _Person, linkedin_id_property: str | None,
                log: logging.Logger) -> tuple[str, int]:
    """(outcome, records deleted). Errors are summarised by status only: a body may name the person."""
    from lead_assets.clients.errors import VendorError

    adapter = CRMS.get(crm)
    if adapter is None:
        return "unsupported", 0
    subject = ErasureSubject(emails=frozenset(person.emails), linkedin_urls=frozenset(person.urls),
                             crm_ids=frozenset(person.crm_ids.get(crm, ())), search_property=linkedin_id_property)
    outcomes: list[str] = []
    try:
        outcomes = adapter.erase(client, subject)
    except VendorError as exc:
        log.error("erasure: %s delete failed (HTTP %s); the local erasure stands", crm, exc.status)
        outcomes.append(f"failed: {type(exc).__name__} {exc.status or ''}".strip())
    finally:
        drain = getattr(client, "drain_calls", None)
        if drain is not None:
            drain()  # not persisted: a call record's error text could name the person
    deleted = sum(o == "deleted" for o in outcomes)
    for label in ("failed", "unsupported", "deleted", "not_found_blocklisted"):
        hit = next((o for o in outcomes if o.startswith(label)), None)
        if hit:
            return hit, deleted
    return "not_found", deleted


# -- the audit ---------------------------------------------------------------------------------


def _audit(store: LeadStore, report: ErasureReport) -> None:
    with store.transaction() as conn:
        conn.execute(
            text("INSERT INTO erasure_audit (request_id, subject_kind, subject_hash, leads_erased, counts, crm, "
                 "crm_outcome, erased_at) VALUES (:r, :k, :h, :n, :c, :crm, :o, :at)"),
            {"r": report.request_id, "k": report.subject_kind, "h": report.subject_hash, "n": report.leads_erased,
             "c": json.dumps(report.counts, sort_keys=True), "crm": report.crm, "o": report.crm_outcome,
             "at": ts_param(utc_now(), store.dialect)},
        )


def read_audit(store: LeadStore, request_id: str | None = None) -> list[dict]:
    """The audit rows (of one request, or all), oldest first, `counts` parsed."""
    sql = "SELECT * FROM erasure_audit"
    params = {}
    if request_id is not None:
        sql, params = sql + " WHERE request_id = :r", {"r": request_id}
    rows = store.read_sql(sql + " ORDER BY audit_id", params).to_dict("records")
    for r in rows:
        r["counts"] = json.loads(r["counts"])
    return rows
