"""Data quality score (0-100) and qualification of normalised leads.

The formula is the sprint brief's:

- required fields, 30: 6 each for a valid full_name, linkedin_url, job_title,
  company_name and location (a city and a valid state), as in `validation_errors`;
- email, 30: 20 for a syntactically valid email, 10 more when it is verified;
- company data, 20: 20/3 each for website, industry and size;
- job title, 10: 10 for a target role, 5 for any other non-empty title;
- location, 10: 10 for a city and a US state code, 5 for exactly one of them.

The parts are summed unrounded and the total is rounded half up once. Parts are kept in
thirds of a point (integers), so the rounding is exact.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from lead_assets.core.lead_schema import COMPANY_FIELDS
from lead_assets.core.normalise import column_values, location_checks, present_mask, required_field_checks

# Statuses whose email counts as present: an undeliverable address is still a valid one.
EMAIL_PRESENT_STATUSES = frozenset({"unverified", "verified", "undeliverable"})

# Points of each part, in thirds of a point.
_REQUIRED_EACH = 18  # 6 points
_EMAIL_VALID = 60  # 20
_EMAIL_VERIFIED = 30  # 10
_COMPANY_EACH = 20  # 20/3
_TITLE_TARGET, _TITLE_OTHER = 30, 15  # 10, 5
_LOCATION_BOTH, _LOCATION_ONE = 30, 15  # 10, 5

PARTS: tuple[str, ...] = ("required_fields", "email", "company_data", "job_title", "location")


def _parts_in_thirds(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each part of the score per row, as int64 arrays of thirds of a point."""
    loc = location_checks(df)
    required = sum(v.astype(np.int64) for v in required_field_checks(df, loc).values()) * _REQUIRED_EACH

    email = column_values(df, "email")
    status = column_values(df, "email_status")
    has_email = np.fromiter(
        (
            isinstance(e, str) and bool(e) and s in EMAIL_PRESENT_STATUSES
            for e, s in zip(email, status, strict=True)
        ),
        bool,
        len(df),
    )
    verified = has_email & np.fromiter(
        (isinstance(s, str) and s == "verified" for s in status), bool, len(df)
    )
    email_pts = has_email * _EMAIL_VALID + verified * _EMAIL_VERIFIED

    company = sum(present_mask(column_values(df, f)).astype(np.int64) for f in COMPANY_FIELDS) * _COMPANY_EACH

    target = present_mask(column_values(df, "target_role"))
    titled = present_mask(column_values(df, "job_title"))
    title_pts = np.where(target, _TITLE_TARGET, np.where(titled, _TITLE_OTHER, 0))

    n_loc = loc["city_present"].astype(np.int64) + loc["us_state"].astype(np.int64)
    location_pts = np.select([n_loc == 2, n_loc == 1], [_LOCATION_BOTH, _LOCATION_ONE], 0)

    return {
        "required_fields": np.asarray(required, dtype=np.int64),
        "email": np.asarray(email_pts, dtype=np.int64),
        "company_data": np.asarray(company, dtype=np.int64),
        "job_title": np.asarray(title_pts, dtype=np.int64),
        "location": np.asarray(location_pts, dtype=np.int64),
    }


def _round_thirds(total_thirds: np.ndarray) -> np.ndarray:
    # floor(t/3 + 1/2) in integers: round half up without float error.
    return (2 * total_thirds + 3) // 6


def quality_scores(df: pd.DataFrame) -> pd.Series:
    """`data_quality_score` (int64, 0-100) of each normalised lead, index kept."""
    total = sum(_parts_in_thirds(df).values())
    return pd.Series(_round_thirds(np.asarray(total, dtype=np.int64)), index=df.index, dtype="int64")


def is_qualified(df: pd.DataFrame) -> pd.Series:
    """Bool Series: no validation errors, a target role, and located in the US."""
    errors = column_values(df, "validation_errors")
    no_errors = np.fromiter((isinstance(e, str) and e == "" for e in errors), bool, len(df))
    country = column_values(df, "location_country")
    in_us = np.fromiter((isinstance(c, str) and c == "US" for c in country), bool, len(df))
    return pd.Series(no_errors & present_mask(column_values(df, "target_role")) & in_us, index=df.index, dtype=bool)


def score_leads(df: pd.DataFrame) -> pd.DataFrame:
    """Copy of `df` with `data_quality_score` and `is_qualified` set."""
    out = df.copy()
    out["data_quality_score"] = quality_scores(df).to_numpy()
    out["is_qualified"] = is_qualified(df).to_numpy()
    return out


def score_breakdown(row: Mapping) -> dict[str, float]:
    """Points of each part for one normalised lead, plus the unrounded `total` and the `score`."""
    parts = _parts_in_thirds(pd.DataFrame([dict(row)]))
    out = {name: float(parts[name][0]) / 3 for name in PARTS}
    total_thirds = sum(int(parts[name][0]) for name in PARTS)
    out["total"] = total_thirds / 3
    out["score"] = float(_round_thirds(np.int64(total_thirds)))
    return out
