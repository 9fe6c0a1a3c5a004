"""Quality score and qualification, checked against hand-computed sums of the brief's formula."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lead_assets.config.settings import sprint_config
from lead_assets.core.normalise import LEAD_INPUT_COLUMNS, normalise_leads
from lead_assets.core.scoring import is_qualified, quality_scores, score_breakdown, score_leads
from lead_assets.core.titles import TitleMatcher

# A normalised lead with every field: 30 + 30 + 20 + 10 + 10 = 100.
FULL = {
    "full_name": "Jane Doe",
    "first_name": "Jane",
    "last_name": "Doe",
    "linkedin_url": "https://www.linkedin.com/in/jane-doe",
    "job_title": "Senior PPC Manager",
    "company_name": "Acme",
    "location_city": "Austin",
    "location_state": "TX",
    "location_country": "US",
    "email": "jane@acme.com",
    "email_status": "verified",
    "phone": None,
    "company_website": "acme.com",
    "company_industry": "internet",
    "company_size": 120,
    "profile_picture_url": None,
    "target_role": "PPC Manager",
    "validation_errors": "",
    "needs_enrichment": False,
}
NO_EMAIL_NO_COMPANY = {
    "email": None,
    "email_status": "missing",
    "company_website": None,
    "company_industry": None,
    "company_size": None,
}


def lead(**overrides) -> dict:
    row = dict(FULL)
    row.update(overrides)
    return row


def score(row: dict) -> int:
    return int(quality_scores(pd.DataFrame([row])).iloc[0])


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (lead(), 100),
        (lead(email_status="unverified"), 30 + 20 + 20 + 10 + 10),
        (lead(email_status="undeliverable"), 30 + 20 + 20 + 10 + 10),
        (lead(email="x", email_status="invalid"), 30 + 0 + 20 + 10 + 10),  # status says not valid
        (lead(**NO_EMAIL_NO_COMPANY), 30 + 0 + 0 + 10 + 10),  # 50
        # 30 + 20/3 + 10 + 10 = 56.67 -> 57
        (lead(**{**NO_EMAIL_NO_COMPANY, "company_website": "acme.com"}), 57),
        # 30 + 40/3 + 10 + 10 = 63.33 -> 63
        (lead(**{**NO_EMAIL_NO_COMPANY, "company_website": "acme.com", "company_industry": "x"}), 63),
        # verified email, no company: 30 + 30 + 0 + 10 + 10
        (lead(company_website=None, company_industry=None, company_size=None), 80),
        # near-miss title: 30 + 30 + 20 + 5 + 10
        (lead(job_title="Marketing Manager", target_role=None), 95),
        # no title at all: 24 + 30 + 20 + 0 + 10
        (lead(job_title=None, target_role=None), 84),
        # no city: location invalid (24), location part 5 for the state: 24 + 30 + 20 + 10 + 5
        (lead(location_city=None), 89),
        # state not a US code although the country is US: 24 + 30 + 20 + 10 + 5 (city)
        (lead(location_state="Ontario"), 89),
        # abroad: location valid (30) but only the city counts for the US location part
        (lead(location_state="Ontario", location_country="Canada"), 30 + 30 + 20 + 10 + 5),
        # bad LinkedIn URL and a too long name: 18 + 30 + 20 + 10 + 10
        (lead(linkedin_url=None, full_name="x" * 201), 88),
        # only a near-miss title and a website: 6 + 20/3 + 5 = 17.67 -> 18
        ({"job_title": "CMO", "company_website": "acme.com"}, 18),
        # only a company size: 20/3 = 6.67 -> 7
        ({"company_size": 5}, 7),
        ({}, 0),
    ],
)
def test_score_examples(row, expected):
    assert score(row) == expected


def test_score_rounds_the_sum_not_the_parts():
    # Each company field is 6.67; rounding per part would give 7 + 7 = 14, the sum gives 13.
    row = {"company_website": "acme.com", "company_industry": "internet"}
    assert score(row) == 13
    parts = score_breakdown(row)
    assert parts["company_data"] == pytest.approx(40 / 3)
    assert parts["total"] == pytest.approx(13.3333, abs=1e-3)


def test_score_breakdown_of_a_full_lead():
    parts = score_breakdown(lead(email_status="unverified", company_size=None))
    assert parts == pytest.approx(
        {
            "required_fields": 30,
            "email": 20,
            "company_data": 40 / 3,
            "job_title": 10,
            "location": 10,
            "total": 83 + 1 / 3,
            "score": 83,
        }
    )


def test_scores_are_int_and_index_kept():
    df = pd.DataFrame([lead(), lead(**NO_EMAIL_NO_COMPANY)], index=["x", "y"])
    scores = quality_scores(df)
    assert scores.dtype == np.int64
    assert scores.to_dict() == {"x": 100, "y": 50}


@pytest.mark.parametrize(
    ("row", "qualified"),
    [
        (lead(), True),
        (lead(**NO_EMAIL_NO_COMPANY), True),  # qualification ignores email and company data
        (lead(validation_errors="location:missing_city"), False),
        (lead(validation_errors=None), False),
        (lead(target_role=None), False),
        (lead(location_country="Canada"), False),
        (lead(location_country=None), False),
    ],
)
def test_is_qualified(row, qualified):
    assert bool(is_qualified(pd.DataFrame([row])).iloc[0]) is qualified


def test_score_leads_sets_columns_on_a_copy():
    df = pd.DataFrame([lead(), lead(target_role=None)], index=[4, 9])
    out = score_leads(df)
    assert "data_quality_score" not in df.columns
    assert out["data_quality_score"].tolist() == [100, 95]
    assert out["is_qualified"].tolist() == [True, False]
    assert list(out.index) == [4, 9]


def test_end_to_end_from_vendor_fields():
    raw = pd.DataFrame(
        [
            {
                "full_name": "Jane Doe",
                "linkedin_url": "linkedin.com/in/jane-doe",
                "job_title": "Sr. Paid Search Manager",
                "company_name": "Acme",
                "location_city": "Boston",
                "location_state": "Massachusetts",
                "email": "email_not_unlocked@domain.com",
                "company_website": "https://acme.com",
                "company_industry": "retail",
                "company_size": "201-500",
            }
        ]
    )
    out = score_leads(normalise_leads(raw, TitleMatcher.from_config(sprint_config())))
    row = out.iloc[0]
    assert row["location_country"] == "US"  # inferred from the state
    assert row["data_quality_score"] == 30 + 0 + 20 + 10 + 10
    assert bool(row["is_qualified"])


_junk = st.one_of(
    st.none(),
    st.just(float("nan")),
    st.integers(),
    st.floats(),
    st.text(max_size=30),
    st.sampled_from(["verified", "Texas", "US", "acme.com", "PPC Manager", "a@b.com", "51-200"]),
)


@given(st.lists(st.fixed_dictionaries({c: _junk for c in LEAD_INPUT_COLUMNS}), min_size=1, max_size=8))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_score_is_always_an_int_in_range(rows):
    out = score_leads(normalise_leads(pd.DataFrame(rows), TitleMatcher.from_config(sprint_config())))
    scores = out["data_quality_score"]
    assert scores.dtype == np.int64
    assert ((scores >= 0) & (scores <= 100)).all()
    for (_, row), s in zip(out.iterrows(), scores, strict=True):
        assert score_breakdown(row.to_dict())["score"] == s
    # qualified implies the required parts and the title and location are all there
    assert (scores[out["is_qualified"]] >= 30 + 10 + 10).all()
