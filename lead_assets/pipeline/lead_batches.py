"""Turn one batch of vendor records into stored leads: normalise, identify, resolve, merge, score, upsert.

Resolution order is the brief's: canonical LinkedIn URL first, email second, then the
vendor's own person id. Rows of one batch that share any key are one person. A person no
key found joins a stored lead that has their name at their employer, when one of the two
has no LinkedIn URL (`match_method` name_domain or name_company; see `core.dedup_keys`). A person
already in the store is merged field by field (the best non-null value wins, a verified
email beats an unverified one), re-scored, and every source that saw them is recorded.
A record that cannot identify a person goes to quarantine with its reason and payload.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from lead_assets.core.dedup_keys import KEY_PRIORITY, lead_keys, mint_lead_id, weak_key_frame
from lead_assets.core.lead_schema import LEAD_COLUMNS
from lead_assets.core.normalise import normalise_leads
from lead_assets.core.scoring import score_leads
from lead_assets.core.titles import TitleMatcher
from lead_assets.core.vendor_records import MAPPED_FIELDS
from lead_assets.store.database import retry_transient
from lead_assets.store.suppression import drop_suppressed_records

_EMAIL_RANK = {"verified": 0, "unverified": 1, "undeliverable": 2}


@dataclass
class VendorRecord:
    """A vendor record on its way in: mapped lead fields (or a reason it has none) and its raw payload."""

    payload: Any
    fields: dict[str, Any] | None
    problem: str | None = None
    match_method: str | None = None  # how the caller matched it (e.g. "name_domain"), if not by key
    extra_keys: tuple[str, ...] = ()  # alternate keys to register for the lead (e.g. a Sales Navigator URL)


@dataclass
class BatchOutcome:
    """What one batch did to the store."""

    records: int = 0
    new_leads: int = 0
    merged: int = 0  # records that resolved to a person already stored or seen earlier in the batch
    quarantined: int = 0
    lead_ids: list[str] = field(default_factory=list)

    def add(self, other: BatchOutcome) -> None:
        self.records += other.records
        self.new_leads += other.new_leads
        self.merged += other.merged
        self.quarantined += other.quarantined
        self.lead_ids.extend(other.lead_ids)


def _payload_text(payload: Any) -> str:
    try:
        return json.dumps(payload, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(payload)


def identity_problem(df: pd.DataFrame) -> pd.Series:
    """Why a normalised row cannot become a lead ('' when it can).

    No name, or neither a LinkedIn URL nor an email to find one with: no enrichment can
    make such a record a person we could contact, so it goes to quarantine.
    """
    no_name = df["full_name"].isna()
    no_handle = df["linkedin_url"].isna() & df["email"].isna()
    reason = pd.Series("", index=df.index, dtype=object)
    reason[no_handle] = "no LinkedIn URL and no email: cannot identify or enrich the person"
    reason[no_name] = "no name: cannot identify the person"
    return reason


class _UnionFind:
    def __init__(self, items: Sequence[Any]):
        self.parent = {i: i for i in items}

    def find(self, i: Any) -> Any:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: Any, b: Any) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


def resolve_lead_ids(keys: pd.DataFrame, known: dict[str, str]) -> tuple[dict[Any, str], dict[Any, str]]:
    """row -> lead_id and row -> match method, from the batch's keys and the index's answers.

    Rows sharing a key are one person; a group takes the lead id of its highest-priority
    known key (LinkedIn, then email, then vendor id), else mints one from its best key.
    Plain dicts on purpose: a batch is a few hundred rows, and pandas groupby per key
    costs more than the whole rest of the batch.
    """
    rows, kinds, ks = keys["row"].tolist(), keys["kind"].tolist(), keys["key"].tolist()
    uf = _UnionFind(list(dict.fromkeys(rows)))
    first_row_of_key: dict[str, Any] = {}
    for row, key in zip(rows, ks, strict=True):
        if key in first_row_of_key:
            uf.union(first_row_of_key[key], row)
        else:
            first_row_of_key[key] = row
    rank = {kind: i for i, kind in enumerate(KEY_PRIORITY)}
    best_known: dict[Any, tuple[int, str, str]] = {}  # group -> (rank, lead_id, kind)
    best_key: dict[Any, tuple[int, str]] = {}  # group -> (rank, key) to mint from
    for row, kind, key in zip(rows, kinds, ks, strict=True):
        group, r = uf.find(row), rank.get(kind, len(rank))  # alternate keys rank last
        if group not in best_key or r < best_key[group][0]:
            best_key[group] = (r, key)
        lead = known.get(key)
        if lead is not None and (group not in best_known or r < best_known[group][0]):
            best_known[group] = (r, lead, kind)
    lead_of_row: dict[Any, str] = {}
    method_of_row: dict[Any, str] = {}
    for row in uf.parent:
        group = uf.find(row)
        if group in best_known:
            _, lead, kind = best_known[group]
            lead_of_row[row], method_of_row[row] = lead, ("vendor_id" if kind == "vendor" else kind)
        else:
            lead_of_row[row], method_of_row[row] = mint_lead_id(best_key[group][1]), "new"
    return lead_of_row, method_of_row


def join_by_name_at_employer(store, conn, df: pd.DataFrame, weak: pd.DataFrame,
                             owners: dict[str, str], lead_of_row: dict[Any, str],
                             method_of_row: dict[Any, str]) -> None:
    """Point each new person at the stored lead that owns one of their weak keys, in place.

    `weak` lists (row, kind, key) in preference order; `owners` is the index's answer for
    those keys (registered first, inside the batch's transaction, so a concurrent run that
    stored the same person a moment ago is seen). Only owners from before this batch count:
    two namesakes in one batch are never joined. A person with a LinkedIn URL joins only a
    lead without one (two profiles are two people). Every row of a joined person moves with it.
    """
    candidates = _outside_owners(weak, owners, lead_of_row, method_of_row)
    if not candidates:
        return
    has_url = df["linkedin_url"].notna()
    profiled = sorted({lead for row, _, lead in candidates if has_url[row]})
    taken = {r["lead_id"] for r in store._in_chunks(
        conn, "SELECT lead_id FROM leads WHERE linkedin_url IS NOT NULL AND lead_id {in_clause}", "ids",
        profiled)} if profiled else set()
    joined: dict[str, tuple[str, str]] = {}  # the batch's minted id -> (stored lead, how)
    for row, kind, lead in candidates:
        if not (has_url[row] and lead in taken):
            joined.setdefault(lead_of_row[row], (lead, kind))
    for row, lead in lead_of_row.items():
        if lead in joined:
            lead_of_row[row], method_of_row[row] = joined[lead]


def _outside_owners(weak: pd.DataFrame, owners: Mapping[str, str], lead_of_row: dict[Any, str],
                    method_of_row: dict[Any, str]) -> list[tuple[Any, str, str]]:
    """(row, kind, owner) of each weak key of a new person that a lead outside the batch owns."""
    batch = set(lead_of_row.values())
    return [(row, kind, owners[k]) for row, kind, k in zip(weak["row"], weak["kind"], weak["key"], strict=True)
            if method_of_row[row] == "new" and k in owners and owners[k] not in batch]


def merge_people(existing: pd.DataFrame, incoming: pd.DataFrame) -> pd.DataFrame:
    """One row per lead_id: existing values first, then the first non-null incoming value.

    The email travels with its status and the best-verified address wins, so a later
    source can upgrade an unverified email but never replace a verified one.
    """
    parts = [existing.assign(_order=0)] if len(existing) else []  # (an empty frame would only blur the dtypes)
    both = pd.concat([*parts, incoming.assign(_order=1)], ignore_index=True)
    merged = both.groupby("lead_id", sort=False).first()
    with_email = both[both["email"].notna()].copy()
    if not with_email.empty:
        with_email["_rank"] = with_email["email_status"].map(_EMAIL_RANK).fillna(3)
        best = with_email.sort_values(["_rank", "_order"], kind="stable").groupby("lead_id").first()
        merged.loc[best.index, "email"] = best["email"]
        merged.loc[best.index, "email_status"] = best["email_status"]
    return merged.drop(columns=["_order"], errors="ignore").reset_index()


def store_batch(
    records: Sequence[VendorRecord],
    *,
    source: str,
    partition_key: str,
    store,
    index,
    matcher: TitleMatcher,
    now: datetime | None = None,
) -> BatchOutcome:
    """Normalise, resolve, merge, score and upsert one batch; quarantine what cannot be a lead."""
    now = now or datetime.now(UTC)
    what = f"{source} batch of {len(records)} ({partition_key})"
    # a suppressed person is never stored again
    records = retry_transient(lambda: drop_suppressed_records(store, records, source), what=what)
    outcome = BatchOutcome(records=len(records))
    quarantine_rows: list[dict[str, Any]] = []
    good: list[tuple[VendorRecord, dict[str, Any]]] = []
    for rec in records:
        if rec.fields is None:
            quarantine_rows.append(_quarantine_row(rec, source, partition_key, rec.problem or "unmappable record"))
        else:
            good.append((rec, rec.fields))

    if good:
        raw = pd.DataFrame([f for _, f in good], columns=list(MAPPED_FIELDS))
        df = normalise_leads(raw, matcher)
        df["vendor_person_id"] = raw["vendor_person_id"].astype(object)
        df["_match_hint"] = [rec.match_method for rec, _ in good]
        df["_extra_keys"] = [rec.extra_keys for rec, _ in good]
        problems = identity_problem(df)
        for i in problems.index[problems != ""]:
            rec = good[i][0]
            quarantine_rows.append(_quarantine_row(rec, source, partition_key, problems[i]))
        df = df[problems == ""]
        if not df.empty:
            # One transaction: a connection lost half-way (a database restart) rolls all of it back,
            # and the whole batch runs again once the database answers.
            outcome.add(retry_transient(
                lambda: _store_people(df, source, partition_key, store, index, matcher, now), what=what))

    if quarantine_rows:
        store.quarantine(pd.DataFrame(quarantine_rows))
        outcome.quarantined += len(quarantine_rows)
    return outcome


class _NameJoinRace(Exception):
    """A concurrent run registered one of the batch's weak keys after the lookup: redo in order."""


def _store_people(df, source, partition_key, store, index, matcher, now) -> BatchOutcome:
    keys = lead_keys(df, source)
    extra = [(row, key) for row, row_keys in df["_extra_keys"].items() for key in row_keys]
    if extra:
        keys = pd.concat([keys, pd.DataFrame({"row": [r for r, _ in extra], "kind": "alternate",
                                              "key": [k for _, k in extra]})], ignore_index=True)
    weak = weak_key_frame(df)
    # One lookup for both: a weak key nobody owns yet lets the batch register all its keys at once.
    known = index.lookup([*keys["key"].unique().tolist(), *weak["key"].unique().tolist()])
    lead_of_row, method_of_row = resolve_lead_ids(keys, known)
    if not _outside_owners(weak, known, lead_of_row, method_of_row):
        try:
            return _store_resolved(df, keys, weak, dict(lead_of_row), dict(method_of_row), source,
                                   partition_key, store, index, matcher, now, register_weak_first=False)
        except _NameJoinRace:
            pass  # rolled back: the same batch again, weak keys first
    return _store_resolved(df, keys, weak, lead_of_row, method_of_row, source, partition_key, store, index,
                           matcher, now, register_weak_first=True)


def _store_resolved(df, keys, weak, lead_of_row, method_of_row, source, partition_key, store, index, matcher,
                    now, *, register_weak_first: bool) -> BatchOutcome:
    """Register the batch's keys, then merge, score and store its people and their sources, in one transaction.

    A name at an employer belongs to whoever stored it first (this batch or a concurrent run a
    moment ago), and a new person of that name joins them before their other keys are
    registered. Without `register_weak_first` (no weak key was known at lookup) all keys go in
    one statement, and a weak key that turns out to be owned outside the batch (a concurrent
    run) raises `_NameJoinRace`, rolling everything back.
    """
    weak_proposal = {k: lead_of_row[r] for r, k in zip(weak["row"], weak["key"], strict=True)}
    # Keys, leads and sources commit together or not at all: a batch that dies half-way leaves
    # nothing that would make a re-run believe these people were already stored.
    inserted: set[str] = set()  # keys this transaction wrote itself
    with store.transaction() as conn:
        if register_weak_first:
            owners = index.register(weak_proposal, conn=conn, inserted=inserted) if weak_proposal else {}
            join_by_name_at_employer(store, conn, df, weak, owners, lead_of_row, method_of_row)
            strong = _strong_proposal(keys, lead_of_row)
            winners = index.register(strong, conn=conn, inserted=inserted)
        else:
            strong = _strong_proposal(keys, lead_of_row)
            winners = index.register({**weak_proposal, **strong}, conn=conn, inserted=inserted)
            owners = {k: winners[k] for k in weak_proposal}
            if _outside_owners(weak, owners, lead_of_row, method_of_row):
                raise _NameJoinRace()
        df = _with_lead_ids(df, keys, lead_of_row, method_of_row, winners)
        unseen = _unseen_leads(df, lead_of_row, method_of_row, {**weak_proposal, **strong}, inserted)
        outcome, rejected = _store_leads(df, source, partition_key, store, matcher, now, conn, unseen)
        store.record_sources(_source_rows(df, rejected, source, partition_key), conn=conn)
    index.publish({**owners, **winners})  # Redis learns the keys only once they are committed
    return outcome


def _with_lead_ids(df: pd.DataFrame, keys: pd.DataFrame, lead_of_row: dict[Any, str],
                   method_of_row: dict[Any, str], winners: Mapping[str, str]) -> pd.DataFrame:
    """`df` with `lead_id` and `match_method`: the index is the arbiter, a concurrent run may
    have registered the same person first, so a row takes the winner of its primary key."""
    primary: dict[Any, str] = {}  # row -> its first key (lead_keys lists them in priority order)
    for row, key in zip(keys["row"].tolist(), keys["key"].tolist(), strict=True):
        primary.setdefault(row, key)
    rows = df.index.tolist()
    hints = df["_match_hint"].tolist()
    hinted = df["_match_hint"].notna().tolist()  # how the caller matched it, when it says
    return df.assign(
        lead_id=[winners.get(primary[r], lead_of_row[r]) for r in rows],
        match_method=[h if is_hinted else method_of_row[r] for r, h, is_hinted in zip(rows, hints, hinted, strict=True)],
    )


def _source_rows(df: pd.DataFrame, rejected: set[str], source: str, partition_key: str) -> pd.DataFrame:
    """The lead_sources rows of the batch: one per vendor record whose lead was stored
    (a refused lead is a quarantine row, not a source's lead)."""
    stored = df[~df["lead_id"].isin(rejected)] if rejected else df
    vendor_ids = stored["vendor_person_id"].astype(str)
    first = ~vendor_ids.duplicated().to_numpy()
    return pd.DataFrame(
        {
            "source": source,
            "vendor_person_id": vendor_ids.to_numpy()[first],
            "lead_id": stored["lead_id"].to_numpy()[first],
            "partition_key": partition_key,
            "match_method": stored["match_method"].to_numpy()[first],
        }
    )


def _strong_proposal(keys: pd.DataFrame, lead_of_row: dict[Any, str]) -> dict[str, str]:
    return {k: lead_of_row[r] for r, k in zip(keys["row"], keys["key"], strict=True)}


def _unseen_leads(df: pd.DataFrame, lead_of_row: dict[Any, str], method_of_row: dict[Any, str],
                  proposal: Mapping[str, str], inserted: set[str]) -> set[str]:
    """Lead ids this batch minted whose every key it registered itself: no stored lead can have them.

    A lead id is minted from one of its person's keys, and a lead is stored together with its keys
    (erasure deletes the lead before its keys), so a key nobody had registered names no stored lead.
    Such ids need no read of the stored row before the merge.
    """
    minted = {lead for row, lead in lead_of_row.items() if method_of_row[row] == "new"}
    minted -= {lead for row, lead in lead_of_row.items() if method_of_row[row] != "new"}
    minted -= {lead for key, lead in proposal.items() if key not in inserted}
    # a row whose key someone else won keeps that winner's id, which is not ours to call new
    for row, lead in zip(df.index.tolist(), df["lead_id"].tolist(), strict=True):
        if lead != lead_of_row[row]:
            minted.discard(lead)
            minted.discard(lead_of_row[row])
    return minted


def _store_leads(df, source, partition_key, store, matcher, now, conn, unseen: set[str]
                 ) -> tuple[BatchOutcome, set[str]]:
    """Merge the batch's people with the stored ones, score and upsert them (in `conn`'s transaction).

    `unseen`: lead ids no stored lead can have (see `_unseen_leads`), not read back.
    Returns the outcome and the lead ids the store refused (quarantined by the lead schema).
    """
    outcome = BatchOutcome()
    to_read = [i for i in df["lead_id"].unique().tolist() if i not in unseen]
    existing = store.fetch_leads(to_read, conn=conn) if to_read else pd.DataFrame(columns=list(LEAD_COLUMNS))
    known_ids = set(existing["lead_id"])
    is_new = ~df["lead_id"].isin(known_ids) & ~df["lead_id"].duplicated()
    outcome.merged += int((~is_new).sum())

    incoming = df.assign(
        data_source=source,
        first_partition_key=partition_key,
        data_collected_date=now,
        created_at=now,
        updated_at=now,
    )
    lead_cols = [c for c in LEAD_COLUMNS if c in incoming.columns]
    needs_merge = incoming["lead_id"].isin(known_ids) | incoming["lead_id"].duplicated(keep=False)
    fresh = incoming.loc[~needs_merge, lead_cols]
    if needs_merge.any():
        merged = merge_people(existing.reindex(columns=lead_cols), incoming.loc[needs_merge, lead_cols])
        merged = _renormalise(merged, lead_cols, matcher)
        people = pd.concat([fresh, merged], ignore_index=True)
    else:
        people = fresh
    people = score_leads(people)
    result = store.upsert_leads(people[[c for c in LEAD_COLUMNS if c in people.columns]], conn=conn)
    rejected = set(result.rejected)
    outcome.new_leads += result.inserted
    outcome.quarantined += int(df["lead_id"].isin(rejected).sum())
    outcome.lead_ids.extend(lid for lid in people["lead_id"].tolist() if lid not in rejected)
    return outcome, rejected


def _renormalise(merged: pd.DataFrame, lead_cols: list[str], matcher: TitleMatcher) -> pd.DataFrame:
    """Recompute derived fields (target role, validation, enrichment flag) on merged people."""
    derived = normalise_leads(merged, matcher)
    for col in ("target_role", "validation_errors", "needs_enrichment"):
        merged[col] = derived[col].to_numpy()
    return merged.reindex(columns=lead_cols)


def _quarantine_row(rec: VendorRecord, source: str, partition_key: str, reason: str) -> dict[str, Any]:
    vid = rec.fields.get("vendor_person_id") if rec.fields else None
    if vid is None and isinstance(rec.payload, dict):
        vid = rec.payload.get("id")
    return {
        "source": source,
        "partition_key": partition_key,
        "vendor_person_id": None if vid is None else str(vid),
        "reason": reason,
        "payload": _payload_text(rec.payload),
    }
