"""The lead schema (`LeadRow`) at the store's and the CRM export's boundary."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from lead_assets.config.settings import sprint_config
from lead_assets.core.crm_config import FieldRule
from lead_assets.core.crm_mapping import map_leads
from lead_assets.core.lead_schema import LEAD_COLUMNS, LeadFrameError, lead_row_problems
from lead_assets.core.titles import TitleMatcher
from lead_assets.core.vendor_records import apollo_person_record
from lead_assets.pipeline.lead_batches import VendorRecord, store_batch
from lead_assets.store.dedup_index import DedupIndex

MATCHER = TitleMatcher.from_config(sprint_config())
PK = "2026-11-27-00:00|apollo"


def person(i: int, **over) -> dict:
    p = {
        "id": f"p{i}",
        "name": f"Jane Doe{i}",
        "first_name": "Jane",
        "last_name": f"Doe{i}",
        "linkedin_url": f"http://www.LinkedIn.com/in/Jane-Doe-{i}/",
        "title": "Senior PPC Manager",
        "email": f"jane{i}@acme.com" if i % 2 else None,
        "email_status": "verified",
        "city": "Austin",
        "state": "Texas",
        "country": "United States",
        "organization": {"name": "Acme", "primary_domain": "acme.com", "industry": "retail",
                         "estimated_num_employees": "51-200"},
    }
    p.update(over)
    return p


def test_a_real_batch_fits_the_schema_as_stored_and_as_read_back(store):
    people = [person(i) for i in range(40)] + [person(99, linkedin_url="https://www.linkedin.com/in/zoë-ø")]
    out = store_batch([VendorRecord(p, *apollo_person_record(p)) for p in people], source="apollo",
                      partition_key=PK, store=store, index=DedupIndex(store, None), matcher=MATCHER)
    assert (out.new_leads, out.quarantined) == (41, 0)
    leads = store.read_leads()
    assert list(leads.columns) == list(LEAD_COLUMNS) and len(leads) == 41
    assert lead_row_problems(leads).empty
    assert "https://www.linkedin.com/in/zo%C3%AB-%C3%B8" in set(leads["linkedin_url"])


def test_rows_are_refused_with_every_reason_and_good_rows_pass():
    now = datetime(2026, 11, 27, tzinfo=UTC)
    df = pd.DataFrame(
        {
            "lead_id": ["ok", "bad", "worse", None],
            "linkedin_url": ["https://www.linkedin.com/in/ok", "https://linkedin.com/company/x", " ", None],
            "data_quality_score": pd.array([100, 101, None, 0], dtype="Int64"),
            "company_size": [250, 0, "many", None],
            "email_status": ["verified", "unverified", "maybe", None],
            "is_qualified": [True, False, None, True],
            "created_at": [now] * 4,
        },
        index=[7, 8, 9, 10],
    )
    problems = lead_row_problems(df)
    assert sorted(problems.index) == [8, 9, 10]
    assert problems[8] == ("linkedin_url: canonical_linkedin_url (https://linkedin.com/company/x); "
                           "company_size: employee_count_1_to_10M (0); data_quality_score: score_0_to_100 (101)")
    assert "company_size: employee_count_1_to_10M (many)" in problems[9] and "(maybe)" in problems[9]
    assert problems[10] == "lead_id: not_nullable (None)"


@pytest.mark.parametrize(
    ("df", "message"),
    [
        (pd.DataFrame({"full_name": ["x"]}), r"column_in_dataframe \(lead_id\)"),
        (pd.DataFrame({"lead_id": ["a"], "score": [1]}), r"column_in_schema \(score\)"),
        (pd.DataFrame({"lead_id": ["a", "a"]}), r"field_uniqueness \(a\)"),
    ],
)
def test_a_frame_that_does_not_fit_as_a_whole_is_the_callers_mistake(df, message):
    with pytest.raises(LeadFrameError, match=message):
        lead_row_problems(df)


def test_the_crm_export_rejects_a_refused_row_with_the_schema_reason_and_maps_the_rest():
    rules = (FieldRule("last_name", "LastName", required=True), FieldRule("company_name", "Company"))
    leads = pd.DataFrame(
        {
            "lead_id": ["a", "b", "c"],
            "last_name": ["Doe", "Roe", "Poe"],
            "company_name": ["Acme", "Acme", "Acme"],
            "linkedin_url": ["https://www.linkedin.com/in/a", "https://www.linkedin.com/in/b",
                             "https://www.linkedin.com/in/c"],
            "data_quality_score": [80, 250, 90],
            "extra_column_of_the_caller": [1, 2, 3],  # the export reads lead columns only
        }
    )
    mapped = map_leads(leads, rules, "LinkedIn_URL__c")
    assert list(mapped.sendable()) == ["a", "c"]
    assert mapped.reject_reason["b"] == "lead schema: data_quality_score: score_0_to_100 (250)"
    assert mapped.values.loc["b", "LastName"] == "Roe"  # mapped, but not sent


def test_a_batch_row_the_store_refuses_ends_in_quarantine_not_in_lead_sources(store, monkeypatch):
    from lead_assets.pipeline import lead_batches

    real = lead_batches.score_leads

    def broken_score(df):  # a scoring bug that gives one person 150 points
        out = real(df)
        out.loc[out["full_name"] == "Jane Doe2", "data_quality_score"] = 150
        return out

    monkeypatch.setattr(lead_batches, "score_leads", broken_score)
    people = [person(i) for i in range(4)]
    out = store_batch([VendorRecord(p, *apollo_person_record(p)) for p in people], source="apollo",
                      partition_key=PK, store=store, index=DedupIndex(store, None), matcher=MATCHER)
    assert (out.new_leads, out.quarantined, len(out.lead_ids)) == (3, 1, 3)
    assert sorted(store.read_sql("SELECT vendor_person_id FROM lead_sources")["vendor_person_id"]) == [
        "p0", "p1", "p3"]
    q = store.read_sql("SELECT source, partition_key, reason, payload FROM quarantine")
    assert q["reason"].tolist() == ["lead row fails the lead schema: data_quality_score: score_0_to_100 (150)"]
    assert (q["source"].iloc[0], q["partition_key"].iloc[0]) == ("apollo", PK) and "Jane Doe2" in q["payload"].iloc[0]
