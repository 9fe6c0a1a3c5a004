"""ZoomInfo's contract as documented, pinned on the wire: every request our clients send, every answer they read.

Written from shared/vendor-apis.md (section 2 and Corrections 1-2), not from the sandbox: a tiny
recording HTTP server on 127.0.0.1 answers with the documented shapes and keeps each request
(method, path, query, headers, body) for the assertions. Legacy Enterprise API (2.1-2.3) and GTM
API (2.4) both.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from lead_assets.clients.zoominfo import (
    DEFAULT_OUTPUT_FIELDS,
    MATCH_STATUSES,
    ZoomInfoClient,
    ZoomInfoGtmClient,
    make_zoominfo_client,
)
from lead_assets.config.settings import sprint_config
from lead_assets.pipeline.search_plan import plan_slices
from lead_assets.sources.zoominfo import zoominfo_query

FORM = "application/x-www-form-urlencoded"
JSON_API = "application/vnd.api+json"


class Recorder:
    """A loopback HTTP server that answers from a queue and records what it was sent."""

    def __init__(self):
        self.requests: list[dict] = []
        self.answers: deque = deque()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                url = urlsplit(self.path)
                recorder.requests.append({
                    "method": self.command, "path": url.path, "query": parse_qs(url.query, keep_blank_values=True),
                    "headers": {k.lower(): v for k, v in self.headers.items()}, "body": raw,
                })
                status, body, headers = recorder.answers.popleft() if recorder.answers else (
                    500, {"error": "recorder queue empty"}, {})
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, status: int, body, **headers) -> None:
        self.answers.append((status, body, dict(headers)))

    def json_body(self, n: int):
        return json.loads(self.requests[n]["body"])

    def form_body(self, n: int) -> dict[str, list[str]]:
        return parse_qs(self.requests[n]["body"].decode())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def vendor():
    rec = Recorder()
    yield rec
    rec.close()


def legacy(vendor, **kw) -> ZoomInfoClient:
    kw.setdefault("sleep", lambda s: None)
    return ZoomInfoClient(vendor.url, "api-user", "s3cret", **kw)


def gtm(vendor, **kw) -> ZoomInfoGtmClient:
    kw.setdefault("sleep", lambda s: None)
    return ZoomInfoGtmClient(vendor.url, "app-id", "app-secret", **kw)


def plan_queries() -> list[dict]:
    cfg = sprint_config()
    return [zoominfo_query(s) for s in plan_slices(tuple((r.role, r.aliases) for r in cfg.target_roles), cfg.locations)]


# -- legacy: 2.1 authenticate ------------------------------------------------------------------


def test_legacy_password_login_is_a_form_post_and_the_jwt_is_the_bearer(vendor):
    vendor.answer(200, {"jwt": "header.eyJleHAiOjQxMDI0NDQ4MDAsImlhdCI6NDEwMjQ0MTIwMH0.sig"})
    vendor.answer(200, {"maxResults": 1, "totalResults": 0, "currentPage": 1, "data": []})
    legacy(vendor).search_contacts({"jobTitle": "PPC Manager"}, 1, rpp=1)
    auth, search = vendor.requests
    assert (auth["method"], auth["path"]) == ("POST", "/authenticate")
    assert auth["headers"]["content-type"] == FORM and auth["headers"]["accept"] == "application/json"
    assert "authorization" not in auth["headers"]
    assert vendor.form_body(0) == {"username": ["api-user"], "password": ["s3cret"]}
    assert search["headers"]["authorization"] == "Bearer header.eyJleHAiOjQxMDI0NDQ4MDAsImlhdCI6NDEwMjQ0MTIwMH0.sig"


def test_legacy_pki_login_sends_a_client_jwt_with_the_documented_claims_and_no_body(vendor):
    jwt = pytest.importorskip("jwt")
    rsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")
    from cryptography.hazmat.primitives import serialization

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    vendor.answer(200, {"jwt": "a.b.c"})
    ZoomInfoClient(vendor.url, "api-user", client_id="cid", private_key=pem, clock=lambda: 1_000_000).authenticate()
    auth = vendor.requests[0]
    assert (auth["method"], auth["path"], auth["body"]) == ("POST", "/authenticate", b"")
    scheme, _, token = auth["headers"]["authorization"].partition(" ")
    claims = jwt.decode(token, key.public_key(), algorithms=["RS256"], audience="enterprise_api",
                        options={"verify_exp": False, "verify_iat": False})
    assert claims == {"aud": "enterprise_api", "iss": "api-client@zoominfo.com", "iat": 1_000_000,
                      "exp": 1_000_300, "client_id": "cid", "username": "api-user"}
    assert scheme == "Bearer"


# -- legacy: 2.2 search ------------------------------------------------------------------------


def test_legacy_search_body_is_filters_plus_rpp_and_page_with_string_filters(vendor):
    queries = plan_queries()
    vendor.answer(200, {"jwt": "a.b.c"})
    for _ in queries:
        vendor.answer(200, {"maxResults": 100, "totalResults": "7", "currentPage": 2,
                            "data": [{"id": 1234567890, "firstName": "Ann", "lastName": "Lee", "jobTitle": "PPC Manager",
                                      "contactAccuracyScore": 90, "hasEmail": True,
                                      "company": {"id": 555, "name": "Acme"}}]})
    client = legacy(vendor)
    pages = [client.search_contacts(q, 2, rpp=100) for q in queries]
    for request, query in zip(vendor.requests[1:], queries, strict=True):
        assert (request["method"], request["path"]) == ("POST", "/search/contact")
        assert request["headers"]["content-type"] == "application/json"
        body = json.loads(request["body"])
        assert body == {**query, "rpp": 100, "page": 2}
        assert isinstance(body["rpp"], int) and isinstance(body["page"], int)
        # Corrections 2: several titles joined with " OR "; metroRegion / state / country are strings.
        for name in ("jobTitle", "metroRegion", "state", "country"):
            assert name not in body or isinstance(body[name], str), (name, body)
        assert "," not in body["jobTitle"] or " OR " in body["jobTitle"]
    assert any(" OR " in q["jobTitle"] for q in queries)
    assert pages[0].total_results == 7 and pages[0].contacts[0]["company"] == {"id": 555, "name": "Acme"}


def test_legacy_search_clamps_rpp_to_100(vendor):
    vendor.answer(200, {"jwt": "a.b.c"})
    vendor.answer(200, {"maxResults": 100, "totalResults": 0, "currentPage": 1, "data": []})
    legacy(vendor).search_contacts({"jobTitle": "PPC Manager"}, 1, rpp=500)
    assert vendor.json_body(1)["rpp"] == 100


# -- legacy: 2.3 enrich ------------------------------------------------------------------------


def legacy_result(pid, status, data=()):
    return {"input": {"personId": pid}, "data": list(data), "matchStatus": status}


def test_legacy_enrich_body_and_every_match_status_read(vendor):
    ids = [str(1_000_000_000 + i) for i in range(len(MATCH_STATUSES))]
    contact = {"firstName": "Ann", "lastName": "Lee", "email": "ann@acme.com", "contactAccuracyScore": "90.0"}
    results = []
    for pid, status in zip(ids, MATCH_STATUSES, strict=True):
        if status in ("FULL_MATCH", "CONTACT_ONLY_MATCH"):
            results.append(legacy_result(int(pid), status, [{"id": int(pid), **contact}]))
        elif status == "COMPANY_ONLY_MATCH":
            results.append(legacy_result(int(pid), status, [{"companyId": 9, "companyName": "Acme"}]))
        else:
            results.append(legacy_result(int(pid), status))
    vendor.answer(200, {"jwt": "a.b.c"})
    vendor.answer(200, {"success": True, "data": {"outputFields": list(DEFAULT_OUTPUT_FIELDS), "result": results}})
    batch = legacy(vendor).enrich_contacts(ids)
    request = vendor.requests[1]
    assert (request["method"], request["path"]) == ("POST", "/enrich/contact")
    body = json.loads(request["body"])
    assert set(body) == {"matchPersonInput", "outputFields"}
    assert body["matchPersonInput"] == [{"personId": int(pid)} for pid in ids]
    assert all(isinstance(f, str) for f in body["outputFields"]) and "id" in body["outputFields"]
    got = {pid: batch.outcomes[pid] for pid in ids}
    by_status = dict(zip(MATCH_STATUSES, ids, strict=True))
    assert {s: got[pid].status for s, pid in by_status.items()} == {s: s for s in MATCH_STATUSES}
    assert [s for s in MATCH_STATUSES if got[by_status[s]].hit] == ["FULL_MATCH", "CONTACT_ONLY_MATCH"]
    assert got[by_status["CONTACT_ONLY_MATCH"]].contact["email"] == "ann@acme.com"
    assert got[by_status["COMPANY_ONLY_MATCH"]].contact == {"companyId": 9, "companyName": "Acme"}
    assert {s for s in MATCH_STATUSES if not got[by_status[s]].settled} == {"SERVICE_ERROR", "LIMIT_EXCEEDED"}
    assert batch.credits == 2.0  # FULL_MATCH + CONTACT_ONLY_MATCH; COMPANY_ONLY_MATCH counted as not billed


def test_legacy_enrich_never_sends_more_than_25(vendor):
    with pytest.raises(ValueError):
        legacy(vendor).enrich_contacts([str(i) for i in range(26)])
    assert vendor.requests == []


# -- legacy: 2.5 errors ------------------------------------------------------------------------


def test_a_401_reauthenticates_once_and_a_429_waits_retry_after(vendor):
    waits = []
    vendor.answer(200, {"jwt": "first.jwt.x"})
    vendor.answer(401, {"error": {"code": "ZI0003", "message": "expired", "status": 401, "requestId": "r",
                                  "retryable": False}})
    vendor.answer(200, {"jwt": "second.jwt.x"})
    vendor.answer(429, {"error": {"code": "ZI0004", "message": "rate", "status": 429, "requestId": "r",
                                  "retryable": True}}, **{"Retry-After": "2"})
    vendor.answer(200, {"maxResults": 1, "totalResults": 0, "currentPage": 1, "data": []})
    legacy(vendor, sleep=waits.append).search_contacts({"jobTitle": "PPC Manager"}, 1)
    paths = [(r["path"], r["headers"].get("authorization")) for r in vendor.requests]
    assert paths == [("/authenticate", None), ("/search/contact", "Bearer first.jwt.x"), ("/authenticate", None),
                     ("/search/contact", "Bearer second.jwt.x"), ("/search/contact", "Bearer second.jwt.x")]
    assert waits == [2.0]


# -- GTM: 2.4 ----------------------------------------------------------------------------------


def test_gtm_token_is_a_client_credentials_form_post_with_basic_auth_and_no_scope(vendor):
    vendor.answer(200, {"access_token": "tok-1", "token_type": "Bearer", "expires_in": 3600})
    vendor.answer(200, {"data": [], "meta": {"page": {"number": 1, "size": 1, "total": 0}, "totalResults": 0}})
    gtm(vendor).search_contacts({"jobTitle": "PPC Manager"}, 1, rpp=1)
    token, search = vendor.requests
    assert (token["method"], token["path"]) == ("POST", "/gtm/oauth/v1/token")
    assert token["headers"]["content-type"] == FORM
    assert token["headers"]["authorization"] == "Basic " + base64.b64encode(b"app-id:app-secret").decode()
    assert vendor.form_body(0) == {"grant_type": ["client_credentials"]}  # no scope: the app's own scopes
    assert search["headers"]["authorization"] == "Bearer tok-1"


def test_gtm_token_url_can_be_set(vendor):
    vendor.answer(200, {"access_token": "t", "expires_in": 60})
    gtm(vendor, token_url=f"{vendor.url}/oauth2/default/v1/token").authenticate()
    assert vendor.requests[0]["path"] == "/oauth2/default/v1/token"


def test_gtm_search_is_a_json_api_envelope_paged_by_query_and_reads_total_results(vendor):
    query = plan_queries()[0]
    vendor.answer(200, {"access_token": "t", "expires_in": 3600})
    vendor.answer(200, {
        "data": [{"type": "Contact", "id": "1667598370",
                  "attributes": {"firstName": "Ann", "lastName": "Lee", "jobTitle": "PPC Manager",
                                 "company": {"id": 9, "name": "Acme"}}}],
        # meta.page.total counts pages, meta.totalResults counts records: they differ on purpose
        "meta": {"page": {"number": 3, "size": 100, "total": 4}, "totalResults": 317},
    }, **{"Content-Type": JSON_API})
    page = gtm(vendor).search_contacts(query, 3, rpp=250)
    request = vendor.requests[1]
    assert (request["method"], request["path"]) == ("POST", "/gtm/data/v1/contacts/search")
    assert request["query"] == {"page[number]": ["3"], "page[size]": ["100"]}  # page[size] <= 100
    assert request["headers"]["content-type"] == JSON_API and request["headers"]["accept"] == JSON_API
    body = json.loads(request["body"])
    assert body == {"data": {"type": "ContactSearch", "attributes": query}}
    assert all(isinstance(v, str) for v in body["data"]["attributes"].values())
    assert page.total_results == 317
    assert page.contacts == [{"id": "1667598370", "firstName": "Ann", "lastName": "Lee", "jobTitle": "PPC Manager",
                              "company": {"id": 9, "name": "Acme"}}]


def test_gtm_enrich_envelope_and_match_status_in_item_meta(vendor):
    ids = ["1667598370", "1667598371", "1667598372", "1667598373"]
    vendor.answer(200, {"access_token": "t", "expires_in": 3600})
    vendor.answer(200, {"data": [
        {"type": "Contact", "id": ids[0], "attributes": {"firstName": "Ann", "contactAccuracyScore": "90.0"},
         "meta": {"matchStatus": "FULL_MATCH", "input": {"personId": int(ids[0])}}},
        {"type": "NoMatch", "meta": {"matchStatus": "NO_MATCH", "input": {"personId": int(ids[1])}}},
        {"type": "NoMatch", "meta": {"matchStatus": "OPT_OUT", "input": {"personId": int(ids[2])}}},
        {"type": "NoMatch", "meta": {"matchStatus": "SERVICE_ERROR", "input": {"personId": int(ids[3])}}},
    ]}, **{"Content-Type": JSON_API})
    batch = gtm(vendor).enrich_contacts(ids)
    request = vendor.requests[1]
    assert (request["method"], request["path"]) == ("POST", "/gtm/data/v1/contacts/enrich")
    assert request["headers"]["content-type"] == JSON_API
    body = json.loads(request["body"])
    assert body["data"]["type"] == "ContactEnrich" and set(body["data"]["attributes"]) == {
        "matchPersonInput", "outputFields"}
    assert body["data"]["attributes"]["matchPersonInput"] == [{"personId": int(i)} for i in ids]
    assert [batch.outcomes[i].status for i in ids] == ["FULL_MATCH", "NO_MATCH", "OPT_OUT", "SERVICE_ERROR"]
    assert batch.outcomes[ids[0]].contact == {"id": ids[0], "firstName": "Ann", "contactAccuracyScore": "90.0"}
    assert batch.credits == 1.0 and not batch.outcomes[ids[3]].settled


def test_the_setting_picks_the_api(vendor):
    assert isinstance(make_zoominfo_client(None, vendor.url, username="u", password="p"), ZoomInfoClient)
    assert isinstance(make_zoominfo_client("gtm", vendor.url, gtm_client_id="i", gtm_client_secret="s"),
                      ZoomInfoGtmClient)
    with pytest.raises(ValueError, match="legacy, gtm"):
        make_zoominfo_client("v2", vendor.url)
