"""Property tests of the vendor parsers and `store_batch` over arbitrary JSON-ish payloads.

No input may crash a parser, and every record handed to `store_batch` must end as a lead
(a `lead_sources` row) or a quarantine row with a non-empty reason. The tests count what
they saw (printed with ``-s``) so the report can quote the figures.
"""

from __future__ import annotations

import string
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lead_assets.config.settings import sprint_config
from lead_assets.core.sales_navigator_csv import parse_export
from lead_assets.core.titles import TitleMatcher
from lead_assets.core.vendor_records import MAPPED_FIELDS, apollo_person_record
from lead_assets.core.zoominfo_records import zoominfo_contact_record
from lead_assets.pipeline.lead_batches import VendorRecord, store_batch
from lead_assets.store.dedup_index import DedupIndex
from lead_assets.store.lead_store import LeadStore

MATCHER = TitleMatcher.from_config(sprint_config())
PK = "2026-11-27-00:00|apollo"
COUNTS: Counter = Counter()

# Text with the characters that break things: NUL, controls, quotes, delimiters, non-BMP.
nasty_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from(
        ["\x00", "\r", "\n", '"', ",", ";", "\t", "=", "<", ">", "&", "'", "\\", "\ufeff"]
    ),
    max_size=40,
)
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | nasty_text
json_ish = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(nasty_text, children, max_size=4),
    max_leaves=12,
)
linkedin = st.builds(lambda s: f"https://www.linkedin.com/in/{s}", st.text(string.ascii_lowercase + "-", min_size=1,
                                                                            max_size=12))
email = st.builds(lambda a, d: f"{a}@{d}.com", st.text(string.ascii_lowercase, min_size=1, max_size=8),
                  st.text(string.ascii_lowercase, min_size=1, max_size=8))

# Apollo-shaped people whose every field may be of the wrong type.
apollo_person = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(string.ascii_letters + string.digits, min_size=1, max_size=12) | json_ish,
        "name": nasty_text | json_ish,
        "first_name": nasty_text | json_ish,
        "last_name": nasty_text | json_ish,
        "linkedin_url": linkedin | json_ish,
        "title": st.sampled_from(["PPC Manager", "Media Buyer", "Paid Media Manager"]) | json_ish,
        "email": email | json_ish,
        "email_status": st.sampled_from(["verified", "unverified", "guessed"]) | json_ish,
        "city": nasty_text | json_ish,
        "state": nasty_text | json_ish,
        "country": nasty_text | json_ish,
        "organization": st.fixed_dictionaries(
            {}, optional={"name": json_ish, "primary_domain": json_ish, "estimated_num_employees": json_ish,
                          "industry": json_ish}
        ) | json_ish,
        "phone_number": json_ish,
        "photo_url": json_ish,
    },
)
zoominfo_contact = st.fixed_dictionaries(
    {},
    optional={
        "id": st.integers(min_value=-5, max_value=10**12) | json_ish,
        "firstName": nasty_text | json_ish,
        "lastName": nasty_text | json_ish,
        "email": email | json_ish,
        "jobTitle": json_ish,
        "externalUrls": st.lists(st.fixed_dictionaries({"type": st.just("linkedin.url"), "url": linkedin | json_ish}),
                                 max_size=2) | json_ish,
        "companyName": json_ish,
        "companyEmployeeCount": json_ish,
        "managementLevel": json_ish,
        "companyIndustries": json_ish,
        "city": json_ish,
        "state": json_ish,
        "country": json_ish,
        "phone": json_ish,
        "hasDoNotCall": json_ish,
    },
)


def _check_fields(fields, reason):
    if fields is None:
        assert isinstance(reason, str) and reason
        return
    assert reason is None
    assert set(fields) == set(MAPPED_FIELDS)
    for name, value in fields.items():
        if name == "company_size":
            assert value is None or isinstance(value, int | float | str) and not isinstance(value, bool)
        else:
            assert value is None or isinstance(value, str), (name, value)


@settings(max_examples=400, deadline=None)
@given(apollo_person | json_ish)
def test_apollo_person_record_never_crashes(payload):
    fields, reason = apollo_person_record(payload)
    _check_fields(fields, reason)
    COUNTS["apollo_" + ("mapped" if fields else "refused")] += 1


@settings(max_examples=400, deadline=None)
@given(zoominfo_contact | json_ish)
def test_zoominfo_contact_record_never_crashes(payload):
    fields, reason = zoominfo_contact_record(payload)
    _check_fields(fields, reason)
    COUNTS["zoominfo_" + ("mapped" if fields else "refused")] += 1


HEADERS = ["First Name", "Last Name", "Title", "Company", "LinkedIn URL", "Email", "Location", "Company Website"]
clean_text = st.text(string.ascii_letters + string.digits + " .-'&()=+@\"", max_size=20)
csv_cell = st.one_of(clean_text, clean_text, linkedin, email, nasty_text)
csv_header = st.one_of(
    st.permutations(HEADERS).flatmap(lambda h: st.integers(2, len(h)).map(lambda n: list(h[:n]))),
    st.permutations(HEADERS).flatmap(lambda h: nasty_text.map(lambda x: [*h, x])),
    st.lists(st.sampled_from(HEADERS) | nasty_text, max_size=8),
)


@settings(max_examples=300, deadline=None)
@given(
    header=csv_header,
    rows=st.lists(st.lists(csv_cell, min_size=6, max_size=9), max_size=8),
    sep=st.sampled_from([",", ";", "\t"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]),
    tail=st.just(b"") | st.binary(max_size=20),
)
def test_parse_export_never_raises_and_accounts_for_rows(header, rows, sep, encoding, tail):
    text = "\n".join(sep.join(line) for line in [header, *rows])
    data = text.encode(encoding, errors="replace") + tail
    result = parse_export(data, "fuzz.csv")
    if result.file_error is not None:
        assert isinstance(result.file_error, str) and result.file_error
        assert not result.records
        COUNTS["csv_file_errors"] += 1
        return
    lines = {line for line, _ in result.records}
    for line, reason, raw in result.rejected_rows:
        assert isinstance(line, int) and line >= 1 and reason and isinstance(raw, str)
        assert line not in lines  # a line is imported or rejected, never both
    for _, record in result.records:
        assert set(MAPPED_FIELDS) <= set(record)
    COUNTS["csv_records"] += len(result.records)
    COUNTS["csv_rejected"] += len(result.rejected_rows)


@settings(max_examples=250, deadline=None)
@given(st.binary(max_size=400))
def test_parse_export_survives_arbitrary_bytes(data):
    result = parse_export(data, "bytes.csv")
    assert result.file_error is not None or isinstance(result.records, list)
    COUNTS["bytes_file_errors" if result.file_error else "bytes_parsed"] += 1


def test_store_batch_accounts_for_every_record(tmp_path):
    """Batches of fuzzed Apollo people: every record is a lead source row or quarantined with a reason."""
    store = LeadStore(f"sqlite:///{tmp_path / 'fuzz.db'}")
    index = DedupIndex(store, None)
    state = {"batch": 0, "records": 0}

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(apollo_person | json_ish, min_size=1, max_size=12))
    def run(payloads):
        state["batch"] += 1
        pk = f"fuzz-{state['batch']}|apollo"
        records = []
        for i, payload in enumerate(payloads):
            if isinstance(payload, dict):
                # a distinct id per record, so accounting by vendor id is unambiguous
                payload = {**payload, "id": f"b{state['batch']}r{i}"} if i % 3 else payload
            fields, problem = apollo_person_record(payload)
            records.append(VendorRecord(payload=payload, fields=fields, problem=problem))
        outcome = store_batch(records, source="apollo", partition_key=pk, store=store, index=index,
                              matcher=MATCHER)
        state["records"] += len(records)
        sources = store.read_sql("SELECT COUNT(*) AS n FROM lead_sources WHERE partition_key = :pk", {"pk": pk})
        quarantined = store.read_sql("SELECT reason FROM quarantine WHERE partition_key = :pk", {"pk": pk})
        assert outcome.records == len(records)
        assert len(quarantined) <= outcome.quarantined  # identical rejected payloads are kept once
        assert all(isinstance(r, str) and r for r in quarantined["reason"])
        # every record with an id is a source row (this batch's, or an earlier one's: a vendor record is
        # recorded once, by the first partition that saw it) or quarantined; records without one are quarantined
        src_ids = set(store.read_sql("SELECT vendor_person_id FROM lead_sources")["vendor_person_id"])
        q_ids = set(store.read_sql("SELECT vendor_person_id FROM quarantine WHERE partition_key = :pk",
                                   {"pk": pk})["vendor_person_id"].dropna())
        for rec in records:
            if rec.fields is not None:
                assert rec.fields["vendor_person_id"] in src_ids | q_ids
            else:
                assert outcome.quarantined >= 1 and len(quarantined) >= 1
        COUNTS["batch_records"] += len(records)
        COUNTS["batch_quarantined"] += len(quarantined)
        COUNTS["batch_lead_sources"] += int(sources["n"].iloc[0])

    run()
    leads = store.read_sql("SELECT COUNT(*) AS n FROM leads")["n"].iloc[0]
    linked = store.read_sql("SELECT COUNT(DISTINCT lead_id) AS n FROM lead_sources")["n"].iloc[0]
    orphans = store.read_sql(
        "SELECT COUNT(*) AS n FROM lead_sources s LEFT JOIN leads l ON l.lead_id = s.lead_id WHERE l.lead_id IS NULL"
    )["n"].iloc[0]
    assert orphans == 0 and linked == leads
    print(f"\nfuzz counts: {dict(COUNTS)}; leads={leads}")
    store.dispose()


def test_store_batch_exact_accounting_by_unique_ids(tmp_path):
    """With unique ids, the count is exact: lead_sources + quarantine == records."""
    store = LeadStore(f"sqlite:///{tmp_path / 'exact.db'}")
    index = DedupIndex(store, None)
    totals = Counter()

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(apollo_person, min_size=1, max_size=10))
    def run(people):
        totals["batch"] += 1
        pk = f"exact-{totals['batch']}|apollo"
        records = []
        for i, person in enumerate(people):
            person = {**person, "id": f"e{totals['batch']}-{i}"}
            fields, problem = apollo_person_record(person)
            records.append(VendorRecord(payload=person, fields=fields, problem=problem))
        store_batch(records, source="apollo", partition_key=pk, store=store, index=index, matcher=MATCHER)
        src = store.read_sql("SELECT vendor_person_id FROM lead_sources WHERE partition_key = :pk", {"pk": pk})
        qua = store.read_sql("SELECT vendor_person_id, reason FROM quarantine WHERE partition_key = :pk",
                             {"pk": pk})
        accounted = set(src["vendor_person_id"]) | set(qua["vendor_person_id"])
        assert accounted == {p.payload["id"] for p in records}
        assert not set(src["vendor_person_id"]) & set(qua["vendor_person_id"])
        assert qua["reason"].map(lambda r: isinstance(r, str) and bool(r)).all()
        totals["records"] += len(records)
        totals["leads_sources"] += len(src)
        totals["quarantined"] += len(qua)

    run()
    assert totals["records"] == totals["leads_sources"] + totals["quarantined"]
    print(f"\nexact accounting: {dict(totals)}")
    store.dispose()
