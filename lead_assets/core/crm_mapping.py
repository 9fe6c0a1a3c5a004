"""Pure CRM mapping: leads DataFrame -> the values each CRM field receives, plus the rules around it.

* `map_leads` validates the leads against the lead schema (`lead_schema.LeadRow`: a row that
  fails is rejected with the failure as its reason) and applies the configured field rules
  column by column: control characters out,
  spreadsheet formulas neutralised, too-long values truncated or the lead rejected with the
  reason, required fields checked, and a content hash of exactly what would be sent.
* `MappingReport` is what a CRM's validator (in `lead_assets/crm/`) says of the rules checked
  against the CRM's own schema before anything is sent; `record_check` adds one line to it.
* `select_for_sync` decides, from the content hash and the sync state, which leads to send.

Nothing here knows a particular CRM: each CRM's validator and payloads live in its adapter
(`lead_assets/crm/<crm>.py`). No I/O here: the pipeline fetches, this module decides.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lead_assets.core.crm_config import FieldRule
from lead_assets.core.lead_schema import LEAD_COLUMNS, lead_row_problems
from lead_assets.core.normalise import map_distinct

# Cells a spreadsheet would evaluate: =, +, -, @ (and tab / CR, which some apps strip first).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Plain numbers (and E.164 phones) evaluate to themselves: no formula can hide in them, and
# quoting them would corrupt every international phone number.
_PLAIN_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")
_FORMULA_CHARS = frozenset(FORMULA_PREFIXES)
_CONTROL_TABLE = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
# Salesforce Bulk API reads the literal "#N/A" as "set this field to null".
_SF_NULL = "#N/A"


# --------------------------------------------------------------------------------------------
# Value cleaning.
# --------------------------------------------------------------------------------------------


def _object(values: np.ndarray, mask: np.ndarray, index: pd.Index) -> pd.Series:
    """An object Series holding `values` where `mask`, None elsewhere (never NaN)."""
    out = np.full(len(index), None, dtype=object)
    out[mask] = values
    return pd.Series(out, index=index, dtype=object)


def _as_text(s: pd.Series, kind: str) -> pd.Series:
    """Values as text (object dtype, None for missing); numbers without a spurious '.0'."""
    present = s.notna().to_numpy()
    if not present.any():
        return _object(np.array([], dtype=object), present, s.index)
    values = s[present]
    if kind == "number" or pd.api.types.is_numeric_dtype(values.dtype):
        numeric = pd.to_numeric(values, errors="coerce")
        whole = (numeric.notna() & (numeric == numeric.round())).to_numpy()
        text = values.astype(str).to_numpy(dtype=object)
        text[whole] = numeric[whole].astype("int64").astype(str).to_numpy(dtype=object)
        return _object(text, present, s.index)
    return s  # text columns: `clean_values` turns each distinct value into text once


def _clean_one(value: object) -> str | None:
    text = str(value).translate(_CONTROL_TABLE).strip()
    return text or None


def _neutralise_one(text: str) -> str:
    if (text[:1] in _FORMULA_CHARS and not _PLAIN_NUMBER.match(text)) or text == _SF_NULL:
        return "'" + text
    return text


def clean_values(s: pd.Series) -> pd.Series:
    """Control characters removed, whitespace trimmed, empty -> None."""
    return map_distinct(s, _clean_one)


def neutralise_formulas(s: pd.Series) -> pd.Series:
    """Prefix ``'`` to text a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``...).

    Plain numbers such as ``-5`` or ``+15125550100`` are left alone: they evaluate to themselves.
    A literal ``#N/A`` is quoted too, since Salesforce's Bulk API would read it as "clear this field".
    """
    return map_distinct(s, lambda v: _neutralise_one(str(v)))


# --------------------------------------------------------------------------------------------
# Mapping leads onto CRM fields.
# --------------------------------------------------------------------------------------------


@dataclass
class MappedLeads:
    """What would be sent for each lead (index: lead_id).

    `values` has one column per CRM field (text or None); `reject_reason` is None for a lead
    that can be sent; `truncated` lists the CRM fields cut to their maximum length;
    `content_hash` fingerprints exactly what would be sent.
    """

    values: pd.DataFrame
    reject_reason: pd.Series
    truncated: pd.Series
    content_hash: pd.Series
    identity_field: str

    def sendable(self) -> pd.Index:
        """Lead ids with no reason to reject them before sending."""
        return self.reject_reason.index[self.reject_reason.isna()]


def _append_reason(reasons: pd.Series, mask: pd.Series | np.ndarray, text: str | pd.Series) -> pd.Series:
    mask = pd.Series(np.asarray(mask, dtype=bool), index=reasons.index)
    if not mask.any():
        return reasons
    new = text[mask] if isinstance(text, pd.Series) else pd.Series(text, index=reasons.index[mask])
    current = reasons[mask]
    reasons = reasons.copy()
    reasons[mask] = np.where(current.isna(), new, current.astype(str) + "; " + new.astype(str))
    return reasons


def _limit(rule: FieldRule, max_lengths: Mapping[str, int] | None) -> int | None:
    """The effective maximum length: the rule's, capped by the CRM field's own length."""
    limits = [x for x in (rule.max_length, (max_lengths or {}).get(rule.target)) if x]
    return min(limits) if limits else None


def _schema_reasons(leads: pd.DataFrame, index: pd.Index) -> pd.Series:
    """Why each lead fails the lead schema ("lead schema: ..."), None for the leads that fit."""
    problems = lead_row_problems(leads[[c for c in leads.columns if c in LEAD_COLUMNS]].reset_index(drop=True))
    failed = np.zeros(len(index), dtype=bool)
    failed[problems.index.to_numpy(dtype=np.int64)] = True
    reasons = pd.Series(None, index=index, dtype=object)
    reasons[failed] = ("lead schema: " + problems.sort_index()).to_numpy()
    return reasons


def map_leads(
    leads: pd.DataFrame,
    rules: Sequence[FieldRule],
    identity_field: str,
    *,
    max_lengths: Mapping[str, int] | None = None,
) -> MappedLeads:
    """Apply `rules` to `leads` (needs `lead_id` and `linkedin_url`), vectorised per column.

    `identity_field` is the CRM field that receives the canonical LinkedIn URL (HubSpot's
    unique property, Salesforce's External ID); a lead without one cannot be upserted and is
    rejected. `max_lengths` caps rules by the CRM's own field lengths (Salesforce describe).
    """
    index = pd.Index(leads["lead_id"].astype(str), name="lead_id")
    frame = leads.set_axis(index, axis=0)
    values = pd.DataFrame(index=index)
    reasons = _schema_reasons(leads, index)
    truncated = pd.Series("", index=index, dtype=object)
    for rule in rules:
        raw = frame[rule.lead_field] if rule.lead_field in frame.columns else pd.Series(None, index=index)
        column = clean_values(_as_text(raw, rule.type))
        if rule.fallback:
            fallback = (
                frame[rule.fallback] if rule.fallback in frame.columns else pd.Series(None, index=index)
            )
            alternative = clean_values(_as_text(fallback, rule.type))
            column = _object(np.where(column.notna(), column, alternative), np.ones(len(column), bool), index)
        if rule.type == "number":
            bad = column.notna() & pd.to_numeric(column, errors="coerce").isna()
            reasons = _append_reason(reasons, bad, f"{rule.target}: not a number")
        else:
            column = neutralise_formulas(column)
        limit = _limit(rule, max_lengths)
        if limit:
            lengths = column.str.len()
            too_long = column.notna() & (lengths > limit)
            if too_long.any():
                if rule.on_too_long == "truncate":
                    cut = column.str.slice(0, limit).str.rstrip()
                    column = _object(np.where(too_long, cut, column), np.ones(len(column), bool), index)
                    truncated[too_long] = (truncated[too_long] + ",").str.lstrip(",") + rule.target
                else:
                    text = (
                        f"{rule.target}: value too long for the CRM field ("
                        + lengths[too_long].astype(int).astype(str)
                        + f" > {limit} characters, rule: reject)"
                    )
                    reasons = _append_reason(reasons, too_long, text)
        if rule.required:
            source = rule.lead_field + (f" or {rule.fallback}" if rule.fallback else "")
            reasons = _append_reason(
                reasons, column.isna(), f"REQUIRED_FIELD_MISSING: {rule.target} (lead has no {source})"
            )
        values[rule.target] = column
    identity = (
        clean_values(frame["linkedin_url"])
        if "linkedin_url" in frame.columns
        else pd.Series(None, index=index)
    )
    reasons = _append_reason(
        reasons, identity.isna(), f"{identity_field}: lead has no canonical LinkedIn URL"
    )
    values[identity_field] = identity
    return MappedLeads(values, reasons, truncated, content_hashes(values), identity_field)


def content_hashes(values: pd.DataFrame) -> pd.Series:
    """sha256 of every row's (field, value) pairs, columns in name order; None counts as absent."""
    columns = sorted(values.columns)
    if not len(values):
        return pd.Series([], index=values.index, dtype=object)
    joined = pd.Series("", index=values.index, dtype=object)
    for name in columns:
        col = values[name]
        part = (name + "=" + col.astype(str)).where(col.notna(), "")
        joined = joined + part + "\x1f"
    return joined.map(lambda s: hashlib.sha256(s.encode("utf-8")).hexdigest())


# --------------------------------------------------------------------------------------------
# What to send.
# --------------------------------------------------------------------------------------------

SEND, UNCHANGED, HELD, GAVE_UP = "send", "unchanged", "held", "gave_up"


def select_for_sync(hashes: pd.Series, states: pd.DataFrame, max_attempts: int) -> pd.DataFrame:
    """Per lead (index of `hashes`): the action and the attempt count a send would carry.

    `states` has lead_id, state, content_hash, attempts, permanent (missing leads: never synced).
    Actions: ``send`` (new, changed, pending, skipped before, or a fixable rejection with attempts
    left), ``unchanged`` (the CRM holds this exact content), ``held`` (rejected for a permanent
    reason and unchanged since: reported once already), ``gave_up`` (fixable rejection, retry
    bound reached: becomes permanent now and is reported once).
    """
    st = states.set_index("lead_id") if "lead_id" in states.columns else states
    st = st.reindex(hashes.index)
    state = st["state"].astype(object)
    same = (st["content_hash"].astype(object) == hashes.astype(object)).to_numpy(dtype=bool)
    attempts = pd.to_numeric(st["attempts"], errors="coerce").fillna(0).astype(int)
    permanent = st["permanent"].astype("boolean").fillna(False).astype(bool)
    action = pd.Series(SEND, index=hashes.index, dtype=object)
    confirmed = state.isin(["created", "updated"])
    rejected = state.eq("rejected")
    action[confirmed & same] = UNCHANGED
    action[rejected & same & permanent] = HELD
    action[rejected & same & ~permanent & (attempts >= max_attempts)] = GAVE_UP
    # A send of unchanged content continues its attempt count (a skip, e.g. deferred by a daily
    # limit, keeps it too); new content starts again.
    carried = (rejected | state.isin(["pending", "skipped"])) & same
    return pd.DataFrame({"action": action, "attempts": np.where(carried, attempts, 0)}, index=hashes.index)


# --------------------------------------------------------------------------------------------
# Mapping validation against the CRM's own schema.
# --------------------------------------------------------------------------------------------


@dataclass
class MappingRow:
    """One line of the mapping report."""

    lead_field: str
    target: str
    sends: str
    crm_type: str
    status: str  # "ok" or the problem


@dataclass
class MappingReport:
    """The mapping as checked against the CRM: problems stop the sync before anything is sent."""

    crm: str
    rows: list[MappingRow] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    max_lengths: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing stops the sync."""
        return not self.problems

    def format(self) -> str:
        """A readable table of the mapping followed by the problems, if any."""
        head = ("lead field", f"{self.crm} field", "sends", "CRM type", "status")
        table = [head, *((r.lead_field, r.target, r.sends, r.crm_type, r.status) for r in self.rows)]
        widths = [max(len(str(row[i])) for row in table) for i in range(len(head))]
        lines = [
            "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in table
        ]
        if self.problems:
            lines += ["", f"{len(self.problems)} problem(s): the sync stops before sending anything"]
            lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def record_check(
    report: MappingReport, rule_field: str, target: str, sends: str, crm_type: str, problem: str | None
) -> None:
    """Add one line to `report`: a rule's target as the CRM has it, and its problem (None: ok)."""
    report.rows.append(MappingRow(rule_field, target, sends, crm_type, problem or "ok"))
    if problem:
        report.problems.append(f"{target} ({rule_field}): {problem}")


# --------------------------------------------------------------------------------------------
# Error classification.
# --------------------------------------------------------------------------------------------


def is_permanent(code: str, permanent: Iterable[str]) -> bool:
    """Whether retrying the same record cannot help (unknown codes are retried, bounded)."""
    return code in set(permanent)
