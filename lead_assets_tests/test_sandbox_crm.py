"""Contract tests of the sandbox's HubSpot and Salesforce emulators, over real HTTP with ``requests``.

One in-process sandbox serves the module; every test starts from a reset (CRM contents, counters,
settings and the startup config), so what a test reads back is exactly what it wrote.
"""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime

import pytest
import requests

from lead_assets.sandbox import SandboxConfig, start_sandbox

HS_TOKEN = "sandbox-hubspot-token"
HS = {"Authorization": f"Bearer {HS_TOKEN}"}
PROPS = "/hubspot/crm/v3/properties/contacts"
UPSERT = "/hubspot/crm/v3/objects/contacts/batch/upsert"
SF_CLIENT = ("sandbox-salesforce-client", "sandbox-salesforce-secret")
UNIQUE_PROP = {
    "name": "li_id",
    "label": "LinkedIn id",
    "type": "string",
    "fieldType": "text",
    "groupName": "contactinformation",
    "hasUniqueValue": True,
}


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(SandboxConfig(population=200)) as sb:
        yield sb


@pytest.fixture(autouse=True)
def reset(sandbox):
    requests.post(f"{sandbox.base_url}/__sandbox/reset", json={"config": True}, timeout=5).raise_for_status()


def post(sandbox, path, body, headers=HS):
    return requests.post(f"{sandbox.base_url}{path}", json=body, headers=headers, timeout=10)


def upsert(sandbox, inputs):
    return post(sandbox, UPSERT, {"inputs": inputs})


def contacts(sandbox):
    return requests.get(f"{sandbox.base_url}/hubspot/__sandbox/contacts", timeout=5).json()["results"]


def hubspot_settings(sandbox, **settings):
    r = requests.post(f"{sandbox.base_url}/hubspot/__sandbox/settings", json=settings, timeout=5)
    assert r.status_code == 200, r.text


# -- HubSpot --------------------------------------------------------------------------------


def test_hubspot_auth_and_property_list(sandbox):
    r = requests.get(f"{sandbox.base_url}{PROPS}", timeout=5)
    assert r.status_code == 401 and r.json()["category"] == "INVALID_AUTHENTICATION"
    r = requests.get(
        f"{sandbox.base_url}{PROPS}", headers={"Authorization": "Bearer sandbox-hubspot-expired-token"}
    )
    assert r.status_code == 401 and r.json()["category"] == "EXPIRED_AUTHENTICATION"
    r = requests.get(f"{sandbox.base_url}{PROPS}", headers=HS, timeout=5)
    names = {p["name"]: p for p in r.json()["results"]}
    assert {"email", "firstname", "jobtitle", "hs_linkedin_url", "numemployees"} <= set(names)
    assert names["numemployees"]["type"] == "enumeration"
    assert names["hs_object_id"]["modificationMetadata"]["readOnlyValue"] is True
    assert r.headers["X-HubSpot-RateLimit-Max"] == "100"
    assert r.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert r.headers["X-HubSpot-RateLimit-Daily"] == "250000"


def test_hubspot_property_creation(sandbox):
    assert post(sandbox, PROPS, UNIQUE_PROP).status_code == 201
    again = post(sandbox, PROPS, UNIQUE_PROP)
    assert again.status_code == 409 and again.json()["category"] == "OBJECT_ALREADY_EXISTS"
    bad = post(sandbox, PROPS, {**UNIQUE_PROP, "name": "Bad Name", "type": "blob"})
    assert bad.status_code == 400 and "name must be" in bad.json()["message"]
    r = requests.get(f"{sandbox.base_url}{PROPS}/li_id", headers=HS, timeout=5)
    assert r.json()["hasUniqueValue"] is True


def test_hubspot_upsert_creates_then_updates_by_unique_properties(sandbox):
    post(sandbox, PROPS, UNIQUE_PROP)
    first = upsert(
        sandbox,
        [
            {
                "idProperty": "email",
                "id": "Ada@AE.com",
                "properties": {"firstname": "Ada", "li_id": "L1"},
                "objectWriteTraceId": "t1",
            },
            {
                "idProperty": "li_id",
                "id": "L2",
                "properties": {"firstname": "Bo"},
                "objectWriteTraceId": "t2",
            },
        ],
    )
    assert first.status_code == 200, first.text
    results = {r["objectWriteTraceId"]: r for r in first.json()["results"]}
    assert results["t1"]["new"] is True and results["t1"]["properties"]["email"] == "ada@ae.com"
    # The contact created by email is found again by its LinkedIn id, and gains nothing twice.
    second = upsert(
        sandbox,
        [{"idProperty": "li_id", "id": "L1", "properties": {"jobtitle": "CMO"}, "objectWriteTraceId": "t1"}],
    )
    r = second.json()["results"][0]
    assert r["new"] is False and r["id"] == results["t1"]["id"]
    assert len(contacts(sandbox)) == 2


def test_hubspot_batch_limits_and_structural_errors(sandbox):
    post(sandbox, PROPS, UNIQUE_PROP)
    too_many = [{"idProperty": "li_id", "id": f"L{i}", "properties": {}} for i in range(101)]
    r = upsert(sandbox, too_many)
    assert r.status_code == 400 and r.json()["category"] == "VALIDATION_ERROR"
    r = upsert(sandbox, [{"idProperty": "li_id", "id": "L1", "properties": {}}] * 2)
    assert r.status_code == 400 and "Duplicate IDs" in r.json()["message"]
    r = upsert(sandbox, [{"idProperty": "firstname", "id": "x", "properties": {}}])
    assert r.status_code == 400 and "not a unique value property" in r.json()["message"]
    r = upsert(sandbox, [{"idProperty": "li_id", "id": "L1", "properties": {"nope": "1"}}])
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"
    assert contacts(sandbox) == []


def test_hubspot_207_partial_failure_and_duplicate_email_behaviour(sandbox):
    post(sandbox, PROPS, UNIQUE_PROP)
    upsert(sandbox, [{"idProperty": "email", "id": "taken@x.com", "properties": {"li_id": "L0"}}])
    r = upsert(
        sandbox,
        [
            {
                "idProperty": "li_id",
                "id": "L1",
                "properties": {"email": "not-an-email"},
                "objectWriteTraceId": "bad",
            },
            {
                "idProperty": "li_id",
                "id": "L2",
                "properties": {"email": "taken@x.com"},
                "objectWriteTraceId": "dupe",
            },
            {
                "idProperty": "li_id",
                "id": "L3",
                "properties": {"firstname": "Ok"},
                "objectWriteTraceId": "ok",
            },
        ],
    )
    assert r.status_code == 207
    body = r.json()
    errors = {e["context"]["objectWriteTraceId"][0]: e for e in body["errors"]}
    assert body["numErrors"] == 2
    assert (
        errors["bad"]["category"] == "VALIDATION_ERROR"
        and errors["bad"]["errors"][0]["code"] == "INVALID_EMAIL"
    )
    assert errors["dupe"]["category"] == "CONFLICT" and "Existing ID" in errors["dupe"]["message"]
    assert [x["objectWriteTraceId"] for x in body["results"]] == ["ok"]
    # Create-only paths refuse an existing email: single create and batch create answer 409.
    single = post(sandbox, "/hubspot/crm/v3/objects/contacts", {"properties": {"email": "taken@x.com"}})
    assert single.status_code == 409 and single.json()["message"].startswith(
        "Contact already exists. Existing ID:"
    )
    batch = post(
        sandbox,
        "/hubspot/crm/v3/objects/contacts/batch/create",
        {"inputs": [{"properties": {"email": "new@x.com"}}, {"properties": {"email": "taken@x.com"}}]},
    )
    assert batch.status_code == 409
    assert len(contacts(sandbox)) == 2 and sandbox.stats()["vendors"]["hubspot"]["duplicate_emails"] == 0


def test_hubspot_injected_failures_are_stable_and_batch_mode_rejects_all(sandbox):
    post(sandbox, PROPS, UNIQUE_PROP)
    hubspot_settings(sandbox, crm_fail_rate=0.3, crm_transient_share=0.5)
    inputs = [
        {"idProperty": "li_id", "id": f"L{i}", "properties": {}, "objectWriteTraceId": f"L{i}"}
        for i in range(60)
    ]
    first = upsert(sandbox, inputs).json()
    failed = {e["context"]["objectWriteTraceId"][0]: e["category"] for e in first["errors"]}
    assert 5 < len(failed) < 35 and set(failed.values()) == {"VALIDATION_ERROR", "LOCKED"}
    second = upsert(sandbox, inputs).json()
    again = {e["context"]["objectWriteTraceId"][0]: e["category"] for e in second.get("errors", [])}
    # Permanent failures fail again, transient ones (one failure each by default) now succeed.
    assert again == {k: v for k, v in failed.items() if v == "VALIDATION_ERROR"}
    hubspot_settings(sandbox, crm_fail_mode="batch")
    r = upsert(sandbox, inputs)
    assert r.status_code == 400 and sandbox.stats()["vendors"]["hubspot"]["batches_rejected"] == 1


def test_hubspot_rolling_window_and_daily_limit(sandbox):
    r = requests.post(
        f"{sandbox.base_url}/__sandbox/config",
        timeout=5,
        json={"windows": {"ten_secondly": 1}, "limits": {"hubspot": {"api": {"ten_secondly": 3, "day": 5}}}},
    )
    assert r.status_code == 200
    statuses = [requests.get(f"{sandbox.base_url}{PROPS}", headers=HS, timeout=5) for _ in range(4)]
    assert [s.status_code for s in statuses] == [200, 200, 200, 429]
    body = statuses[-1].json()
    assert body["policyName"] == "TEN_SECONDLY_ROLLING" and body["errorType"] == "RATE_LIMIT"
    assert (
        statuses[-1].headers["Retry-After"] == "1"
        and statuses[2].headers["X-HubSpot-RateLimit-Remaining"] == "0"
    )
    time.sleep(1.05)
    ok = [requests.get(f"{sandbox.base_url}{PROPS}", headers=HS, timeout=5) for _ in range(3)]
    assert [s.status_code for s in ok] == [200, 200, 429]
    daily = ok[-1].json()
    assert daily["policyName"] == "DAILY" and daily["message"] == "You have reached your daily limit."
    assert ok[1].headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"


def test_hubspot_injected_429_looks_real(sandbox):
    requests.post(
        f"{sandbox.base_url}/__sandbox/config",
        json={"faults": {"hubspot": {"fail_next": 1, "fail_next_kind": "429"}}},
        timeout=5,
    )
    r = requests.get(f"{sandbox.base_url}{PROPS}", headers=HS, timeout=5)
    assert (
        r.status_code == 429 and r.json()["policyName"] == "TEN_SECONDLY_ROLLING" and r.headers["Retry-After"]
    )


# -- Salesforce ----------------------------------------------------------------------------


def token(sandbox, auth=SF_CLIENT):
    r = requests.post(
        f"{sandbox.base_url}/salesforce/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=auth,
        timeout=5,
    )
    return r


def session(sandbox):
    body = token(sandbox).json()
    base = f"{body['instance_url']}/services/data/v62.0"
    return base, {"Authorization": f"Bearer {body['access_token']}"}


def run_job(base, headers, csv_text, *, external="LinkedIn_URL__c"):
    job = requests.post(
        f"{base}/jobs/ingest",
        headers=headers,
        timeout=5,
        json={
            "object": "Lead",
            "operation": "upsert",
            "externalIdFieldName": external,
            "contentType": "CSV",
            "lineEnding": "LF",
        },
    ).json()
    jid = job["id"]
    put = requests.put(
        f"{base}/jobs/ingest/{jid}/batches",
        data=csv_text.encode(),
        timeout=5,
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert put.status_code == 201
    again = requests.put(
        f"{base}/jobs/ingest/{jid}/batches",
        data=b"x",
        timeout=5,
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert again.status_code == 400  # one upload per job
    closed = requests.patch(
        f"{base}/jobs/ingest/{jid}", json={"state": "UploadComplete"}, headers=headers, timeout=5
    )
    assert closed.json()["state"] == "UploadComplete"
    late = requests.put(
        f"{base}/jobs/ingest/{jid}/batches",
        data=b"x",
        timeout=5,
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert late.status_code == 400
    for _ in range(100):
        info = requests.get(f"{base}/jobs/ingest/{jid}", headers=headers, timeout=5).json()
        if info["state"] in ("JobComplete", "Failed", "Aborted"):
            break
        time.sleep(0.02)
    sets = {
        name: list(
            csv.DictReader(
                io.StringIO(
                    requests.get(f"{base}/jobs/ingest/{jid}/{name}/", headers=headers, timeout=5).text
                )
            )
        )
        for name in ("successfulResults", "failedResults", "unprocessedrecords")
    }
    return info, sets


def test_salesforce_token_flows(sandbox):
    assert token(sandbox).json()["token_type"] == "Bearer"
    bad = token(sandbox, ("sandbox-salesforce-client", "wrong"))
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_client"
    unknown = token(sandbox, ("nobody", "x"))
    assert unknown.json()["error"] == "invalid_client_id"
    odd = requests.post(f"{sandbox.base_url}/salesforce/services/oauth2/token", data={"grant_type": "magic"})
    assert odd.json()["error"] == "unsupported_grant_type"


def test_salesforce_expired_session_and_describe(sandbox):
    base, headers = session(sandbox)
    r = requests.get(f"{base}/sobjects/Lead/describe", headers=headers, timeout=5)
    fields = {f["name"]: f for f in r.json()["fields"]}
    assert fields["LastName"]["length"] == 80 and fields["LinkedIn_URL__c"]["externalId"] is True
    assert r.headers["Sforce-Limit-Info"].startswith("api-usage=")
    requests.post(f"{sandbox.base_url}/salesforce/__sandbox/expire_tokens", timeout=5)
    r = requests.get(f"{base}/sobjects/Lead/describe", headers=headers, timeout=5)
    assert r.status_code == 401 and r.json()[0]["errorCode"] == "INVALID_SESSION_ID"


def test_salesforce_bulk_upsert_state_machine_and_results(sandbox):
    base, headers = session(sandbox)
    rows = "".join(f"Last{i},Acme,l{i}@acme.com,li/{i}\n" for i in range(30))
    info, sets = run_job(
        base,
        headers,
        "LastName,Company,Email,LinkedIn_URL__c\n"
        + rows
        + ',Acme,,li/missing\n"O\'Neil, ""Jr""","Big, Co",x@y.com,li/q\n',
    )
    assert info["state"] == "JobComplete" and info["numberRecordsProcessed"] == 32
    assert info["numberRecordsFailed"] == 1 and len(sets["successfulResults"]) == 31
    failed = sets["failedResults"][0]
    assert (
        failed["sf__Error"].startswith("REQUIRED_FIELD_MISSING") and failed["LinkedIn_URL__c"] == "li/missing"
    )
    ordered = [r["LinkedIn_URL__c"] for r in sets["successfulResults"]]
    assert ordered != sorted(ordered, key=lambda k: (len(k), k))  # shuffled, not input order
    quoted = next(r for r in sets["successfulResults"] if r["LinkedIn_URL__c"] == "li/q")
    assert quoted["LastName"] == 'O\'Neil, "Jr"' and quoted["sf__Created"] == "true"
    # Upsert on the external id: the same keys update the records they created.
    _, again = run_job(base, headers, "LastName,Company,LinkedIn_URL__c\nNew,Acme,li/1\n")
    assert again["successfulResults"][0]["sf__Created"] == "false"
    leads = requests.get(f"{sandbox.base_url}/salesforce/__sandbox/leads", timeout=5).json()["records"]
    assert len(leads) == 31 and next(x for x in leads if x["LinkedIn_URL__c"] == "li/1")["LastName"] == "New"


def test_salesforce_job_failures(sandbox):
    base, headers = session(sandbox)
    info, sets = run_job(base, headers, "LastName,Company,Nope__c,LinkedIn_URL__c\nA,B,C,li/1\n")
    assert info["state"] == "Failed" and "Field name not found : Nope__c" in info["errorMessage"]
    assert len(sets["unprocessedrecords"]) == 1
    bad = requests.post(
        f"{base}/jobs/ingest",
        headers=headers,
        timeout=5,
        json={"object": "Lead", "operation": "upsert", "externalIdFieldName": "Email", "contentType": "CSV"},
    )
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALIDJOB"
    requests.post(
        f"{sandbox.base_url}/salesforce/__sandbox/settings", timeout=5, json={"crm_fail_mode": "batch"}
    )
    info, sets = run_job(
        base, headers, "LastName,Company,Email,LinkedIn_URL__c\nA,B,bad-email,li/1\nC,D,,li/2\n"
    )
    assert (
        info["state"] == "Failed" and len(sets["unprocessedrecords"]) == 2 and sets["successfulResults"] == []
    )


def test_salesforce_daily_request_limit(sandbox):
    requests.post(
        f"{sandbox.base_url}/__sandbox/config",
        json={"limits": {"salesforce": {"api": {"day": 2}}}},
        timeout=5,
    )
    base, headers = session(sandbox)
    codes = [requests.get(f"{base}/sobjects/Lead/describe", headers=headers, timeout=5) for _ in range(3)]
    assert [c.status_code for c in codes] == [200, 200, 403]
    assert codes[-1].json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert codes[1].headers["Sforce-Limit-Info"] == "api-usage=2/2"


# -- vendor-apis.md Corrections 4-8: the sandbox behaves as the vendors do ---------------------


def test_salesforce_generic_login_hosts_refuse_client_credentials(sandbox):
    # Corrections 4: login/test.salesforce.com answer client credentials invalid_grant; My Domain issues.
    for host in ("login", "test"):
        r = requests.post(f"{sandbox.base_url}/salesforce/{host}/services/oauth2/token",
                          data={"grant_type": "client_credentials"}, auth=SF_CLIENT, timeout=5)
        assert r.status_code == 400
        assert r.json() == {"error": "invalid_grant", "error_description": "request not supported on this domain"}
    assert token(sandbox).status_code == 200  # the mount itself plays the org's My Domain


def test_salesforce_result_sets_are_csv_only(sandbox):
    # Corrections 5: successfulResults/, failedResults/, unprocessedrecords/ are CSV resources.
    base, headers = session(sandbox)
    info, _ = run_job(base, headers, "LastName,Company,LinkedIn_URL__c\nDoe,Acme,li/1\n")
    for name in ("successfulResults", "failedResults", "unprocessedrecords"):
        url = f"{base}/jobs/ingest/{info['id']}/{name}/"
        as_json = requests.get(url, headers={**headers, "Accept": "application/json"}, timeout=5)
        assert as_json.status_code == 406 and as_json.json()[0]["errorCode"] == "NOT_ACCEPTABLE"
        as_csv = requests.get(url, headers={**headers, "Accept": "text/csv"}, timeout=5)
        assert as_csv.status_code == 200 and as_csv.headers["Content-Type"].startswith("text/csv")


def test_hubspot_scopes_are_enforced_per_token(sandbox):
    # Corrections 7: reading contact properties needs crm.schemas.contacts.read.
    write_only = {"Authorization": "Bearer sandbox-hubspot-write-only-token"}
    r = requests.get(f"{sandbox.base_url}{PROPS}", headers=write_only, timeout=5)
    body = r.json()
    assert r.status_code == 403 and body["category"] == "MISSING_SCOPES"
    assert body["errors"][0]["context"]["requiredGranularScopes"] == ["crm.schemas.contacts.read"]
    assert upsert(sandbox, [{"idProperty": "email", "id": "a@b.co", "properties": {}}]).status_code == 200
    ok = post(sandbox, UPSERT, {"inputs": [{"idProperty": "email", "id": "c@d.co", "properties": {}}]}, write_only)
    assert ok.status_code == 200  # it may write, it may not read the schema


def test_hubspot_search_and_its_secondly_limit(sandbox):
    upsert(sandbox, [{"idProperty": "email", "id": f"p{i}@acme.com", "properties": {"firstname": f"P{i % 2}"}}
                     for i in range(5)])
    search = "/hubspot/crm/v3/objects/contacts/search"
    body = {"filterGroups": [{"filters": [{"propertyName": "firstname", "operator": "EQ", "value": "p1"}]}],
            "properties": ["email"], "limit": 1}
    first = post(sandbox, search, body).json()
    assert first["total"] == 2 and len(first["results"]) == 1 and first["paging"]["next"]["after"]
    rest = post(sandbox, search, {**body, "after": first["paging"]["next"]["after"]}).json()
    assert len(rest["results"]) == 1 and "paging" not in rest
    assert post(sandbox, search, {**body, "limit": 201}).status_code == 400
    statuses = [post(sandbox, search, body) for _ in range(6)]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited and limited[0].json()["policyName"] == "SECONDLY"
    assert limited[0].json()["message"] == "You have reached your secondly limit."


def test_hubspot_gdpr_delete_of_an_unknown_email_answers_204_and_blocklists(sandbox):
    # Corrections 8: 204 does not prove a contact existed.
    gdpr = "/hubspot/crm/v3/objects/contacts/gdpr-delete"
    assert post(sandbox, gdpr, {"objectId": "ghost@acme.com", "idProperty": "email"}).status_code == 204
    refused = upsert(sandbox, [{"idProperty": "email", "id": "Ghost@acme.com", "properties": {},
                                "objectWriteTraceId": "t1"}])
    assert refused.status_code == 207 and refused.json()["errors"][0]["errors"][0]["code"] == "BLOCKLISTED_EMAIL"
    created = upsert(sandbox, [{"idProperty": "email", "id": "real@acme.com", "properties": {}}]).json()
    contact_id = created["results"][0]["id"]
    assert post(sandbox, gdpr, {"objectId": contact_id}).status_code == 204
    assert post(sandbox, gdpr, {"objectId": contact_id}).status_code == 404  # by id: gone is gone
    assert post(sandbox, gdpr, {"objectId": "x", "idProperty": "hs_linkedin_url"}).status_code == 400
    stats = sandbox.stats()["vendors"]["hubspot"]
    assert stats["gdpr_deleted"] == 1 and stats["gdpr_blocklisted"] == 1


def test_hubspot_daily_limit_resets_at_the_account_midnight(sandbox):
    # Corrections 6: midnight in the account's time zone, not UTC.
    app = sandbox.router.apps["hubspot"]
    hubspot_settings(sandbox, account_time_zone="America/Los_Angeles")
    at = datetime(2026, 12, 4, 23, 0, tzinfo=UTC).timestamp()  # 15:00 in Los Angeles
    day, reset_at = app._account_day(at, 86_400)
    assert day == "2026-12-04" and reset_at == datetime(2026, 12, 5, 8, 0, tzinfo=UTC).timestamp()
    hubspot_settings(sandbox, daily_headers=False)  # OAuth apps get no daily headers
    requests.post(f"{sandbox.base_url}/__sandbox/config", json={"limits": {"hubspot": {"api": {"day": 1}}}},
                  timeout=5).raise_for_status()
    first = requests.get(f"{sandbox.base_url}{PROPS}", headers=HS, timeout=5)
    assert first.status_code == 200 and "X-HubSpot-RateLimit-Daily" not in first.headers
    second = requests.get(f"{sandbox.base_url}{PROPS}", headers=HS, timeout=5)
    assert second.status_code == 429 and second.json()["policyName"] == "DAILY"
