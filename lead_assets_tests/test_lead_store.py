"""LeadStore against real PostgreSQL and SQLite: schema, merge rules, atomicity, idempotence."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pandas as pd
import psycopg
import pytest
import sqlalchemy.exc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from lead_assets.core.lead_schema import LEAD_COLUMNS, LeadFrameError
from lead_assets.store.database import apply_migrations, migrations, normalize_url
from lead_assets.store.lead_store import LeadStore, UpsertResult
from lead_assets.store.metrics import sprint_metrics
from lead_assets_tests.conftest import PG_ADMIN_URL

T0 = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)


def lead(lead_id: str, **fields) -> dict:
    """A complete, valid lead row; `fields` override."""
    row = {
        "lead_id": lead_id,
        "full_name": f"Person {lead_id}",
        "first_name": "Person",
        "last_name": lead_id,
        "linkedin_url": f"https://www.linkedin.com/in/{lead_id}",
        "job_title": "VP Sales",
        "company_name": "Acme",
        "location_city": "Austin",
        "location_state": "TX",
        "location_country": "US",
        "email": f"{lead_id}@acme.com",
        "phone": "+15125550100",
        "company_website": "https://acme.com",
        "company_industry": "Software",
        "company_size": 250,
        "profile_picture_url": None,
        "data_source": "apollo",
        "data_collected_date": T0,
        "data_quality_score": 80,
        "is_qualified": True,
        "email_verified": False,
        "crm_synced": False,
        "crm_sync_date": None,
        "target_role": "VP Sales",
        "email_status": "unverified",
        "needs_enrichment": False,
        "validation_errors": "",
        "first_partition_key": "2026-11-27-00:00|apollo",
        "created_at": T0,
    }
    row.update(fields)
    return row


def frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def count(store: LeadStore, table: str) -> int:
    with store.transaction() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


# --- schema -----------------------------------------------------------------------------


def test_schema_applies_twice_and_records_its_version(store):
    assert store.ensure_schema() == []
    assert apply_migrations(store.engine) == []
    with store.transaction() as conn:
        versions = conn.execute(text("SELECT version, name FROM schema_version ORDER BY version")).all()
    expected = [(m.version, m.name) for m in migrations(store.dialect)]
    assert [tuple(v) for v in versions] == expected
    assert expected[0] == (1, "001_init")


@pytest.fixture
def fresh_url(request, tmp_path):
    """An empty database (no schema) of the parametrised dialect."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    name = f"leadsprint_fresh_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield PG_ADMIN_URL.rpartition("/")[0] + f"/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.parametrize("fresh_url", ["postgresql", "sqlite"], indirect=True)
def test_two_processes_starting_at_once_apply_the_schema_once(fresh_url):
    barrier = threading.Barrier(4)
    applied: list[list[int]] = []
    errors: list[BaseException] = []

    def start():
        try:
            store = LeadStore(fresh_url, migrate=False)
            barrier.wait(timeout=30)
            applied.append(store.ensure_schema())
            store.dispose()
        except BaseException as exc:  # noqa: BLE001 - reported below
            barrier.abort()  # release the other thread instead of leaving it waiting
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    store = LeadStore(fresh_url)
    every_version = [m.version for m in migrations(store.dialect)]
    assert sorted(applied, key=len) == [[], [], [], every_version]  # one starter applied them all
    assert count(store, "schema_version") == len(migrations(store.dialect))
    store.dispose()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg2://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///x/leads.db", "sqlite:///x/leads.db"),
    ],
)
def test_urls_are_rewritten_to_psycopg3(url, expected):
    assert normalize_url(url) == expected


def test_unknown_url_scheme_is_refused():
    with pytest.raises(ValueError, match="unsupported"):
        normalize_url("mysql://u@h/db")


def test_sqlite_pragmas(sqlite_url):
    store = LeadStore(sqlite_url)
    with store.transaction() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    store.dispose()


# --- upsert_leads -----------------------------------------------------------------------


def test_upsert_is_idempotent(store):
    df = frame(*(lead(f"L{i}") for i in range(50)))
    assert store.upsert_leads(df) == UpsertResult(inserted=50, updated=0)
    assert store.upsert_leads(df) == UpsertResult(inserted=0, updated=50)
    assert count(store, "leads") == 50
    stored = store.fetch_leads([f"L{i}" for i in range(50)])
    assert list(stored.columns) == list(LEAD_COLUMNS)
    assert len(stored) == 50
    assert stored["company_size"].tolist() == [250] * 50


def test_upsert_mixes_inserts_and_updates(store):
    store.upsert_leads(frame(lead("A"), lead("B")))
    assert store.upsert_leads(frame(lead("B"), lead("C"), lead("D"))) == UpsertResult(inserted=2, updated=1)


def test_merge_keeps_known_values_and_takes_new_scores(store):
    store.upsert_leads(frame(lead("A", email_verified=True, crm_synced=True, crm_sync_date=T0)))
    before = store.fetch_leads(["A"]).iloc[0]
    later = T0 + timedelta(hours=5)
    update = frame(
        {
            "lead_id": "A",
            "full_name": None,  # data field: NULL keeps the stored value
            "email": None,
            "job_title": "Chief Revenue Officer",  # data field: a value replaces
            "company_size": None,
            "email_verified": None,  # NOT NULL data field: NULL keeps too
            "crm_synced": None,
            "data_quality_score": 55,  # take the new value
            "is_qualified": False,
            "needs_enrichment": True,
            "validation_errors": "email: missing",
            "email_status": "missing",
            "target_role": None,
            "created_at": later,  # keep the existing value
            "data_source": "zoominfo",
            "first_partition_key": "2026-11-27-05:00|zoominfo",
            "data_collected_date": later,
        }
    )
    assert store.upsert_leads(update) == UpsertResult(inserted=0, updated=1)
    after = store.fetch_leads(["A"]).iloc[0]
    assert after["full_name"] == "Person A"
    assert after["email"] == "A@acme.com"
    assert after["job_title"] == "Chief Revenue Officer"
    assert after["company_size"] == 250
    assert bool(after["email_verified"]) is True
    assert bool(after["crm_synced"]) is True
    assert after["data_quality_score"] == 55
    assert bool(after["is_qualified"]) is False
    assert bool(after["needs_enrichment"]) is True
    assert after["validation_errors"] == "email: missing"
    assert after["email_status"] == "missing"
    assert pd.isna(after["target_role"])
    assert after["created_at"] == pd.Timestamp(T0)
    assert after["data_source"] == "apollo"
    assert after["first_partition_key"] == "2026-11-27-00:00|apollo"
    assert after["data_collected_date"] == pd.Timestamp(T0)
    assert after["updated_at"] > before["updated_at"]


def test_a_subset_of_columns_leaves_the_others_alone(store):
    store.upsert_leads(frame(lead("A", is_qualified=True, crm_synced=True)))
    store.upsert_leads(pd.DataFrame({"lead_id": ["A", "B"], "phone": ["+1999", None]}))
    a, b = (row for _, row in store.fetch_leads(["A", "B"]).iterrows())
    assert a["phone"] == "+1999" and bool(a["is_qualified"]) and bool(a["crm_synced"])
    assert a["full_name"] == "Person A"
    # A new row from a partial frame gets the column defaults.
    assert bool(b["is_qualified"]) is False and b["validation_errors"] == ""
    assert b["created_at"] is not pd.NaT and b["updated_at"] is not pd.NaT


def test_a_row_failing_in_the_database_writes_nothing_of_its_batch(store):
    store.upsert_leads(frame(lead("A", data_quality_score=10), lead("Z")))
    batch = frame(
        lead("A", data_quality_score=90),
        lead("B"),
        lead("C", linkedin_url="https://www.linkedin.com/in/Z"),  # Z's profile: UNIQUE, only the database knows
        lead("D"),
    )
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        store.upsert_leads(batch)
    assert count(store, "leads") == 2
    assert store.fetch_leads(["A"]).iloc[0]["data_quality_score"] == 10


def test_a_row_the_lead_schema_refuses_is_quarantined_with_the_reason_and_the_rest_stored(store):
    store.upsert_leads(frame(lead("A", data_quality_score=10)))
    batch = frame(
        lead("A", data_quality_score=90),
        lead("B"),
        lead("C", data_quality_score=150),  # the database's CHECK (0..100), seen before it
        lead("D", linkedin_url="linkedin.com/in/d", email_status="bounced"),
        lead(None),
    )
    result = store.upsert_leads(batch)
    assert (result.inserted, result.updated) == (1, 1) and set(result.rejected) == {"C", "D", "None"}
    assert sorted(store.read_leads()["lead_id"]) == ["A", "B"]
    assert store.fetch_leads(["A"]).iloc[0]["data_quality_score"] == 90
    quarantined = store.read_sql("SELECT source, partition_key, reason, payload FROM quarantine ORDER BY payload")
    assert len(quarantined) == 3 and set(quarantined["source"]) == {"apollo"}
    reasons = dict(zip([json.loads(p)["lead_id"] for p in quarantined["payload"]], quarantined["reason"],
                       strict=True))
    assert reasons["C"] == "lead row fails the lead schema: data_quality_score: score_0_to_100 (150)"
    assert "linkedin_url: canonical_linkedin_url (linkedin.com/in/d)" in reasons["D"]
    assert "email_status: isin" in reasons["D"] and "(bounced)" in reasons["D"]
    assert reasons[None] == "lead row fails the lead schema: lead_id: not_nullable (None)"
    # A replay quarantines nothing twice.
    store.upsert_leads(batch)
    assert count(store, "quarantine") == 3


def test_duplicate_linkedin_url_in_a_batch_fails_it_whole(store):
    url = "https://www.linkedin.com/in/same"
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        store.upsert_leads(frame(lead("A", linkedin_url=url), lead("B", linkedin_url=url)))
    assert count(store, "leads") == 0


def test_blank_linkedin_urls_do_not_collide(store):
    assert store.upsert_leads(frame(lead("A", linkedin_url=""), lead("B", linkedin_url=" "))).inserted == 2


@pytest.mark.parametrize(
    ("df", "message"),
    [
        (pd.DataFrame({"lead_id": ["A", "A"]}), r"lead_id: field_uniqueness \(A\)"),
        (pd.DataFrame({"full_name": ["x"]}), r"column_in_dataframe \(lead_id\)"),
        (pd.DataFrame({"lead_id": ["A"], "nope": [1]}), r"column_in_schema \(nope\)"),
    ],
)
def test_malformed_frames_are_refused(store, df, message):
    with pytest.raises(LeadFrameError, match=message):
        store.upsert_leads(df)
    assert count(store, "leads") == 0 and count(store, "quarantine") == 0


def test_an_empty_frame_is_a_no_op(store):
    assert store.upsert_leads(pd.DataFrame(columns=list(LEAD_COLUMNS))) == UpsertResult(0, 0)


NASTY = [
    "Robert'); DROP TABLE leads;--",
    '=HYPERLINK("http://evil.example","click")',
    "+1-2",
    "-2+3",
    "@SUM(A1:A2)",
    "\tTabbed\nnew\r\nline\\back\\slash",
    "\\N",  # COPY's text-format NULL marker, must stay a string
    "\\.",  # COPY's end-of-data marker
    "Zoë Ø'Brien 🚀 — 北京",
    "%(name)s %s :param ?",
]


@pytest.mark.parametrize("value", NASTY)
def test_metacharacters_are_stored_verbatim(store, value):
    store.upsert_leads(frame(lead("A", full_name=value, company_name=value)))
    row = store.fetch_leads(["A"]).iloc[0]
    assert row["full_name"] == value and row["company_name"] == value


def test_nul_bytes_are_stripped_and_huge_strings_kept(store):
    huge = "x" * 100_000 + "end"
    store.upsert_leads(frame(lead("A", full_name="Ann\x00a\x00", job_title=huge, phone="\ud800bad")))
    row = store.fetch_leads(["A"]).iloc[0]
    assert row["full_name"] == "Anna"
    assert row["job_title"] == huge
    assert row["phone"] == "?bad"  # a lone surrogate cannot be stored: replaced, not fatal


def test_pandas_missing_values_become_null(store):
    df = frame(lead("A"), lead("B"))
    df["company_size"] = pd.array([pd.NA, 10], dtype="Int64")
    df["email"] = [float("nan"), "b@x.com"]
    df["crm_sync_date"] = [pd.NaT, T0]
    store.upsert_leads(df)
    a, b = (row for _, row in store.fetch_leads(["A", "B"]).iterrows())
    assert pd.isna(a["company_size"]) and pd.isna(a["email"]) and pd.isna(a["crm_sync_date"])
    assert b["company_size"] == 10 and b["crm_sync_date"] == pd.Timestamp(T0)


def test_timestamps_are_stored_as_utc(store):
    naive = datetime(2026, 11, 27, 3, 0)  # naive means UTC
    berlin = pd.Timestamp("2026-11-27 05:00", tz="Europe/Berlin")  # 04:00 UTC
    store.upsert_leads(
        frame(
            lead("A", data_collected_date=naive),
            lead("B", data_collected_date=berlin),
            lead("C", data_collected_date="2026-11-27T06:30:00Z"),
        )
    )
    got = store.fetch_leads(["A", "B", "C"])["data_collected_date"].tolist()
    assert got == [
        pd.Timestamp("2026-11-27 03:00", tz="UTC"),
        pd.Timestamp("2026-11-27 04:00", tz="UTC"),
        pd.Timestamp("2026-11-27 06:30", tz="UTC"),
    ]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.text(max_size=200), min_size=1, max_size=5))
def test_any_text_round_trips(store, values):
    ids = [uuid.uuid4().hex for _ in values]
    store.upsert_leads(pd.DataFrame({"lead_id": ids, "job_title": values}))
    got = dict(zip(*store.fetch_leads(ids)[["lead_id", "job_title"]].T.values, strict=True))
    assert [got[i] for i in ids] == [v.replace("\x00", "") for v in values]


def test_read_leads_filters_with_params(store):
    store.upsert_leads(frame(lead("A", data_quality_score=90), lead("B", data_quality_score=20)))
    df = store.read_leads("data_quality_score >= :min", {"min": 50})
    assert df["lead_id"].tolist() == ["A"]
    assert len(store.read_leads()) == 2


def test_read_sql(store):
    store.upsert_leads(frame(lead("A"), lead("B", is_qualified=False)))
    df = store.read_sql(
        "SELECT lead_id, is_qualified, created_at FROM leads WHERE lead_id = :id", {"id": "A"}
    )
    assert df["lead_id"].tolist() == ["A"] and bool(df["is_qualified"].iloc[0]) is True
    assert str(df["created_at"].dtype) == "datetime64[ns, UTC]"


def test_transaction_groups_writes_atomically(store):
    with pytest.raises(RuntimeError):
        with store.transaction() as conn:
            store.upsert_leads(frame(lead("A")), conn=conn)
            store.record_sources(
                pd.DataFrame({"source": ["apollo"], "vendor_person_id": ["p1"], "lead_id": ["A"]}), conn=conn
            )
            raise RuntimeError("boom")
    assert count(store, "leads") == 0 and count(store, "lead_sources") == 0


# --- raw landings, sources, quarantine, slices ------------------------------------------------


def test_raw_landings_are_immutable(store):
    args = ("apollo", "2026-11-27-00:00|apollo", "search_page", "slice=a|page=3")
    assert store.land_raw(*args, payload='{"people": [', http_status=200, run_id="r1") is True
    assert store.land_raw(*args, payload='{"people": []}', http_status=200, run_id="r2") is False
    got = store.get_landing(*args)
    assert got["payload"] == '{"people": [' and got["run_id"] == "r1" and got["http_status"] == 200
    assert got["fetched_at"].tzinfo is not None
    assert store.get_landing("apollo", "2026-11-27-00:00|apollo", "search_page", "other") is None
    store.land_raw("apollo", args[1], "enrichment", "ids=abc", "{}", 200, None)
    assert [x["request_kind"] for x in store.landings("apollo", args[1])] == ["search_page", "enrichment"]
    assert len(store.landings("apollo", args[1], "enrichment")) == 1
    with pytest.raises(sqlalchemy.exc.DBAPIError, match="immutable"):
        with store.transaction() as conn:
            conn.execute(text("UPDATE raw_landings SET payload = 'tampered'"))
    assert store.get_landing(*args)["payload"] == '{"people": ['


def test_record_sources_is_idempotent(store):
    store.upsert_leads(frame(lead("A"), lead("B")))
    src = pd.DataFrame(
        {
            "source": ["apollo", "zoominfo", "apollo"],
            "vendor_person_id": ["1", "z1", "2"],
            "lead_id": ["A", "A", "B"],
            "partition_key": ["p", "p", "p"],
            "match_method": ["new", "linkedin", "new"],
        }
    )
    assert store.record_sources(src) == 3
    assert store.record_sources(src) == 0
    got = store.sources_for(["A"])
    assert got[["source", "vendor_person_id", "match_method"]].values.tolist() == [
        ["apollo", "1", "new"],
        ["zoominfo", "z1", "linkedin"],
    ]


def test_record_sources_needs_an_existing_lead(store):
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        store.record_sources(
            pd.DataFrame({"source": ["apollo"], "vendor_person_id": ["1"], "lead_id": ["nope"]})
        )


def test_quarantine_is_idempotent(store):
    q = pd.DataFrame(
        {
            "source": ["apollo", "apollo", "apollo"],
            "partition_key": ["p1", "p1", "p2"],
            "vendor_person_id": ["1", None, "1"],
            "reason": ["no name", "no name", "no name"],
            "payload": ['{"id": 1}', {"id": 2}, '{"id": 1}'],
        }
    )
    assert store.quarantine(q) == 3
    assert store.quarantine(q) == 0
    assert store.quarantine(q.iloc[[0, 0]]) == 0  # repeated within a batch too
    assert count(store, "quarantine") == 3


def test_search_slices_upsert_and_partial_update(store):
    store.upsert_slices(
        [
            {"source": "apollo", "slice_key": "s1", "hour_key": "h00", "query": {"titles": ["VP Sales"]}},
            {"source": "apollo", "slice_key": "s2", "hour_key": "h01", "query": "{}", "status": "pending"},
        ]
    )
    store.upsert_slices(
        [{"source": "apollo", "slice_key": "s1", "status": "complete", "pages_done": 4, "coverage": 1.0}]
    )
    s1, s2 = store.slices("apollo")
    assert s1["status"] == "complete" and s1["pages_done"] == 4 and s1["query"] == '{"titles": ["VP Sales"]}'
    assert s2["status"] == "pending" and s2["pages_done"] == 0
    assert [s["slice_key"] for s in store.slices("apollo", "h01")] == ["s2"]
    with pytest.raises(ValueError):
        store.upsert_slices([{"source": "apollo", "slice_key": "missing", "status": "failed"}])


# --- metrics ----------------------------------------------------------------------------------


def test_metrics_of_an_empty_store(store):
    m = sprint_metrics(store)
    assert m["collected"] == m["unique"] == m["duplicates"] == m["quarantined"] == 0
    assert m["qualified"] == m["needs_enrichment"] == m["vendor_calls"] == 0
    assert m["credits"] == 0.0
    for key in (
        "duplicate_rate",
        "avg_quality_score",
        "email_availability",
        "company_completeness",
        "validation_rate",
        "required_fields_rate",
        "error_rate",
        "first_collected_at",
        "last_collected_at",
        "rate_per_hour",
    ):
        assert m[key] is None, key


def _known_dataset(store: LeadStore) -> None:
    store.upsert_leads(
        frame(
            lead("L1", email_status="verified", data_quality_score=80, is_qualified=True, created_at=T0),
            lead(
                "L2",
                linkedin_url=None,
                email_status="undeliverable",
                company_industry=None,
                data_quality_score=60,
                is_qualified=False,
                needs_enrichment=True,
                validation_errors="company_industry: missing",
                created_at=T0 + timedelta(hours=1),
            ),
            lead(
                "L3",
                email=None,
                email_status="missing",
                data_quality_score=40,
                is_qualified=False,
                needs_enrichment=True,
                created_at=T0 + timedelta(hours=2),
            ),
            lead(
                "L4",
                full_name=None,
                company_website=None,
                company_industry=None,
                company_size=None,
                data_quality_score=None,
                is_qualified=False,
                validation_errors="full_name: missing",
                created_at=T0 + timedelta(hours=2),
            ),
        )
    )
    store.record_sources(
        pd.DataFrame(
            {
                "source": ["apollo", "zoominfo", "sales_navigator", "apollo", "apollo", "apollo"],
                "vendor_person_id": ["a1", "z1", "s1", "a2", "a3", "a4"],
                "lead_id": ["L1", "L1", "L1", "L2", "L3", "L4"],
                "first_seen_at": [
                    T0,
                    T0,
                    T0,
                    T0 + timedelta(hours=1),
                    T0 + timedelta(hours=2),
                    T0 + timedelta(hours=2),
                ],
            }
        )
    )
    store.quarantine(
        pd.DataFrame(
            {
                "source": ["apollo"] * 2,
                "partition_key": ["p"] * 2,
                "reason": ["x", "y"],
                "payload": ["{}"] * 2,
            }
        )
    )
    store.record_vendor_calls(
        [
            {"vendor": "apollo", "endpoint": "search", "outcome": "ok", "credits": 1.0, "called_at": T0},
            {
                "vendor": "apollo",
                "endpoint": "search",
                "outcome": "retried_ok",
                "attempts": 3,
                "credits": 2.5,
            },
            {
                "vendor": "zoominfo",
                "endpoint": "enrich",
                "outcome": "failed",
                "status_code": 500,
                "error": "boom",
            },
        ]
    )


def test_metrics_of_a_known_dataset(store):
    _known_dataset(store)
    m = sprint_metrics(store)
    assert m["collected"] == 6 and m["unique"] == 4 and m["duplicates"] == 2
    assert m["duplicate_rate"] == pytest.approx(2 / 6)
    assert m["quarantined"] == 2
    assert m["avg_quality_score"] == pytest.approx(60.0)
    assert m["email_availability"] == pytest.approx(0.5)  # L1, L4 (L2 undeliverable, L3 none)
    assert m["company_completeness"] == pytest.approx(0.5)  # L1, L3
    assert m["validation_rate"] == pytest.approx(0.5)  # L1, L3
    assert m["required_fields_rate"] == pytest.approx(0.75)  # all but L4 (no name)
    assert m["qualified"] == 1 and m["needs_enrichment"] == 2
    assert m["credits"] == pytest.approx(3.5)
    assert m["vendor_calls"] == 3 and m["vendor_call_errors"] == 1
    assert m["error_rate"] == pytest.approx(1 / 3)
    assert datetime.fromisoformat(m["first_collected_at"]) == T0
    assert datetime.fromisoformat(m["last_collected_at"]) == T0 + timedelta(hours=2)
    assert m["rate_per_hour"] == pytest.approx(2.0)  # 4 leads over 2 hours


def test_metrics_since(store):
    _known_dataset(store)
    m = sprint_metrics(store, since=T0 + timedelta(hours=1))
    assert m["unique"] == 3 and m["collected"] == 3 and m["duplicates"] == 0
    assert m["vendor_calls"] == 2  # the call at T0 is before `since`
    assert m["rate_per_hour"] == pytest.approx(3.0)


def test_concurrent_upserts_of_the_same_leads_do_not_deadlock(store):
    rows = [lead(f"L{i:04d}", linkedin_url=None) for i in range(500)]
    stores = [LeadStore(store.url) for _ in range(2)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            for _ in range(3):
                barrier.wait(timeout=30)
                stores[n].upsert_leads(frame(*(rows if n == 0 else rows[::-1])))
        except BaseException as exc:  # noqa: BLE001 - reported below
            barrier.abort()  # release the other thread instead of leaving it waiting
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.dispose()
    assert not errors
    assert count(store, "leads") == 500


def test_a_lead_is_held_by_one_process_at_a_time_and_released_at_the_end(store):
    if store.dialect != "postgresql":
        with store.claimed(["a", "b", "a"], "enrichment") as held:
            assert held == ["a", "b"]  # SQLite: one writer anyway
        return
    other = LeadStore(store.url)  # another run: its own connections, its own session locks
    try:
        with store.claimed(["a", "b"], "enrichment") as mine:
            assert mine == ["a", "b"]
            with other.claimed(["b", "c"], "enrichment") as theirs:
                assert theirs == ["c"]  # b is being worked on: left to its holder
            with other.claimed(["b"], "crm") as unrelated:
                assert unrelated == ["b"]  # another purpose is another lock
        with other.claimed(["a", "b"], "enrichment") as theirs:
            assert theirs == ["a", "b"]  # released when the block ended
        with pytest.raises(RuntimeError), store.claimed(["z"], "enrichment"):
            raise RuntimeError("the run failed")
        with other.claimed(["z"], "enrichment") as theirs:
            assert theirs == ["z"]  # released when the block failed, too
    finally:
        other.dispose()


def test_only_errors_a_second_attempt_can_cure_are_retried(store):
    import sqlite3
    import time

    import psycopg
    from sqlalchemy.exc import DBAPIError, OperationalError

    from lead_assets.store.database import is_transient

    def wrapped(orig):
        return OperationalError("SELECT 1", {}, orig)

    assert is_transient(wrapped(sqlite3.OperationalError("database is locked")))
    assert not is_transient(wrapped(sqlite3.OperationalError("no such column: nope")))
    assert is_transient(wrapped(psycopg.errors.AdminShutdown()))  # the server is restarting
    assert is_transient(wrapped(psycopg.errors.DeadlockDetected()))
    assert is_transient(wrapped(psycopg.OperationalError("connection refused")))  # no SQLSTATE: unreachable
    assert not is_transient(wrapped(psycopg.errors.QueryCanceled()))  # a statement timeout stays a failure
    assert not is_transient(wrapped(psycopg.errors.DiskFull()))
    started = time.monotonic()
    with pytest.raises(DBAPIError):
        store.read_sql("SELECT nope FROM leads")  # a mistake fails at once, on both dialects
    assert time.monotonic() - started < 2
