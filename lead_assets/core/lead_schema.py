"""The lead record: one row per person, the columns every layer agrees on.

The ``leads`` table in ``sql/`` and the DataFrames passed between the core, the
store and the Dagster layer all use these names. `LeadRow` is the pandera model of a
lead row at the two boundaries: what the store writes (`LeadStore.upsert_leads`) and
what the CRM export maps (`crm_mapping.map_leads`); `lead_row_problems` runs it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors
from pandera.typing import Series

# Fields of the sprint brief's schema, in the brief's order.
BRIEF_FIELDS: tuple[str, ...] = (
    "full_name",
    "linkedin_url",
    "job_title",
    "company_name",
    "location_city",
    "location_state",
    "location_country",
    "email",
    "phone",
    "company_website",
    "company_industry",
    "company_size",
    "profile_picture_url",
    "data_source",
    "data_collected_date",
    "data_quality_score",
    "is_qualified",
    "email_verified",
    "crm_synced",
    "crm_sync_date",
    "created_at",
    "updated_at",
)

# What dedup, scoring and enrichment need on top of the brief's fields.
EXTRA_FIELDS: tuple[str, ...] = (
    "lead_id",  # stable id, minted once from the first dedup key that saw the person
    "first_name",
    "last_name",
    "target_role",  # one of the sprint profile's target roles, or None
    "email_status",  # see EMAIL_STATUSES
    "needs_enrichment",  # a required field, the email or company data is missing
    "validation_errors",  # ';'-joined reasons a required field is missing or invalid ('' when valid)
    "first_partition_key",  # hour|source partition that first stored the person
)

LEAD_COLUMNS: tuple[str, ...] = ("lead_id", *BRIEF_FIELDS[:-2], *EXTRA_FIELDS[1:], "created_at", "updated_at")

# Required fields of the brief: 6 quality points each, and all valid for a lead to qualify.
REQUIRED_FIELDS: tuple[str, ...] = ("full_name", "linkedin_url", "job_title", "company_name", "location")

COMPANY_FIELDS: tuple[str, ...] = ("company_website", "company_industry", "company_size")

EMAIL_STATUSES: tuple[str, ...] = (
    "missing",  # no email at all
    "invalid",  # the vendor sent something that is not an RFC 5322 address (dropped from `email`)
    "unverified",  # syntactically valid, not yet verified
    "verified",  # verified deliverable (vendor status `verified` or a verifier said valid)
    "undeliverable",  # a verifier said it bounces: kept, not counted as available
)

# A canonical profile URL (`normalise.canonical_linkedin_url`): https, www, /in/, one slug of
# unreserved or percent-encoded characters, nothing after it. Blank means "no URL" (stored NULL).
LINKEDIN_URL_PATTERN = r"(?:\s*|https://www\.linkedin\.com/in/(?:[A-Za-z0-9\-_.~]|%[0-9A-Fa-f]{2}){1,300})"
MAX_COMPANY_SIZE = 10_000_000


def _whole_numbers_between(s: pd.Series, low: int, high: int) -> pd.Series:
    """True where `s` is missing or a whole number (of any numeric type, or text) in [low, high]."""
    if s.dtype == object:  # True is no number here, though Python counts it as 1
        s = s.where(~s.map(lambda v: isinstance(v, bool)), None)
    number = pd.to_numeric(s, errors="coerce")
    return s.isna() | (number.between(low, high) & number.eq(number.round()))


class LeadRow(pa.DataFrameModel):
    """One lead row as the store writes it and the CRM export reads it.

    Any subset of LEAD_COLUMNS with lead_id (the store merges the columns a frame has);
    no other column. Text columns hold text or null; the checks are the ones the database
    (CHECK, NOT NULL) and the CRM mapping rely on. Timestamps and flags are converted by
    the store itself, so only their presence is checked here.
    """

    lead_id: Series[str] = pa.Field(nullable=False, unique=True)
    full_name: Series[Any] | None = pa.Field(nullable=True)
    linkedin_url: Series[Any] | None = pa.Field(nullable=True)
    job_title: Series[Any] | None = pa.Field(nullable=True)
    company_name: Series[Any] | None = pa.Field(nullable=True)
    location_city: Series[Any] | None = pa.Field(nullable=True)
    location_state: Series[Any] | None = pa.Field(nullable=True)
    location_country: Series[Any] | None = pa.Field(nullable=True)
    email: Series[Any] | None = pa.Field(nullable=True)
    phone: Series[Any] | None = pa.Field(nullable=True)
    company_website: Series[Any] | None = pa.Field(nullable=True)
    company_industry: Series[Any] | None = pa.Field(nullable=True)
    company_size: Series[Any] | None = pa.Field(nullable=True)
    profile_picture_url: Series[Any] | None = pa.Field(nullable=True)
    data_source: Series[Any] | None = pa.Field(nullable=True)
    data_collected_date: Series[Any] | None = pa.Field(nullable=True)
    data_quality_score: Series[Any] | None = pa.Field(nullable=True)
    is_qualified: Series[Any] | None = pa.Field(nullable=True)
    email_verified: Series[Any] | None = pa.Field(nullable=True)
    crm_synced: Series[Any] | None = pa.Field(nullable=True)
    crm_sync_date: Series[Any] | None = pa.Field(nullable=True)
    first_name: Series[Any] | None = pa.Field(nullable=True)
    last_name: Series[Any] | None = pa.Field(nullable=True)
    target_role: Series[Any] | None = pa.Field(nullable=True)
    email_status: Series[Any] | None = pa.Field(nullable=True, isin=EMAIL_STATUSES)
    needs_enrichment: Series[Any] | None = pa.Field(nullable=True)
    validation_errors: Series[Any] | None = pa.Field(nullable=True)
    first_partition_key: Series[Any] | None = pa.Field(nullable=True)
    created_at: Series[Any] | None = pa.Field(nullable=True)
    updated_at: Series[Any] | None = pa.Field(nullable=True)

    @pa.check("linkedin_url", name="canonical_linkedin_url")
    def _canonical_url(cls, s: pd.Series) -> pd.Series:
        return s.isna() | s.str.fullmatch(LINKEDIN_URL_PATTERN).fillna(False).astype(bool)

    @pa.check("company_size", name="employee_count_1_to_10M")
    def _company_size(cls, s: pd.Series) -> pd.Series:
        return _whole_numbers_between(s, 1, MAX_COMPANY_SIZE)

    @pa.check("data_quality_score", name="score_0_to_100")
    def _score(cls, s: pd.Series) -> pd.Series:
        return _whole_numbers_between(s, 0, 100)

    class Config:
        strict = True  # a column the leads table does not have is a caller's mistake


class LeadFrameError(ValueError):
    """The frame itself does not fit `LeadRow` (a missing lead_id column, an unknown column,
    duplicate lead ids): a caller's mistake, not a bad row."""


def lead_row_problems(df: pd.DataFrame) -> pd.Series:
    """Why each row of `df` fails `LeadRow` (index: the rows that fail; empty when all pass).

    One lazy validation of the whole frame, so every problem of a row is named
    ("data_quality_score: score_0_to_100 (150)"). Raises `LeadFrameError` when the frame as a
    whole does not fit (no lead_id column, a column that is not a lead column, a lead_id twice).
    """
    try:
        LeadRow.validate(df, lazy=True, inplace=True)  # inplace: nothing is coerced, so no copy is needed
    except SchemaErrors as exc:
        cases = exc.failure_cases
    else:
        return pd.Series(dtype=object)
    row_level = cases["index"].notna() & ~cases["check"].astype(str).str.startswith("field_uniqueness")
    if not row_level.all():
        frame_level = cases[~row_level]
        raise LeadFrameError("lead frame does not fit the lead schema: " + "; ".join(
            f"{c['column'] or 'frame'}: {c['check']} ({c['failure_case']})" for _, c in frame_level.head(5).iterrows()))
    reasons = (cases["column"].astype(str) + ": " + cases["check"].astype(str) + " ("
               + cases["failure_case"].astype(str).str.slice(0, 80) + ")")
    return reasons.groupby(cases["index"].to_numpy(), sort=False).agg("; ".join).rename("reason")
