"""Source `lead_list`: any vendor's CSV export read with a column-mapping profile, into the real store."""

from __future__ import annotations

import csv
import io
import json

import pytest

from lead_assets.config.settings import sprint_config
from lead_assets.core.crm_mapping import neutralise_formulas
from lead_assets.core.titles import TitleMatcher
from lead_assets.core.vendor_records import apollo_person_record
from lead_assets.pipeline.lead_batches import VendorRecord, store_batch
from lead_assets.sandbox import apollo as sb_apollo
from lead_assets.sandbox.lead_list_export import export_csv_with_truth
from lead_assets.sandbox.population import Population
from lead_assets.sources import SOURCES, import_sources
from lead_assets.sources.file_imports import ImportContext
from lead_assets.sources.lead_list import (
    OPERATOR_MAPPING,
    LeadListSource,
    load_profiles,
    shipped_profiles,
)
from lead_assets.store.dedup_index import DedupIndex
from lead_assets.store.files import LocalStorage

MATCHER = TitleMatcher.from_config(sprint_config())
HOUR = "2026-11-27-03:00"
SOURCE = LeadListSource()
PK = f"{HOUR}|lead_list"

# A ZoomInfo contacts export: its real column names (a subset, in its order), values of our making.
ZOOMINFO_HEADER = ["ZoomInfo Contact ID", "Last Name", "First Name", "Middle Name", "Job Title", "Management Level",
                   "Direct Phone Number", "Email Address", "Email Domain", "Mobile phone",
                   "ZoomInfo Contact Profile URL", "LinkedIn Contact Profile URL", "Person City", "Person State",
                   "Country", "ZoomInfo Company ID", "Company Name", "Website", "Employees", "Primary Industry",
                   "Company City", "Company State", "Company Country"]
ZOOMINFO_ROWS = [
    ["1234567890", "Doe", "Jane", "", "PPC Manager", "Manager", "(512) 555-0101", "jane.doe@acme.com", "acme.com",
     "", "https://www.zoominfo.com/p/Jane-Doe/1234567890", "http://www.linkedin.com/in/jane-doe-zi",
     "Austin", "Texas", "United States", "99", "Acme", "www.acme.com", "250", "Advertising",
     "Chicago", "Illinois", "United States"],
    ["1234567891", "Patel", "Raj", "K", "Media Buyer", "Non-Manager", "", "raj@beta.io", "beta.io", "",
     "https://www.zoominfo.com/p/Raj-Patel/1234567891", "", "Miami", "Florida", "United States", "98", "Beta",
     "beta.io", "40", "Marketing", "Miami", "Florida", "United States"],
]
# A broker's list: headers the built-in spellings do not know (no name+identifier pair without the profile).
PURCHASED_HEADER = ["Contact Full Name", "Contact Title", "Company Name - Cleaned", "Email 1",
                    "Contact LI Profile URL", "Contact City", "Contact State", "Contact Country", "Direct Dial"]
PURCHASED_ROWS = [
    ["Ann Lee", "Paid Media Manager", "Delta", "ann@delta.com", "https://linkedin.com/in/ann-lee-pl", "Denver",
     "Colorado", "United States", "303-555-0199"],
    ["Sam Roe", "PPC Manager", "Epsilon", "", "https://www.linkedin.com/in/sam-roe-pl/", "Austin", "Texas",
     "United States", ""],
]


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *rows])
    return out.getvalue().encode()


@pytest.fixture
def population() -> Population:
    return Population.generate(7, 400, None)


def ctx_for(store, folder, *, replay_only: bool = False, index=None) -> ImportContext:
    return ImportContext(store=store, index=index or DedupIndex(store, None), matcher=MATCHER,
                         files=LocalStorage(folder), replay_only=replay_only)


def quarantine(store) -> list[dict]:
    return store.read_sql("SELECT reason, payload FROM quarantine WHERE source = 'lead_list' "
                          "ORDER BY quarantine_id").to_dict("records")


def vendor_ids(store) -> list[str]:
    return store.read_sql("SELECT vendor_person_id FROM lead_sources WHERE source = 'lead_list' "
                          "ORDER BY vendor_person_id")["vendor_person_id"].tolist()


def test_lead_list_is_a_registered_import_source():
    assert SOURCES["lead_list"].label == "Lead lists (CSV exports)"
    assert "lead_list" in [s.name for s in import_sources()]
    assert SOURCES["lead_list"].folder_setting == "LEAD_LIST_IMPORT_DIR"
    assert [p.name for p in shipped_profiles()] == ["apollo_people", "zoominfo_contacts", "purchased_list"]


def test_apollo_export_maps_with_its_profile(store, tmp_path, population):
    data, truth = export_csv_with_truth(population, bad_rows=2)
    (tmp_path / "apollo-contacts-export.csv").write_bytes(data)
    report = SOURCE.import_hour(ctx_for(store, tmp_path), HOUR)
    assert (report.files, report.files_rejected) == (1, 0)
    assert (report.rows, report.rows_rejected) == (len(truth) + 2, 2)
    assert report.batch.new_leads == len(truth) == len(store.read_leads())
    # Apollo's contact id is the record's id, namespaced by the profile
    ids = vendor_ids(store)
    assert len(ids) == len(truth) and all(i.startswith("apollo_people:") and len(i) == 14 + 24 for i in ids)
    first = next(iter(truth))
    person = next(p for p in population.people if p.real_id == truth[first] and p.duplicate_of is None)
    lead = store.read_leads("full_name = :n", {"n": f"{person.first_name} {person.last_name}"})
    assert len(lead) == 1
    row = lead.iloc[0]
    assert (row["company_name"], row["location_city"]) == (person.company.name, person.city)
    assert row["data_source"] == "lead_list"
    rejected = quarantine(store)
    assert [r["reason"].split(": ", 1)[0] for r in rejected] == [
        f"apollo-contacts-export.csv line {len(truth) + 2}", f"apollo-contacts-export.csv line {len(truth) + 3}"]
    assert all("no_identifier" in r["reason"] for r in rejected)
    assert json.loads(rejected[0]["payload"])["profile"] == "apollo_people"


def test_zoominfo_export_is_recognised_by_its_headers(store, tmp_path):
    """No vendor in the file name: the ZoomInfo profile fits by its headers, not the built-in spellings."""
    (tmp_path / "export-2026-11-27.csv").write_bytes(_csv(ZOOMINFO_HEADER, ZOOMINFO_ROWS))
    report = SOURCE.import_hour(ctx_for(store, tmp_path), HOUR)
    assert (report.files, report.files_rejected, report.batch.new_leads) == (1, 0, 2)
    assert vendor_ids(store) == ["zoominfo_contacts:1234567890", "zoominfo_contacts:1234567891"]
    jane = store.read_leads("email = 'jane.doe@acme.com'").iloc[0]
    # the person's city, not the office's; the LinkedIn profile, not ZoomInfo's page
    assert (jane["location_city"], jane["job_title"]) == ("Austin", "PPC Manager")
    assert jane["linkedin_url"] == "https://www.linkedin.com/in/jane-doe-zi"
    assert jane["company_industry"].lower() == "advertising"
    raj = store.read_leads("email = 'raj@beta.io'").iloc[0]
    assert raj["linkedin_url"] is None and raj["full_name"] == "Raj Patel"


def test_purchased_list_is_read_by_file_name(store, tmp_path):
    data = _csv(PURCHASED_HEADER, PURCHASED_ROWS)
    (tmp_path / "leads.csv").write_bytes(data)  # no profile fits: the built-in spellings cannot read it
    (tmp_path / "purchased_list_nov.csv").write_bytes(data)
    report = SOURCE.import_hour(ctx_for(store, tmp_path), HOUR)
    assert (report.files, report.files_rejected, report.batch.new_leads) == (2, 1, 2)
    reasons = [r["reason"] for r in quarantine(store)]
    assert len(reasons) == 1 and reasons[0].startswith("file leads.csv rejected: header rejected")
    assert "built-in" in reasons[0]
    ann = store.read_leads("full_name = 'Ann Lee'").iloc[0]
    assert (ann["email"], ann["job_title"], ann["company_name"]) == ("ann@delta.com", "Paid Media Manager", "Delta")
    assert ann["linkedin_url"] == "https://www.linkedin.com/in/ann-lee-pl"


OPERATOR_YAML = """
profiles:
  acme_broker:               # a vendor nobody shipped a profile for
    match: {files: ["acme-*.csv"]}
    columns:
      full_name: Nom complet
      email: [Courriel]
      job_title: Poste
      company_name: Société
  zoominfo_contacts:         # replaces the shipped profile: title from Management Level instead
    match: {headers: ["ZoomInfo Contact ID"]}
    vendor_id_column: ZoomInfo Contact ID
    columns:
      first_name: First Name
      last_name: Last Name
      email: Email Address
      job_title: Management Level
"""


def test_operator_mapping_file_adds_and_overrides_profiles_and_is_replayed(store, tmp_path):
    (tmp_path / OPERATOR_MAPPING).write_text(OPERATOR_YAML)
    (tmp_path / "acme-q4.csv").write_bytes("Nom complet,Courriel,Poste,Société\n"
                                           "Zoé Martin,zoe@acme.fr,Media Buyer,Acme SARL\n".encode())
    (tmp_path / "zi.csv").write_bytes(_csv(ZOOMINFO_HEADER, ZOOMINFO_ROWS))
    report = SOURCE.import_hour(ctx_for(store, tmp_path), HOUR)
    assert (report.files, report.files_rejected, report.batch.new_leads) == (2, 0, 3)
    zoe = store.read_leads("email = 'zoe@acme.fr'").iloc[0]
    assert (zoe["full_name"], zoe["job_title"], zoe["company_name"]) == ("Zoé Martin", "Media Buyer", "Acme SARL")
    jane = store.read_leads("email = 'jane.doe@acme.com'").iloc[0]
    assert jane["job_title"] == "Manager" and jane["location_city"] is None  # the operator's profile won
    # A replay reads the mapping the hour landed, even once the operator's file is gone.
    (tmp_path / OPERATOR_MAPPING).unlink()
    store.delete_quarantine(store.read_sql("SELECT quarantine_id FROM quarantine")["quarantine_id"].tolist())
    replay = SOURCE.import_hour(ctx_for(store, tmp_path / "elsewhere", replay_only=True), HOUR)
    assert (replay.files, replay.files_rejected, replay.batch.new_leads) == (2, 0, 0)
    assert replay.batch.merged == 3 and quarantine(store) == []


def test_a_file_dropped_twice_is_imported_once_and_a_rerun_replays(store, tmp_path):
    data = _csv(ZOOMINFO_HEADER, ZOOMINFO_ROWS)
    (tmp_path / "zoominfo.csv").write_bytes(data)
    index = DedupIndex(store, None)
    first = SOURCE.import_hour(ctx_for(store, tmp_path, index=index), HOUR)
    assert (first.files, first.batch.new_leads) == (1, 2)
    # the same file still in the folder an hour later: not imported again
    assert SOURCE.import_hour(ctx_for(store, tmp_path, index=index), "2026-11-27-04:00").files == 0
    # dropped again under another name: landed and read, the same two people
    (tmp_path / "zoominfo (1).csv").write_bytes(data)
    again = SOURCE.import_hour(ctx_for(store, tmp_path, index=index), "2026-11-27-05:00")
    assert (again.files, again.batch.new_leads, again.batch.merged) == (1, 0, 2)
    # re-running the first hour replays its file: nothing new, nothing lost
    rerun = SOURCE.import_hour(ctx_for(store, tmp_path, index=index), HOUR)
    assert (rerun.files, rerun.batch.new_leads, rerun.batch.merged) == (1, 0, 2)
    assert len(store.read_leads()) == 2
    assert len(store.landings("lead_list", PK, "import")) == 1


HOSTILE_MAPPINGS = {
    "unknown field": ("profiles:\n  x:\n    match: {files: ['*.csv']}\n    columns: {favourite_colour: Colour}\n",
                      "unknown field 'favourite_colour'"),
    "bad yaml": ("profiles:\n  x: [unclosed\n", "not valid YAML"),
    "header claimed twice": ("profiles:\n  x:\n    match: {files: ['*.csv']}\n"
                             "    columns: {email: Mail, phone: Mail}\n", "lists header 'Mail' for email and phone"),
    "no match": ("profiles:\n  x:\n    columns: {email: Mail}\n", "fits no file"),
    "not a mapping": ("- just\n- a list\n", "expected one top-level key"),
    "typo in a key": ("profiles:\n  x:\n    match: {files: ['*.csv']}\n    column: {email: Mail}\n",
                      "unknown key(s) column"),
}


@pytest.mark.parametrize("case", HOSTILE_MAPPINGS)
def test_a_malformed_operator_mapping_rejects_every_file_of_the_hour(store, tmp_path, case):
    text, why = HOSTILE_MAPPINGS[case]
    (tmp_path / OPERATOR_MAPPING).write_text(text)
    (tmp_path / "a.csv").write_bytes(_csv(ZOOMINFO_HEADER, ZOOMINFO_ROWS))
    (tmp_path / "b.csv").write_bytes(_csv(PURCHASED_HEADER, PURCHASED_ROWS))
    report = SOURCE.import_hour(ctx_for(store, tmp_path), HOUR)
    assert (report.files, report.files_rejected, report.batch.records) == (2, 2, 0)
    reasons = sorted(r["reason"] for r in quarantine(store))
    assert [r.split(" rejected:")[0] for r in reasons] == ["file a.csv", "file b.csv"]
    assert all(why in r and OPERATOR_MAPPING in r and "re-run this hour" in r for r in reasons), reasons
    assert store.read_leads().empty


HOSTILE_FILES = {
    "no name column": (b"Email,Title\njane@acme.com,PPC Manager\n", "header rejected"),
    "binary": (b"PK\x03\x04" + bytes(range(256)) * 4, "zip archive"),
    "nul bytes": (b"Name,Email\x00\x00\x00\nJ\x00a\x00", "binary data"),
    "empty": (b"", "empty file"),
    "only blank lines": (b"\r\n\r\n ,,\n", "empty file"),
}


@pytest.mark.parametrize("case", HOSTILE_FILES)
def test_a_file_that_cannot_be_imported_is_rejected_with_its_reason(store, tmp_path, case):
    data, why = HOSTILE_FILES[case]
    (tmp_path / "hostile.csv").write_bytes(data)
    report = SOURCE.import_hour(ctx_for(store, tmp_path), HOUR)
    assert (report.files, report.files_rejected, report.batch.records) == (1, 1, 0)
    [row] = quarantine(store)
    assert row["reason"].startswith("file hostile.csv rejected: ") and why in row["reason"], row["reason"]


def test_rows_without_identifiers_and_formula_cells_are_quarantined_or_kept_as_data(store, tmp_path):
    rows = [
        ["Jane", "Doe", "=HYPERLINK(\"http://evil.example\",\"PPC Manager\")", "Acme", "jane@acme.com", "", "1"],
        ["Raj", "Patel", "Media Buyer", "Beta", "=cmd|' /C calc'!A0", "", "2"],  # a formula for an email
        ["No", "Handle", "Media Buyer", "Gamma", "", "", "3"],
        ["", "", "Media Buyer", "Gamma", "x@gamma.co", "", "4"],  # no name
        ["@SUM(1+1)", "Roe", "PPC Manager", "Delta", "", "https://linkedin.com/in/sam-roe-f", "5"],
    ]
    header = ["First Name", "Last Name", "Title", "Company", "Email", "Person Linkedin Url", "Apollo Contact Id"]
    (tmp_path / "apollo-1.csv").write_bytes(_csv(header, rows))
    report = SOURCE.import_hour(ctx_for(store, tmp_path), HOUR)
    assert (report.rows, report.rows_rejected, report.batch.new_leads) == (5, 3, 2)
    reasons = [r["reason"] for r in quarantine(store)]
    assert sorted(r.split(": ", 1)[0] for r in reasons) == [f"apollo-1.csv line {n}" for n in (3, 4, 5)]
    assert all("no_identifier" in r or "no_name" in r for r in reasons)
    payloads = [json.loads(r["payload"]) for r in quarantine(store)]
    assert any("=cmd" in p["row"] for p in payloads)  # kept whole for whoever fixes it
    # formulas in other cells are data: stored as written, neutralised where a file is written out
    jane = store.read_leads("email = 'jane@acme.com'").iloc[0]
    assert jane["job_title"].startswith("=HYPERLINK(")
    assert neutralise_formulas(store.read_leads()["job_title"]).str.startswith("'=").sum() == 1
    assert store.read_leads("full_name = '@SUM(1+1) Roe'").iloc[0]["linkedin_url"].endswith("/sam-roe-f")


def test_people_already_collected_from_apollo_merge_into_one_lead(store, tmp_path, population):
    data, truth = export_csv_with_truth(population, bad_rows=0)
    seen = set(truth.values())
    collected = [p for p in population.people if p.real_id in seen and p.duplicate_of is None][::2]
    assert collected
    index = DedupIndex(store, None)
    people = [sb_apollo.person_object(p, population.companies, 0, False) for p in collected]
    store_batch([VendorRecord(p, *apollo_person_record(p)) for p in people], source="apollo",
                partition_key="2026-11-27-00:00|apollo", store=store, index=index, matcher=MATCHER)
    before = len(store.read_leads())
    assert before == len(collected)
    (tmp_path / "apollo-export.csv").write_bytes(data)
    report = SOURCE.import_hour(ctx_for(store, tmp_path, index=index), HOUR)
    assert report.batch.new_leads == len(truth) - len(collected)
    assert report.batch.merged == len(collected)
    assert len(store.read_leads()) == len(truth)  # one lead per person, whichever source saw them first
    sources = store.read_sql("SELECT lead_id, source FROM lead_sources")
    both = sources.groupby("lead_id")["source"].agg(frozenset)
    assert (both == frozenset({"apollo", "lead_list"})).sum() == len(collected)


def test_shipped_mapping_file_loads_and_an_empty_operator_file_adds_nothing():
    assert load_profiles(b"", "x") == []
    assert load_profiles(b"# nothing yet\n", "x") == []
    apollo = next(p for p in shipped_profiles() if p.name == "apollo_people")
    assert apollo.fits_name("Apollo-Contacts-Export.CSV") and apollo.vendor_id_column == "Apollo Contact Id"
    assert apollo.fits_headers(("First Name", "person linkedin URL"))


# The Dagster layer reads the brief's sources when it is imported, so a brief that enables `lead_list`
# runs in a process of its own: this script materialises one `<hour>|lead_list` partition twice.
MATERIALISE = """
import json, sys
import dagster as dg
from lead_assets.defs.collection import DEDUPED_LEADS, RAW_LEADS, collect_leads
from lead_assets.defs.partitions import ENABLED_SOURCES, sprint_partition_key
from lead_assets.defs.resources import (ApolloResource, ImportFolderResource, LeadStoreResource,
                                        SprintBriefResource, ZoomInfoResource)
db, folder, hour = sys.argv[1:4]
resources = {"sprint": SprintBriefResource(), "lead_store": LeadStoreResource(database_url=db),
             "apollo": ApolloResource(), "zoominfo": ZoomInfoResource(),  # never called by an import partition
             "sales_navigator": ImportFolderResource(import_dir=folder + "/sales_navigator"),
             "lead_list": ImportFolderResource(import_dir=folder)}
runs = []
with dg.instance_for_test() as instance:
    for _ in range(2):
        result = dg.materialize([collect_leads], partition_key=sprint_partition_key(hour, "lead_list"),
                                resources=resources, instance=instance)
        runs.append({e.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items()
                                                    if isinstance(v.value, (int, float, str))}
                     for e in result.get_asset_materialization_events()})
print(json.dumps({"sources": list(ENABLED_SOURCES), "keys": [RAW_LEADS.to_user_string(),
                  DEDUPED_LEADS.to_user_string()], "runs": runs}))
"""


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_a_brief_that_lists_lead_list_materialises_its_partitions(store, pg_url, tmp_path, population):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from lead_assets.config.settings import SPRINT_CONFIG_PATH

    brief = SPRINT_CONFIG_PATH.read_text()
    default = "sources: [apollo, zoominfo, sales_navigator]"
    assert default in brief
    (tmp_path / "sprint.yaml").write_text(brief.replace(default, default[:-1] + ", lead_list]"))
    folder = tmp_path / "lead_lists"
    folder.mkdir()
    name, data = SOURCE.sandbox_file(population)
    (folder / name).write_bytes(data)
    _, truth = export_csv_with_truth(population)
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "LEAD_SPRINT_CONFIG": str(tmp_path / "sprint.yaml"), "PYTHONPATH": str(repo)}
    done = subprocess.run([sys.executable, "-c", MATERIALISE, pg_url, str(folder), HOUR], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["sources"][-1] == "lead_list"
    raw_key, people_key = out["keys"]
    first, second = out["runs"]
    assert first[raw_key]["files"] == 1 and first[raw_key]["files_rejected"] == 0
    assert first[people_key]["new_leads"] == len(truth) == first[people_key]["distinct_people"]
    no_identifier = len(data.decode().splitlines()) - 1 - len(truth)  # the export's rows nobody can be found by
    assert no_identifier > 0 and first[people_key]["quarantined"] == no_identifier
    # the re-run replays the hour's landed file: the same people, nobody new
    assert second[raw_key]["files"] == 1 and second[people_key]["new_leads"] == 0
    assert second[people_key]["distinct_people"] == len(truth)
    assert len(store.read_leads()) == len(truth)


def test_the_file_sensor_asks_for_a_lead_list_run_when_an_export_is_dropped(tmp_path, population):
    import dagster as dg

    from lead_assets.defs.resources import ImportFolderResource
    from lead_assets.defs.sensors import import_files_sensor

    sensor = import_files_sensor(SOURCE)
    folder = ImportFolderResource(import_dir=str(tmp_path))
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(instance=instance, resources={"lead_list": folder})
        assert isinstance(sensor(ctx), dg.SkipReason)
        (tmp_path / OPERATOR_MAPPING).write_text(OPERATOR_YAML)  # a mapping alone is no file to import
        assert isinstance(sensor(dg.build_sensor_context(instance=instance, resources={"lead_list": folder})),
                          dg.SkipReason)
        name, data = SOURCE.sandbox_file(population)
        (tmp_path / name).write_bytes(data)
        request = sensor(dg.build_sensor_context(instance=instance, resources={"lead_list": folder}))
        assert isinstance(request, dg.RunRequest) and request.partition_key.endswith("|lead_list")
