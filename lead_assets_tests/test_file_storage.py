"""Shared storage for reports, imports and backups: the local folder fully, S3 through botocore's Stubber."""

import io
import sys
from datetime import UTC, datetime, timedelta

import pytest

from lead_assets.pipeline import backups
from lead_assets.sources.file_imports import import_files, import_storage
from lead_assets.store.files import LocalStorage, S3Storage, sprint_storage, storage_from_url


def test_local_storage_put_get_list_exists_delete(tmp_path):
    files = LocalStorage(tmp_path / "root")
    assert files.list() == [] and not files.exists("a.txt")
    where = files.put("reports/hourly/a.md", b"hello")
    assert where == str(tmp_path / "root" / "reports" / "hourly" / "a.md")
    files.put("b.csv", b"x,y\n")
    assert files.get("reports/hourly/a.md") == b"hello" and files.exists("b.csv")
    assert [f.name for f in files.list()] == ["b.csv", "reports/hourly/a.md"]
    assert [(f.name, f.size) for f in files.list("reports/")] == [("reports/hourly/a.md", 5)]
    sig = files.list("b.csv")[0].signature
    files.put("b.csv", b"x,y\n1,2\n")
    assert files.list("b.csv")[0].signature != sig  # the sensor sees a changed file
    assert files.child("reports").get("hourly/a.md") == b"hello"
    files.delete("b.csv")
    files.delete("b.csv")  # deleting what is gone is not an error
    assert not files.exists("b.csv")
    with pytest.raises(FileNotFoundError):
        files.get("b.csv")
    with pytest.raises(ValueError, match="leaves the storage folder"):
        files.put("../escape.txt", b"no")
    with files.child("staged").staging() as folder:
        (folder / "r.html").write_text("<p>")
    assert files.get("staged/r.html") == b"<p>"


def test_storage_url_and_sprint_namespace(tmp_path, monkeypatch):
    monkeypatch.setenv("LEAD_SPRINT_STORAGE_URL", str(tmp_path))
    monkeypatch.delenv("LEAD_SPRINT_ID", raising=False)
    assert sprint_storage().local_root == tmp_path  # one sprint: the folder as it was
    monkeypatch.setenv("LEAD_SPRINT_ID", "perf-marketing-us")
    assert sprint_storage().local_root == tmp_path / "perf-marketing-us"
    assert import_storage("sales_navigator", None).local_root == tmp_path / "perf-marketing-us" / "imports" / "sales_navigator"
    assert import_storage("sales_navigator", str(tmp_path / "drop")).local_root == tmp_path / "drop"  # an explicit folder wins
    monkeypatch.delenv("LEADS_BACKUP_DIR", raising=False)
    assert backups.default_backup_storage().local_root == tmp_path / "perf-marketing-us" / "backups"
    s3 = storage_from_url("s3://team-bucket/lead-sprint/")
    assert isinstance(s3, S3Storage) and s3.child("perf-us").location("reports/x.html") == \
        "s3://team-bucket/lead-sprint/perf-us/reports/x.html"
    with pytest.raises(ValueError, match="names no bucket"):
        storage_from_url("s3:///prefix")
    with pytest.raises(ValueError, match="only a folder path or s3://"):
        storage_from_url("gs://bucket/x")


def test_s3_without_boto3_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)  # import boto3 -> ImportError
    with pytest.raises(RuntimeError, match="needs boto3"):
        S3Storage("bucket", "prefix").put("a", b"b")


# --- S3, stubbed -------------------------------------------------------------------------------

botocore = pytest.importorskip("botocore")
from botocore.response import StreamingBody  # noqa: E402
from botocore.stub import Stubber  # noqa: E402


@pytest.fixture
def s3():
    import botocore.session

    client = botocore.session.get_session().create_client(
        "s3", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def test_s3_put_get_list_exists_delete(s3):
    client, stub = s3
    files = S3Storage("bucket", "lead-sprint", client=client).child("perf-us")
    stub.add_response("put_object", {"ETag": '"e1"'},
                      {"Bucket": "bucket", "Key": "lead-sprint/perf-us/reports/a.md", "Body": b"hello"})
    assert files.put("reports/a.md", b"hello") == "s3://bucket/lead-sprint/perf-us/reports/a.md"
    stub.add_response("get_object", {"Body": StreamingBody(io.BytesIO(b"hello"), 5)},
                      {"Bucket": "bucket", "Key": "lead-sprint/perf-us/reports/a.md"})
    assert files.get("reports/a.md") == b"hello"
    stub.add_client_error("get_object", "NoSuchKey", http_status_code=404,
                          expected_params={"Bucket": "bucket", "Key": "lead-sprint/perf-us/gone"})
    with pytest.raises(FileNotFoundError):
        files.get("gone")
    # Two pages: the listing follows the continuation token.
    stub.add_response("list_objects_v2", {
        "IsTruncated": True, "NextContinuationToken": "t1",
        "Contents": [{"Key": "lead-sprint/perf-us/b.csv", "Size": 4, "ETag": '"e2"'}]},
        {"Bucket": "bucket", "Prefix": "lead-sprint/perf-us/"})
    stub.add_response("list_objects_v2", {
        "IsTruncated": False, "Contents": [{"Key": "lead-sprint/perf-us/a.csv", "Size": 3, "ETag": '"e3"'}]},
        {"Bucket": "bucket", "Prefix": "lead-sprint/perf-us/", "ContinuationToken": "t1"})
    assert [(f.name, f.size, f.signature) for f in files.list()] == [("a.csv", 3, "e3"), ("b.csv", 4, "e2")]
    stub.add_response("head_object", {"ContentLength": 4}, {"Bucket": "bucket", "Key": "lead-sprint/perf-us/b.csv"})
    assert files.exists("b.csv")
    stub.add_client_error("head_object", "404", http_status_code=404,
                          expected_params={"Bucket": "bucket", "Key": "lead-sprint/perf-us/c.csv"})
    assert not files.exists("c.csv")
    stub.add_response("delete_object", {}, {"Bucket": "bucket", "Key": "lead-sprint/perf-us/b.csv"})
    files.delete("b.csv")


def test_s3_staging_uploads_what_was_written_and_lead_lists_are_listed(s3):
    client, stub = s3
    reports = S3Storage("bucket", "p", client=client).child("reports")
    stub.add_response("put_object", {}, {"Bucket": "bucket", "Key": "p/reports/final-report.html", "Body": b"<h1>"})
    stub.add_response("put_object", {}, {"Bucket": "bucket", "Key": "p/reports/final-report.md", "Body": b"# r"})
    with reports.staging() as folder:
        (folder / "final-report.html").write_bytes(b"<h1>")
        (folder / "final-report.md").write_bytes(b"# r")
    assert not folder.exists()  # the staging folder is gone once stored

    imports = S3Storage("bucket", "p", client=client).child("imports/sales_navigator")
    stub.add_response("list_objects_v2", {"IsTruncated": False, "Contents": [
        {"Key": "p/imports/sales_navigator/list.csv", "Size": 9, "ETag": '"a"'},
        {"Key": "p/imports/sales_navigator/notes.pdf", "Size": 9, "ETag": '"b"'},
        {"Key": "p/imports/sales_navigator/old/list.csv", "Size": 9, "ETag": '"c"'}]},
        {"Bucket": "bucket", "Prefix": "p/imports/sales_navigator/"})
    assert [f.name for f in import_files(imports, ("*.csv", "*.CSV", "*.txt", "*.tsv"))] == ["list.csv"]


def test_s3_backup_pruning_keeps_the_newest_of_each_database(s3):
    client, stub = s3
    store = S3Storage("bucket", "p/backups", client=client)
    now = datetime(2026, 12, 4, tzinfo=UTC)
    old, older = (backups.backup_filename("leads", "dump", now - timedelta(days=d)) for d in (9, 10))
    new = backups.backup_filename("leads", "dump", now - timedelta(days=1))
    stub.add_response("list_objects_v2", {"IsTruncated": False, "Contents": [
        {"Key": f"p/backups/{n}", "Size": 1, "ETag": '"x"'} for n in (old, older, new, new + ".json")]},
        {"Bucket": "bucket", "Prefix": "p/backups/"})
    for name in (older, old):
        stub.add_response("delete_object", {}, {"Bucket": "bucket", "Key": f"p/backups/{name}"})
        stub.add_response("delete_object", {}, {"Bucket": "bucket", "Key": f"p/backups/{name}.json"})
    assert backups.prune_stored_backups(store, 7, now) == [older, old]
