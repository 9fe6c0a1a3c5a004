"""The lead record: one row per person, the columns every layer agrees on.

The ``leads`` table in ``sql/`` and the DataFrames passed between the core, the
store and the Dagster layer all use these names.
"""

from __future__ import annotations

SOURCES: tuple[str, ...] = ("apollo", "zoominfo", "sales_navigator")

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
