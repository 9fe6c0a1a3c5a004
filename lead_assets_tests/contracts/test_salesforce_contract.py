"""Salesforce OAuth and Bulk API 2.0 ingest: what `SalesforceClient` sends and reads, pinned to the contract.

Written from shared/vendor-apis.md section 8 (8.1 token flows, 8.2 Bulk 2.0 ingest, 8.4 errors)
and Corrections 4 (client credentials need the org's My Domain host) and 5 (result sets are CSV:
`Accept: text/csv`), against a recording server, not the sandbox.
"""

from __future__ import annotations

import base64

import pytest

from lead_assets.clients.salesforce import CrmAuthError, SalesforceClient
from lead_assets.core.crm_config import load_crm_config
from lead_assets.crm.registry import build_crm_client
from lead_assets_tests.contracts.recorder import Recorder, Reply

V = "/services/data/v62.0"
JOB = "7505e000000000001"
TOKEN = {"access_token": "00Dxx!token", "instance_url": None, "id": "https://login.salesforce.com/id/00D/005",
         "token_type": "Bearer", "issued_at": "1700000000000", "signature": "sig"}
JOB_INFO = {"id": JOB, "operation": "upsert", "object": "Lead", "createdById": "005", "state": "Open",
            "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": 62.0,
            "contentUrl": f"services/data/v62.0/jobs/ingest/{JOB}/batches", "lineEnding": "LF",
            "columnDelimiter": "COMMA"}


@pytest.fixture
def rec():
    with Recorder() as server:
        server.on("POST", "/services/oauth2/token", Reply(200, {**TOKEN, "instance_url": server.url}))
        yield server


def client(rec, **kw):
    return SalesforceClient(rec.url, "client-id", "client-secret", sleep=lambda s: None, **kw)


# -- 8.1 / Corrections 4: the token ----------------------------------------------------------


def test_client_credentials_token_request(rec):
    sf = client(rec)
    sf.authenticate()
    [req] = rec.requests
    assert (req.method, req.path) == ("POST", "/services/oauth2/token")
    assert req.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert req.form() == {"grant_type": "client_credentials"}
    assert req.headers["authorization"] == "Basic " + base64.b64encode(b"client-id:client-secret").decode()
    # Read: access_token (sent as Bearer) and instance_url (the API host from now on).
    assert sf.instance_url == rec.url


@pytest.mark.parametrize("login_url", [None, "", "https://login.salesforce.com", "https://test.salesforce.com/"])
def test_client_credentials_refuse_a_host_that_cannot_work_before_any_request(login_url):
    # Corrections 4: login/test.salesforce.com refuse client credentials; no default can work.
    with pytest.raises(ValueError, match="SALESFORCE_LOGIN_URL"):  # SalesforceConfigError, nothing sent
        SalesforceClient(login_url, "client-id", "client-secret")


def test_unset_login_url_is_a_config_error_naming_the_setting():
    config = load_crm_config(env={"CRM_TARGET": "salesforce", "SALESFORCE_CLIENT_ID": "id",
                                  "SALESFORCE_CLIENT_SECRET": "secret"})
    with pytest.raises(ValueError, match="SALESFORCE_LOGIN_URL.*My Domain"):
        build_crm_client(config)


def test_jwt_bearer_token_request_defaults_to_the_generic_login_host(rec):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    assert SalesforceClient(None, "cid", auth_flow="jwt_bearer").login_url == "https://login.salesforce.com"
    sf = SalesforceClient(rec.url, "cid", auth_flow="jwt_bearer", username="u@x.com", private_key=pem)
    sf.authenticate()
    form = rec.requests[0].form()
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer" and set(form) == {
        "grant_type", "assertion"}
    import jwt

    claims = jwt.decode(form["assertion"], options={"verify_signature": False})
    assert claims["iss"] == "cid" and claims["sub"] == "u@x.com" and claims["exp"] > 0 and "aud" in claims


# -- 8.2: Bulk API 2.0 ingest ---------------------------------------------------------------


def test_ingest_job_create_upload_close_poll(rec):
    rec.on("POST", f"{V}/jobs/ingest", Reply(200, JOB_INFO))
    rec.on("PUT", f"{V}/jobs/ingest/{JOB}/batches", Reply(201))
    rec.on("PATCH", f"{V}/jobs/ingest/{JOB}", Reply(200, {**JOB_INFO, "state": "UploadComplete"}))
    rec.on("GET", f"{V}/jobs/ingest/{JOB}", Reply(200, {**JOB_INFO, "state": "InProgress", "jobType": "V2Ingest"}),
           Reply(200, {**JOB_INFO, "state": "JobComplete", "numberRecordsProcessed": 2, "numberRecordsFailed": 1}))
    sf = client(rec)
    info = sf.create_job("Lead", "upsert", "LinkedIn_URL__c")
    sf.upload(info["id"], "LastName,Company,LinkedIn_URL__c\nDoe,Acme,https://www.linkedin.com/in/jd\n")
    sf.close(info["id"])
    done = sf.wait([info["id"]], poll_interval=0.0)
    create, upload, close = rec.requests[1:4]
    assert (create.method, create.path) == ("POST", f"{V}/jobs/ingest")
    assert create.headers["authorization"] == "Bearer 00Dxx!token"
    assert create.json() == {"object": "Lead", "operation": "upsert", "externalIdFieldName": "LinkedIn_URL__c",
                             "contentType": "CSV", "columnDelimiter": "COMMA", "lineEnding": "LF"}
    assert (upload.method, upload.headers["content-type"]) == ("PUT", "text/csv")
    assert upload.body.decode().splitlines()[0] == "LastName,Company,LinkedIn_URL__c"
    assert (close.method, close.json()) == ("PATCH", {"state": "UploadComplete"})
    assert done[JOB]["state"] == "JobComplete"  # polled until a terminal state


def test_result_sets_are_asked_for_as_csv(rec):
    # Corrections 5: successfulResults/, failedResults/, unprocessedrecords/ are CSV (Accept: text/csv).
    base = f"{V}/jobs/ingest/{JOB}"
    rec.on("GET", f"{base}/successfulResults/", Reply(200, '"sf__Id","sf__Created","LinkedIn_URL__c"\n'
                                                           '"00Q1","true","https://www.linkedin.com/in/a"\n',
                                                      content_type="text/csv"))
    rec.on("GET", f"{base}/failedResults/", Reply(200, '"sf__Id","sf__Error","LinkedIn_URL__c"\n'
                                                       '"","REQUIRED_FIELD_MISSING:Required fields are missing: '
                                                       '[LastName]:LastName --","https://www.linkedin.com/in/b"\n',
                                                  content_type="text/csv"))
    rec.on("GET", f"{base}/unprocessedrecords/", Reply(200, '"LinkedIn_URL__c"\n"https://www.linkedin.com/in/c"\n',
                                                       content_type="text/csv"))
    results = client(rec).results(JOB, {"state": "JobComplete"})
    downloads = [r for r in rec.requests if r.method == "GET"]
    assert [r.path.rsplit("/", 2)[-2] for r in downloads] == ["successfulResults", "failedResults",
                                                              "unprocessedrecords"]
    assert all(r.headers["accept"] == "text/csv" for r in downloads)
    # Read: sf__Id, sf__Created (true/false), sf__Error, the original columns.
    assert results.successful == [{"sf__Id": "00Q1", "sf__Created": "true",
                                   "LinkedIn_URL__c": "https://www.linkedin.com/in/a"}]
    assert results.failed[0]["sf__Error"].startswith("REQUIRED_FIELD_MISSING")
    assert results.unprocessed == [{"LinkedIn_URL__c": "https://www.linkedin.com/in/c"}]


def test_expired_session_refreshes_the_token_once(rec):
    # 8.4: 401 INVALID_SESSION_ID (an array body) -> one new token, then a refusal stops the sync.
    expired = Reply(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    rec.on("GET", f"{V}/jobs/ingest/{JOB}", expired, Reply(200, {**JOB_INFO, "state": "JobComplete"}))
    sf = client(rec)
    assert sf.job_info(JOB)["state"] == "JobComplete" and sf.token_refreshes == 1
    with Recorder() as always:
        always.on("POST", "/services/oauth2/token", Reply(200, {**TOKEN, "instance_url": always.url}))
        always.on("GET", f"{V}/jobs/ingest/{JOB}", expired)
        with pytest.raises(CrmAuthError, match="INVALID_SESSION_ID"):
            SalesforceClient(always.url, "client-id", "client-secret", sleep=lambda s: None).job_info(JOB)
