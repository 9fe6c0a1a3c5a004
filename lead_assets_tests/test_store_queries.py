"""The store's named queries for callers outside the store (partitions, vendor ids, CRM progress).

Each runs on PostgreSQL and SQLite against rows written through the store's own writers.
"""

from __future__ import annotations

import pandas as pd
import pytest

from lead_assets.store.crm_sync_state import write_states
from lead_assets.store.lead_sources import PartitionCounts, SourceCounts
from lead_assets_tests.test_lead_store import frame, lead

P1, P2, P3 = "2026-11-27-00:00|apollo", "2026-11-27-01:00|apollo", "2026-11-27-02:00|apollo"


def sources(*rows: tuple[str, str, str, str]) -> pd.DataFrame:
    """lead_sources rows from (source, vendor_person_id, lead_id, partition_key)."""
    return pd.DataFrame(rows, columns=["source", "vendor_person_id", "lead_id", "partition_key"])


@pytest.fixture
def stocked(store):
    """Three leads (a and b qualified, c not) behind five vendor records in three partitions."""
    store.upsert_leads(frame(lead("a"), lead("b"), lead("c", is_qualified=False)))
    store.record_sources(sources(
        ("apollo", "v1", "a", P1), ("apollo", "v2", "a", P2), ("apollo", "v3", "b", P1),
        ("zoominfo", "z1", "b", P3), ("apollo", "v4", "c", P3),
    ))
    return store


def test_partition_counts_are_records_and_distinct_people(stocked):
    assert stocked.partition_counts(P1) == PartitionCounts(records=2, people=2)
    assert stocked.partition_counts(P3) == PartitionCounts(records=2, people=2)
    assert stocked.partition_counts("2026-11-28-00:00|apollo") == PartitionCounts(0, 0)


def test_source_counts(stocked):
    assert stocked.source_counts("apollo") == SourceCounts(records=4, vendor_ids=4, leads=3)
    assert stocked.source_counts("zoominfo") == SourceCounts(1, 1, 1)
    assert stocked.source_counts("nobody") == SourceCounts(0, 0, 0)


def test_lead_ids_for_partitions_lists_each_lead_once(stocked):
    assert sorted(stocked.lead_ids_for_partitions([P1])) == ["a", "b"]
    both = stocked.lead_ids_for_partitions([P1, P2, P1])
    assert sorted(both) == ["a", "b"] and len(both) == len(set(both))
    assert sorted(stocked.lead_ids_for_partitions([P1, P3])) == ["a", "b", "c"]
    assert stocked.lead_ids_for_partitions([]) == []


def test_known_vendor_ids_in_lead_sources_and_quarantine(stocked):
    stocked.quarantine(pd.DataFrame({"source": ["apollo", "apollo"], "partition_key": [P1, P1],
                                     "vendor_person_id": ["q1", None], "reason": ["no name", "no id"],
                                     "payload": ["{}", "{}"]}))
    asked = ["v1", "v3", "z1", "q1", "new"]
    assert stocked.known_vendor_ids("lead_sources", "apollo", asked) == {"v1", "v3"}
    assert stocked.known_vendor_ids("lead_sources", "zoominfo", asked) == {"z1"}
    assert stocked.known_vendor_ids("quarantine", "apollo", asked) == {"q1"}
    assert stocked.known_vendor_ids("quarantine", "apollo", []) == set()
    with pytest.raises(ValueError, match="not 'leads'"):
        stocked.known_vendor_ids("leads", "apollo", asked)
    assert stocked.quarantined_vendor_ids("apollo") == {"q1"}
    assert stocked.quarantined_vendor_ids("zoominfo") == set()


def test_landed_request_keys_of_one_kind(store):
    for partition, kind, key in ((P1, "enrichment", "ids=1,2"), (P2, "enrichment", "ids=3"), (P1, "search", "page=1")):
        store.land_raw("apollo", partition, kind, key, "{}", 200, None)
    store.land_raw("zoominfo", P1, "enrichment", "ids=9", "{}", 200, None)
    assert store.landed_request_keys("apollo", "enrichment") == ["ids=1,2", "ids=3"]
    assert store.landed_request_keys("apollo", "search") == ["page=1"]
    assert store.landed_request_keys("apollo", "nothing") == []


def test_never_sent_qualified_lists_each_record_of_leads_without_a_state(stocked):
    never = stocked.never_sent_qualified("hubspot")
    assert sorted(never.itertuples(index=False, name=None)) == [("a", P1), ("a", P2), ("b", P1), ("b", P3)]
    write_states(stocked, "hubspot", pd.DataFrame({"lead_id": ["a"], "state": ["pending"]}))
    assert set(stocked.never_sent_qualified("hubspot")["lead_id"]) == {"b"}
    assert set(stocked.never_sent_qualified("salesforce")["lead_id"]) == {"a", "b"}
    write_states(stocked, "hubspot", pd.DataFrame({"lead_id": ["b"], "state": ["rejected"]}))
    never = stocked.never_sent_qualified("hubspot")
    assert never.empty and list(never.columns) == ["lead_id", "partition_key"]


def test_settled_lead_ids_leave_out_pending_and_other_crms(stocked):
    write_states(stocked, "hubspot", pd.DataFrame({"lead_id": ["a", "b"], "state": ["created", "pending"]}))
    write_states(stocked, "salesforce", pd.DataFrame({"lead_id": ["c"], "state": ["rejected"]}))
    assert stocked.settled_lead_ids("hubspot", ["a", "b", "c"]) == {"a"}
    assert stocked.settled_lead_ids("salesforce", ["a", "b", "c"]) == {"c"}
    assert stocked.settled_lead_ids("hubspot", []) == set()


def test_qualified_sync_times_pair_each_qualified_lead_with_its_states(stocked):
    synced_at = pd.Timestamp("2026-11-27T05:00:00Z")
    write_states(stocked, "hubspot", pd.DataFrame({"lead_id": ["a", "c"], "state": ["created", "created"],
                                                   "synced_at": [synced_at, synced_at]}))
    times = stocked.qualified_sync_times()
    assert list(times.columns) == ["created_at", "synced_at", "state"]
    assert len(times) == 2  # a (synced) and b (no state); c is not qualified
    assert sorted(times["state"].fillna("none")) == ["created", "none"]
    assert pd.to_datetime(times["synced_at"].dropna(), utc=True, format="ISO8601").tolist() == [synced_at]


def test_qualified_count(stocked):
    assert stocked.qualified_count() == 2
    stocked.upsert_leads(frame(lead("d"), lead("a", is_qualified=False)))
    assert stocked.qualified_count() == 2


def test_vendor_call_counts_per_vendor_and_endpoint(store):
    assert store.vendor_call_counts() == {}
    calls = [("apollo", "people_search"), ("apollo", "people_search"), ("apollo", "bulk_match"), ("hunter", "find")]
    store.record_vendor_calls([{"vendor": v, "endpoint": e, "outcome": "ok"} for v, e in calls])
    assert store.vendor_call_counts() == {("apollo", "people_search"): 2, ("apollo", "bulk_match"): 1,
                                          ("hunter", "find"): 1}


def test_quarantined_records_by_reason_pattern(store):
    store.quarantine(pd.DataFrame({
        "source": ["sales_navigator", "sales_navigator", "sales_navigator", "apollo"],
        "partition_key": [P1, P2, P1, P1],
        "reason": ["row 3: no lead matches", "row 9: no lead matches", "bad url", "row 1: no lead matches"],
        "payload": ['{"n": 3}', '{"n": 9}', '{"n": 4}', '{"n": 1}'],
    }))
    waiting = store.quarantined_records("sales_navigator", "%no lead matches")
    assert list(waiting.columns) == ["quarantine_id", "partition_key", "payload"]
    assert list(waiting["payload"]) == ['{"n": 3}', '{"n": 9}'] and list(waiting["partition_key"]) == [P1, P2]
    assert store.quarantined_records("hunter", "%").empty


def test_leads_at_companies(store):
    store.upsert_leads(frame(lead("a", company_name="Acme"), lead("b", company_name="Beta"),
                             lead("c", company_name="Gamma")))
    columns = ["lead_id", "first_name", "last_name", "company_name", "job_title"]
    found = store.leads_at_companies(["Gamma", "Acme", "Nobody"], columns)
    assert list(found.columns) == columns
    assert list(found["lead_id"]) == ["a", "c"] and list(found["company_name"]) == ["Acme", "Gamma"]
    assert store.leads_at_companies([], columns).empty
    with pytest.raises(ValueError, match="no lead columns"):
        store.leads_at_companies(["Acme"], ["lead_id", "password"])


def test_linkedin_leads_at_websites(store):
    store.upsert_leads(frame(lead("a", company_website="acme.com"), lead("b", company_website="acme.com",
                                                                          linkedin_url=None),
                             lead("c", company_website="beta.io")))
    found = store.linkedin_leads_at_websites(["acme.com", "other.org"])
    assert found == [{"full_name": "Person a", "company_website": "acme.com",
                      "linkedin_url": "https://www.linkedin.com/in/a"}]
    assert store.linkedin_leads_at_websites([]) == []
