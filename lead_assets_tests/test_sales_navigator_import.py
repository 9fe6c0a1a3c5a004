"""Sales Navigator lead lists: landed, imported, matched by email or name + domain; the sensor asks for runs."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from lead_assets.config.settings import sprint_config
from lead_assets.core.titles import TitleMatcher
from lead_assets.core.vendor_records import apollo_person_record
from lead_assets.defs.resources import ImportFolderResource
from lead_assets.defs.sensors import import_files_sensor
from lead_assets.pipeline.lead_batches import VendorRecord, store_batch
from lead_assets.sources import SOURCES
from lead_assets.sources.file_imports import ImportContext
from lead_assets.sources.sales_navigator import NO_MATCH_REASON
from lead_assets.store.dedup_index import DedupIndex
from lead_assets.store.files import LocalStorage

MATCHER = TitleMatcher.from_config(sprint_config())
sales_navigator_files_sensor = import_files_sensor(SOURCES["sales_navigator"])


def import_hour(store, index, matcher, folder, hour_key):
    """One hour of the Sales Navigator source, as the collection asset runs it."""
    ctx = ImportContext(store, index, matcher, LocalStorage(folder))
    return SOURCES["sales_navigator"].import_hour(ctx, hour_key)
HOUR = "2026-11-27-03:00"

CSV = (
    "\ufeffFirst Name,Last Name,Title,Company,Company Domain,Location,Email,Profile URL\n"
    "Jane,Doe,PPC Manager,Acme,acme.com,\"Austin, Texas, United States\",,"
    "\"https://www.linkedin.com/sales/lead/ACwAAA1,NAME_SEARCH,1\"\n"
    "Raj,Patel,Media Buyer,Beta,beta.io,\"Miami, Florida, United States\",raj@beta.io,"
    "\"https://www.linkedin.com/sales/lead/ACwAAA2,NAME_SEARCH,2\"\n"
    "Nobody,Known,Media Buyer,Gamma,gamma.co,\"Miami, Florida, United States\",,"
    "\"https://www.linkedin.com/sales/lead/ACwAAA3,NAME_SEARCH,3\"\n"
    "Ann,Lee,Paid Media Manager,Delta,delta.com,\"Denver, Colorado, United States\",,"
    "https://uk.linkedin.com/in/Ann-Lee-9/\n"
    "Sam,Roe,PPC Manager,Epsilon,epsilon.com,\"Austin, Texas, United States\",sam.roe@epsilon.com,"
    "\"https://www.linkedin.com/sales/lead/ACwAAA5,NAME_SEARCH,5\"\n"
    "broken,row\n"
).encode()


def seed_apollo(store, index):
    people = [
        {"id": "a1", "name": "Jane Doe", "first_name": "Jane", "last_name": "Doe",
         "linkedin_url": "https://linkedin.com/in/jane-doe-1", "title": "PPC Manager", "city": "Austin",
         "state": "TX", "country": "United States", "organization": {"name": "Acme", "primary_domain": "acme.com"}},
        {"id": "a5", "name": "Sam Roe", "first_name": "Sam", "last_name": "Roe", "email": "sroe@epsilon.com",
         "linkedin_url": "https://linkedin.com/in/sam-roe-5", "title": "PPC Manager", "city": "Austin",
         "state": "TX", "country": "United States",
         "organization": {"name": "Epsilon", "primary_domain": "epsilon.com"}},
    ]
    store_batch([VendorRecord(p, *apollo_person_record(p)) for p in people], source="apollo",
                partition_key="2026-11-27-00:00|apollo", store=store, index=index, matcher=MATCHER)


def test_import_matches_lands_and_quarantines_with_reasons(store, tmp_path):
    index = DedupIndex(store, None)
    seed_apollo(store, index)
    (tmp_path / "leads.csv").write_bytes(CSV)
    report = import_hour(store, index, MATCHER, tmp_path, HOUR)
    assert (report.files, report.rows, report.rows_rejected) == (1, 6, 1)
    assert report.matched_by_name_domain == 2

    sources = store.read_sql("SELECT vendor_person_id, lead_id, match_method FROM lead_sources "
                             "WHERE source = 'sales_navigator'")
    methods = dict(zip(sources["vendor_person_id"], sources["match_method"], strict=True))
    jane = store.read_leads("full_name = 'Jane Doe'")
    assert len(jane) == 1  # the Sales Navigator row became a second source of the Apollo lead
    assert methods["ACwAAA1"] == "name_domain"
    assert set(store.sources_for(jane["lead_id"].tolist())["source"]) == {"apollo", "sales_navigator"}
    # An email the vendor did not know does not make Sam a second lead: name + domain still match.
    sam = store.read_leads("full_name = 'Sam Roe'")
    assert len(sam) == 1 and methods["ACwAAA5"] == "name_domain"
    assert methods["ACwAAA2"] == "new"  # email identifies Raj; no public URL needed
    assert store.read_leads("email = 'raj@beta.io'")["linkedin_url"].isna().all()
    assert store.read_leads("full_name = 'Ann Lee'")["linkedin_url"].tolist() == [
        "https://www.linkedin.com/in/ann-lee-9"]

    reasons = store.read_sql("SELECT reason FROM quarantine ORDER BY reason")["reason"].tolist()
    assert any(NO_MATCH_REASON in r and "line 4" in r for r in reasons)  # Nobody Known
    assert any("line 7" in r and "field_count" in r for r in reasons)

    # Re-running the hour replays the same landed file: nothing new, nothing lost.
    leads_before = len(store.read_leads())
    again = import_hour(store, index, MATCHER, tmp_path, HOUR)
    assert again.files == 1 and again.batch.new_leads == 0
    assert len(store.read_leads()) == leads_before
    # A later hour does not import the file again.
    later = import_hour(store, index, MATCHER, tmp_path, "2026-11-27-04:00")
    assert later.files == 0


def test_a_malformed_file_is_reported_not_half_imported(store, tmp_path):
    (tmp_path / "bad.csv").write_bytes(b"Nom,Adresse\nJane,x\n")
    (tmp_path / "good.csv").write_bytes(CSV)
    report = import_hour(store, DedupIndex(store, None), MATCHER, tmp_path, HOUR)
    assert report.files == 2 and report.files_rejected == 1
    assert any("bad.csv" in e for e in report.errors)
    rejected = store.read_sql("SELECT reason FROM quarantine WHERE reason LIKE 'file bad.csv rejected%'")
    assert len(rejected) == 1
    assert report.batch.new_leads >= 2  # the good file still went in


def test_sensor_requests_one_run_per_new_or_changed_file(tmp_path):
    resource = ImportFolderResource(import_dir=str(tmp_path))
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(instance=instance, resources={"sales_navigator": resource})
        assert isinstance(sales_navigator_files_sensor(ctx), dg.SkipReason)
        (tmp_path / "a.csv").write_bytes(CSV)
        ctx = dg.build_sensor_context(instance=instance, resources={"sales_navigator": resource})
        request = sales_navigator_files_sensor(ctx)
        assert isinstance(request, dg.RunRequest)
        assert request.partition_key.endswith("|sales_navigator")
        cursor = ctx.cursor
        ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"sales_navigator": resource})
        assert isinstance(sales_navigator_files_sensor(ctx), dg.SkipReason)
        (tmp_path / "a.csv").write_bytes(CSV + b"Zed,Ray,PPC Manager,Z,z.com,,z@z.com,\n")
        ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"sales_navigator": resource})
        assert isinstance(sales_navigator_files_sensor(ctx), dg.RunRequest)


def test_landing_keeps_any_bytes_verbatim(store, tmp_path):
    weird = "Name,Email\nJosé Núñez,jose@acme.com\n".encode("utf-16")
    (tmp_path / "utf16.csv").write_bytes(weird)
    import_hour(store, DedupIndex(store, None), MATCHER, tmp_path, HOUR)
    landing = store.landings("sales_navigator", f"{HOUR}|sales_navigator", "import")[0]
    import base64

    assert base64.b64decode(landing["payload"]) == weird
    assert pd.Series(store.read_leads()["full_name"]).tolist() == ["José Núñez"]


def test_a_row_no_lead_matched_yet_is_matched_by_a_later_hour(store, tmp_path):
    """Collection runs in parallel with imports: a lead stored after the import still gets its row."""
    index = DedupIndex(store, None)
    (tmp_path / "leads.csv").write_bytes(CSV)
    first = import_hour(store, index, MATCHER, tmp_path, HOUR)
    assert first.rematched == 0
    unmatched = store.read_sql("SELECT reason FROM quarantine WHERE reason LIKE :r", {"r": f"%{NO_MATCH_REASON}"})
    assert len(unmatched) == 2  # Jane and Nobody: no email, nothing collected yet (Sam has an email)
    seed_apollo(store, index)  # Jane is collected after the import
    later = import_hour(store, index, MATCHER, tmp_path, "2026-11-27-04:00")
    assert later.files == 0 and later.rematched == 1
    sources = store.read_sql("SELECT vendor_person_id, lead_id, partition_key, match_method FROM lead_sources "
                             "WHERE source = 'sales_navigator' AND vendor_person_id = 'ACwAAA1'")
    assert sources["match_method"].tolist() == ["name_domain"]
    assert set(sources["partition_key"]) == {f"{HOUR}|sales_navigator"}  # under the hour that imported them
    jane = store.read_leads("full_name = 'Jane Doe'")
    assert len(jane) == 1 and set(sources["lead_id"]) <= set(store.read_leads()["lead_id"])
    keys = store.read_sql("SELECT key FROM dedup_keys WHERE lead_id = :l", {"l": jane["lead_id"].iloc[0]})["key"]
    assert any(k.startswith("sn:") for k in keys)  # the Sales Navigator URL is a key of the lead now
    still = store.read_sql("SELECT reason FROM quarantine WHERE reason LIKE :r", {"r": f"%{NO_MATCH_REASON}"})
    assert len(still) == 1 and "line 4" in still["reason"].iloc[0]  # Nobody Known: still nobody
    assert import_hour(store, index, MATCHER, tmp_path, "2026-11-27-05:00").rematched == 0
