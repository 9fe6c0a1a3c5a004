"""Batch resolution: identify, dedup (LinkedIn URL, then email, then vendor id), merge, quarantine."""

from __future__ import annotations

import pandas as pd

from lead_assets.config.settings import sprint_config
from lead_assets.core.titles import TitleMatcher
from lead_assets.core.vendor_records import apollo_person_record
from lead_assets.pipeline.lead_batches import VendorRecord, merge_people, resolve_lead_ids, store_batch
from lead_assets.store.dedup_index import DedupIndex

MATCHER = TitleMatcher.from_config(sprint_config())
PK = "2026-11-27-00:00|apollo"


def person(pid, **over):
    p = {
        "id": pid,
        "first_name": "Jane",
        "last_name": "Doe",
        "name": "Jane Doe",
        "linkedin_url": f"https://www.linkedin.com/in/jane-{pid}",
        "title": "Senior PPC Manager",
        "email": None,
        "email_status": None,
        "city": "Austin",
        "state": "Texas",
        "country": "United States",
        "organization": {
            "name": "Acme",
            "primary_domain": "acme.com",
            "industry": "retail",
            "estimated_num_employees": 120,
        },
    }
    p.update(over)
    return p


def records(*people):
    return [VendorRecord(p, *apollo_person_record(p)) for p in people]


def run(store, people, source="apollo"):
    return store_batch(
        records(*people),
        source=source,
        partition_key=PK,
        store=store,
        index=DedupIndex(store, None),
        matcher=MATCHER,
    )


def test_url_variants_of_one_person_become_one_lead(store):
    out = run(
        store,
        [
            person("a1", linkedin_url="http://UK.linkedin.com/in/Jane-X/?trk=1"),
            person("a2", linkedin_url="https://www.linkedin.com/in/jane-x"),
        ],
    )
    leads = store.read_leads()
    assert (out.records, out.new_leads, out.merged) == (2, 1, 1)
    assert leads["linkedin_url"].tolist() == ["https://www.linkedin.com/in/jane-x"]
    assert sorted(store.sources_for(leads["lead_id"].tolist())["vendor_person_id"]) == ["a1", "a2"]


def test_email_matches_when_there_is_no_linkedin_url(store):
    run(store, [person("a1", linkedin_url="https://linkedin.com/in/jd1", email="JD@Acme.com")])
    run(store, [person("z9", linkedin_url=None, email="jd@acme.com")], source="zoominfo")
    leads = store.read_leads()
    assert len(leads) == 1
    assert leads.iloc[0]["email"] == "jd@acme.com"


def test_merge_fills_gaps_and_a_verified_email_wins(store):
    run(store, [person("a1", organization={"name": "Acme"})])
    run(store, [person("z1", linkedin_url="linkedin.com/in/jane-a1", email="jane@acme.com", email_status="verified")],
        source="zoominfo")
    assert len(store.read_leads()) == 1
    lead = store.read_leads().iloc[0]
    assert lead["email"] == "jane@acme.com" and lead["email_status"] == "verified"
    assert lead["company_website"] == "acme.com" and lead["company_industry"] == "retail"
    assert lead["data_source"] == "apollo"  # the first source that saw the person stays
    assert lead["data_quality_score"] == 100


def test_unidentifiable_records_are_quarantined_with_reasons(store):
    out = run(
        store,
        [
            person("n1", name=None, first_name=None, last_name=None),
            person("n2", linkedin_url=None, email=None),
            "not an object",
            {"first_name": "no id"},
            person("ok"),
        ],
    )
    assert (out.quarantined, out.new_leads) == (4, 1)
    reasons = store.read_sql("SELECT reason FROM quarantine ORDER BY reason")["reason"].tolist()
    assert any("no name" in r for r in reasons)
    assert any("no LinkedIn URL and no email" in r for r in reasons)
    assert any("not an object" in r for r in reasons)
    assert any("no id" in r for r in reasons)


def test_wrong_types_and_hostile_strings_are_kept_safely(store):
    hostile = '=HYPERLINK("http://x");\'); DROP TABLE leads;-- <script>alert(1)</script>'
    out = run(
        store,
        [
            person(
                "h1",
                title=12345,
                city=["Austin"],
                organization="Acme as a string",
                name="Zoë Null\x00Byte " + "x" * 300,
                last_name=hostile,
            )
        ],
    )
    lead = store.read_leads().iloc[0]
    assert out.new_leads == 1
    assert lead["job_title"] == "12345" and lead["location_city"] is None
    assert "\x00" not in lead["full_name"] and "full_name:too_long" in lead["validation_errors"]
    assert lead["last_name"] == hostile  # stored verbatim; outputs escape it


def test_rerunning_a_batch_changes_nothing(store):
    people = [person(f"p{i}", email=f"p{i}@acme.com") for i in range(20)]
    run(store, people)
    before = store.read_leads().sort_values("lead_id").reset_index(drop=True)
    out = run(store, people)
    after = store.read_leads().sort_values("lead_id").reset_index(drop=True)
    assert out.new_leads == 0
    pd.testing.assert_frame_equal(before.drop(columns=["updated_at"]), after.drop(columns=["updated_at"]))


def test_resolution_prefers_linkedin_over_email():
    keys = pd.DataFrame(
        {
            "row": [0, 0, 1],
            "kind": ["linkedin", "email", "email"],
            "key": ["li:a", "em:x", "em:x"],
        }
    )
    lead_of_row, method = resolve_lead_ids(keys, {"li:a": "L1", "em:x": "L2"})
    assert lead_of_row == {0: "L1", 1: "L1"}  # rows sharing a key are one person
    assert method[0] == "linkedin"


def test_merge_people_keeps_existing_values_first():
    existing = pd.DataFrame(
        [{"lead_id": "L", "job_title": "PPC Manager", "email": None, "email_status": "missing"}]
    )
    incoming = pd.DataFrame(
        [{"lead_id": "L", "job_title": "Other", "email": "a@b.co", "email_status": "unverified"}]
    )
    merged = merge_people(existing, incoming)
    assert merged.iloc[0]["job_title"] == "PPC Manager"
    assert merged.iloc[0]["email"] == "a@b.co"


def test_a_lead_without_linkedin_url_is_found_by_name_at_company_domain(store):
    # Stored first with only an email (a Sales Navigator row without a public profile) ...
    run(store, [person("sn1", linkedin_url=None, email="jane.doe@acme.com", email_status="verified")],
        source="sales_navigator")
    # ... then a vendor knows the same person by a LinkedIn URL and another email, or none.
    out = run(store, [person("a1", email="jdoe@acme.com", email_status="unverified"),
                      person("a2", name="Jane Doe", linkedin_url="https://www.linkedin.com/in/jane-2",
                             organization={"name": "Other", "primary_domain": "other.com"})])
    leads = store.read_leads()
    assert len(leads) == 2  # Jane at acme.com joined the stored lead; Jane at other.com is someone else
    joined = leads[leads["company_website"] == "acme.com"].iloc[0]
    assert joined["linkedin_url"] == "https://www.linkedin.com/in/jane-a1"
    assert joined["email"] == "jane.doe@acme.com"  # the verified email stays
    sources = store.read_sql("SELECT source, vendor_person_id, match_method FROM lead_sources ORDER BY source")
    assert dict(zip(sources["vendor_person_id"], sources["match_method"], strict=True)) == {
        "a1": "name_domain", "a2": "new", "sn1": "new"}
    assert out.merged == 1


def test_a_name_at_a_domain_never_joins_a_lead_that_has_a_linkedin_url(store):
    run(store, [person("sn1", linkedin_url=None, email="jane.doe@acme.com")], source="sales_navigator")
    run(store, [person("a1")])  # joins by name and domain, and brings its LinkedIn URL
    # A namesake at the same company with another profile is another person now.
    run(store, [person("a3", linkedin_url="https://www.linkedin.com/in/jane-other")])
    # Two namesakes in one batch are never joined to each other by the weak key.
    run(store, [person("b1", linkedin_url=None, email="j1@acme.com", organization={"primary_domain": "b.com"}),
                person("b2", linkedin_url=None, email="j2@acme.com", organization={"primary_domain": "b.com"})])
    lead_of = dict(store.read_sql("SELECT vendor_person_id, lead_id FROM lead_sources").itertuples(index=False))
    assert lead_of["a1"] == lead_of["sn1"]
    assert lead_of["a3"] != lead_of["a1"]
    assert lead_of["b1"] != lead_of["b2"]


def test_a_concurrent_run_that_stored_the_name_first_is_joined_inside_the_transaction(store, monkeypatch):
    # A Sales Navigator run commits Jane (no LinkedIn URL) just after this batch looked its keys up.
    run(store, [person("sn1", linkedin_url=None, email="jane.doe@acme.com")], source="sales_navigator")
    index = DedupIndex(store, None)
    monkeypatch.setattr(index, "lookup", lambda keys: {})  # the lookup saw nothing yet
    store_batch(records(person("a1")), source="apollo", partition_key=PK, store=store, index=index,
                matcher=MATCHER)
    lead_of = dict(store.read_sql("SELECT vendor_person_id, lead_id FROM lead_sources").itertuples(index=False))
    assert lead_of["a1"] == lead_of["sn1"] and len(store.read_leads()) == 1


def test_a_vendor_record_without_a_company_domain_is_found_by_name_at_company_name(store):
    # Apollo knows Jane by LinkedIn URL and an undeliverable email, but not her employer's domain ...
    run(store, [person("a1", email="jd@acme.com", email_status="unavailable", organization={"name": "Acme, Inc"})])
    # ... the team's list knows her by another email and the domain, and no public profile.
    run(store, [person("sn1", linkedin_url=None, email="jane.doe@acme.com", organization={
        "name": "ACME, Inc", "primary_domain": "acme.com"})], source="sales_navigator")
    lead_of = dict(store.read_sql("SELECT vendor_person_id, lead_id FROM lead_sources").itertuples(index=False))
    assert lead_of["sn1"] == lead_of["a1"] and len(store.read_leads()) == 1
    method = store.read_sql("SELECT match_method FROM lead_sources WHERE vendor_person_id = 'sn1'")
    assert method["match_method"].tolist() == ["name_company"]


def test_a_person_a_concurrent_run_stored_after_the_lookup_is_merged_not_overwritten(store, monkeypatch):
    # Another run stores Jane with a verified email just after this batch looked her keys up: the
    # batch mints the same lead id, its keys are not new any more, so the stored row is read and merged.
    run(store, [person("a1", email="jane@acme.com", email_status="verified", organization={"name": "Acme"})])
    index = DedupIndex(store, None)
    monkeypatch.setattr(index, "lookup", lambda keys: {})
    out = store_batch(records(person("a1", email="jane@acme.com", email_status="unverified", title="CEO",
                                     organization={"name": "Acme", "primary_domain": "acme.com"})),
                      source="apollo", partition_key=PK, store=store, index=index, matcher=MATCHER)
    assert (out.new_leads, out.merged) == (0, 1)
    lead = store.read_leads().iloc[0]
    assert lead["email_status"] == "verified" and lead["job_title"] == "Senior PPC Manager"  # stored values first
