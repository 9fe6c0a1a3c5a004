"""The suppression list (table `suppression_list`, sql/*/005_privacy.sql) on a `LeadStore`.

Suppressed people are never bought, stored, enriched or synced again:

* collection drops them before buying (`drop_suppressed_people`, by the vendor key's hash) and
  before storing (`drop_suppressed_records`, by email / LinkedIn / domain / vendor key);
* enrichment and the CRM export leave out `suppressed_lead_ids(store, ...)`.

Entries are hashes (see `core.privacy`); only a company domain is stored plain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Connection, text

from lead_assets.core import privacy
from lead_assets.store.lead_store import LeadStore, ts_param, utc_now


def add_entries(
    store: LeadStore, entries: Iterable[tuple[str, str]], reason: str = "", *, conn: Connection | None = None
) -> int:
    """Add (kind, value_hash) entries (existing ones kept as they are); returns entries added."""
    rows = sorted(set(entries))
    for kind, value in rows:
        if kind not in privacy.KINDS:
            raise ValueError(f"unknown suppression kind {kind!r}")
        if not value:
            raise ValueError("empty suppression value")
    if not rows:
        return 0
    now = ts_param(utc_now(), store.dialect)
    data = [(kind, value, reason[:200], now) for kind, value in rows]
    cols = ["kind", "value_hash", "reason", "created_at"]
    if conn is not None:
        return store._insert_new(conn, "suppression_list", cols, data, "kind, value_hash")
    with store.transaction() as c:
        return store._insert_new(c, "suppression_list", cols, data, "kind, value_hash")


def suppress(
    store: LeadStore,
    *,
    email: str | None = None,
    linkedin_url: str | None = None,
    domain: str | None = None,
    reason: str = "suppressed on request",
) -> int:
    """Suppress one identifier (hashed; a domain plain). ValueError when it cannot be normalised."""
    given = [v for v in (email, linkedin_url, domain) if v]
    if len(given) != 1:
        raise ValueError("suppress exactly one of email, linkedin_url, domain")
    entries = privacy.suppression_entries(
        emails=[email] if email else [], linkedin_urls=[linkedin_url] if linkedin_url else [],
        domains=[domain] if domain else [],
    )
    if not entries:
        raise ValueError("the identifier could not be normalised (not an email, LinkedIn profile URL or domain)")
    return add_entries(store, entries, reason)


def has_entries(store: LeadStore) -> bool:
    """True when the suppression list holds anything (the fast path for every check)."""
    with store._read() as conn:
        return conn.execute(text("SELECT 1 FROM suppression_list LIMIT 1")).first() is not None


def load_entries(store: LeadStore) -> dict[str, set[str]]:
    """The whole list as {kind: {value_hash}} (every kind present, maybe empty)."""
    out: dict[str, set[str]] = {k: set() for k in privacy.KINDS}
    with store._read() as conn:
        for kind, value in conn.execute(text("SELECT kind, value_hash FROM suppression_list")):
            out.setdefault(kind, set()).add(value)
    return out


def matching_hashes(store: LeadStore, kind: str, values: Iterable[str]) -> set[str]:
    """The `values` of `kind` that are on the list (one query per chunk)."""
    values = [v for v in dict.fromkeys(values) if v]
    if not values:
        return set()
    with store._read() as conn:
        return {
            r["value_hash"]
            for r in store._in_chunks(
                conn, "SELECT value_hash FROM suppression_list WHERE kind = :kind AND value_hash {in_clause}",
                "vals", values, {"kind": kind},
            )
        }


def suppressed_lead_ids(store: LeadStore, lead_ids: Sequence[str] | None = None) -> set[str]:
    """The stored leads (among `lead_ids`, or all) that a suppression entry matches.

    Matches the lead's email, LinkedIn URL, email or website domain, and any of its vendor ids
    (`lead_sources`). One cheap query when the list is empty.
    """
    if not has_entries(store):
        return set()
    entries = load_entries(store)
    cols = "lead_id, email, linkedin_url, company_website"
    if lead_ids is None:
        leads = store.read_sql(f"SELECT {cols} FROM leads")
        sources = store.read_sql("SELECT lead_id, source, vendor_person_id FROM lead_sources") \
            if entries[privacy.VENDOR] else None
    else:
        ids = list(dict.fromkeys(lead_ids))
        with store._read() as conn:
            leads = pd.DataFrame(list(store._in_chunks(conn, f"SELECT {cols} FROM leads WHERE lead_id {{in_clause}}",
                                                       "ids", ids)), columns=cols.split(", "))
            sources = pd.DataFrame(
                list(store._in_chunks(conn, "SELECT lead_id, source, vendor_person_id FROM lead_sources "
                                            "WHERE lead_id {in_clause}", "ids", ids)),
                columns=["lead_id", "source", "vendor_person_id"],
            ) if entries[privacy.VENDOR] else None
    found = set(leads.loc[privacy.suppressed_mask(leads, entries), "lead_id"]) if len(leads) else set()
    if sources is not None and len(sources):
        found |= set(sources.loc[privacy.suppressed_mask(sources, {privacy.VENDOR: entries[privacy.VENDOR]}),
                                 "lead_id"])
    return found


def apply_suppression(store: LeadStore, lead_ids: Sequence[str]) -> tuple[list[str], set[str]]:
    """(`lead_ids` without the suppressed ones, in order; the suppressed ones): before enrichment or sync."""
    blocked = suppressed_lead_ids(store, lead_ids)
    return [i for i in lead_ids if i not in blocked], blocked


def suppressed_vendor_ids(store: LeadStore, source: str, vendor_ids: Iterable[Any]) -> set[str]:
    """The vendor person ids of `source` whose vendor key is suppressed (checked before buying)."""
    by_hash: dict[str, str] = {}
    for vid in vendor_ids:
        h = privacy.vendor_hash(source, vid)
        if h is not None:
            by_hash[h] = str(vid)
    if not by_hash:
        return set()
    return {by_hash[h] for h in matching_hashes(store, privacy.VENDOR, by_hash)}


def drop_suppressed_people(store: LeadStore, source: str, people: list) -> list:
    """A vendor search page's people without the suppressed ones (by their `id`), before anything is bought."""
    if not people or not has_entries(store):
        return people
    ids = [p.get("id") for p in people if isinstance(p, dict)]
    blocked = suppressed_vendor_ids(store, source, [i for i in ids if i is not None])
    if not blocked:
        return people
    return [p for p in people if not (isinstance(p, dict) and p.get("id") is not None and str(p.get("id")) in blocked)]


def is_suppressed_record(
    store: LeadStore,
    fields: Mapping[str, Any] | None = None,
    *,
    source: str | None = None,
    vendor_person_id: Any = None,
    extra_keys: Iterable[str] = (),
    entries: Mapping[str, set[str]] | None = None,
) -> bool:
    """True when an incoming vendor record (mapped `fields`, and/or its vendor id) is suppressed.

    Pass `entries=load_entries(store)` when checking many records.
    """
    if entries is None:
        if not has_entries(store):
            return False
        entries = load_entries(store)
    fields = dict(fields or {})
    vid = vendor_person_id if vendor_person_id is not None else fields.get("vendor_person_id")
    keys = [k for k in extra_keys if k]
    if source and vid is not None and (h := privacy.vendor_hash(source, vid)) and h in entries.get(privacy.VENDOR, ()):
        return True
    if any(privacy.key_hash(k) in entries.get(privacy.VENDOR, ()) for k in keys):
        return True
    row = pd.DataFrame([{c: fields.get(c) for c in ("email", "linkedin_url", "company_website")}])
    return bool(privacy.suppressed_mask(row, entries).iloc[0])


def drop_suppressed_records(store: LeadStore, records: Sequence[Any], source: str) -> list:
    """`records` (`VendorRecord`s) without the suppressed ones: neither stored nor quarantined."""
    if not records or not has_entries(store):
        return list(records)
    entries = load_entries(store)
    rows, extra = [], []
    for rec in records:
        payload = rec.payload if isinstance(rec.payload, dict) else {}
        fields = rec.fields or {}
        vid = fields.get("vendor_person_id", payload.get("id"))
        rows.append({"email": fields.get("email"), "linkedin_url": fields.get("linkedin_url"),
                     "company_website": fields.get("company_website"), "source": source,
                     "vendor_person_id": None if vid is None else str(vid)})
        extra.append(any(privacy.key_hash(k) in entries[privacy.VENDOR] for k in getattr(rec, "extra_keys", ()) if k))
    mask = privacy.suppressed_mask(pd.DataFrame(rows), entries).to_numpy() | pd.Series(extra).to_numpy(dtype=bool)
    return [rec for rec, blocked in zip(records, mask, strict=True) if not blocked]
