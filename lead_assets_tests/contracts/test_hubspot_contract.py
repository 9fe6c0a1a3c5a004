"""HubSpot CRM v3: what `HubSpotClient` sends and reads, pinned to the published contract.

Written from shared/vendor-apis.md section 7 (7.1 auth, 7.2 contacts batch and search, 7.4 rate
limits and 429 bodies, the `Error` envelope) and Corrections 6 (429 `policyName`; DAILY resets at
midnight in the account's time zone), 7 (`crm.schemas.contacts.read` for the property list) and
8 (GDPR delete by email answers 204 for an unknown address), against a recording server, not the
sandbox.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lead_assets.clients.errors import RateLimitExhausted, VendorAuthError, VendorCallFailed
from lead_assets.clients.hubspot import HubSpotClient
from lead_assets_tests.contracts.recorder import Recorder, Reply

PROPS = "/crm/v3/properties/contacts"
UPSERT = "/crm/v3/objects/contacts/batch/upsert"
SEARCH = "/crm/v3/objects/contacts/search"
GDPR = "/crm/v3/objects/contacts/gdpr-delete"
# 7.4's three 429 bodies.
TEN_SECONDLY = {"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
                "errorType": "RATE_LIMIT", "correlationId": "20f98dfa", "policyName": "TEN_SECONDLY_ROLLING",
                "groupName": "publicapi:private_app-api-calls-ten-secondly:1512050:26892217"}
DAILY = {"status": "error", "message": "You have reached your daily limit.", "errorType": "RATE_LIMIT",
         "correlationId": "c", "policyName": "DAILY", "requestId": "r"}
SECONDLY = {"status": "error", "message": "You have reached your secondly limit.", "errorType": "RATE_LIMIT",
            "policyName": "SECONDLY"}
PROPERTY = {"name": "email", "label": "Email", "type": "string", "fieldType": "text", "hasUniqueValue": False}


@pytest.fixture
def rec():
    with Recorder() as server:
        yield server


class Clock:
    def __init__(self, at: datetime):
        self.now = at.timestamp()
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def client(rec, clock=None, **kw):
    if clock is None:
        return HubSpotClient(rec.url, "pat-na1-token", sleep=lambda s: None, **kw)
    return HubSpotClient(rec.url, "pat-na1-token", sleep=clock.sleep, clock=clock, **kw)


def test_property_list_request_and_shape(rec):
    rec.on("GET", PROPS, Reply(200, {"results": [PROPERTY]}))
    assert client(rec).list_properties() == [PROPERTY]
    [req] = rec.requests
    assert req.method == "GET" and req.headers["authorization"] == "Bearer pat-na1-token"


def test_batch_upsert_request_and_both_answers(rec):
    # 7.2: inputs[{idProperty, id, properties, objectWriteTraceId}] -> 200 results[{id, new, ...}]
    # or 207 with errors[{category, message, context.objectWriteTraceId, errors[{code}]}].
    rec.on("POST", UPSERT, Reply(207, {
        "status": "COMPLETE", "numErrors": 1,
        "results": [{"id": "512", "properties": {"email": "jane@acme.com"}, "new": True,
                     "objectWriteTraceId": "ld_1", "createdAt": "t", "updatedAt": "t", "archived": False}],
        "errors": [{"status": "error", "category": "VALIDATION_ERROR", "message": "Property values were not valid",
                    "context": {"objectWriteTraceId": ["ld_2"]},
                    "errors": [{"message": "bad", "code": "INVALID_EMAIL", "in": "email"}]}],
        "requestedAt": "t", "startedAt": "t", "completedAt": "t", "links": {}}))
    inputs = [{"idProperty": "email", "id": "jane@acme.com", "properties": {"firstname": "Jane"},
               "objectWriteTraceId": "ld_1"},
              {"idProperty": "lead_sprint_linkedin_url", "id": "https://www.linkedin.com/in/x",
               "properties": {"email": "not-an-email"}, "objectWriteTraceId": "ld_2"}]
    outcome = client(rec).batch_upsert(inputs)
    [req] = rec.requests
    assert (req.method, req.headers["content-type"]) == ("POST", "application/json")
    assert req.json() == {"inputs": inputs}
    assert outcome.status == 207 and outcome.results[0]["new"] is True
    [error] = outcome.errors
    assert (error.trace_ids, error.category, error.codes) == (["ld_2"], "VALIDATION_ERROR", ["INVALID_EMAIL"])
    with pytest.raises(ValueError):
        client(rec).batch_upsert([{}] * 101)  # at most 100 inputs per batch call


def test_ten_secondly_429_waits_retry_after_and_goes_on(rec):
    rec.on("GET", PROPS, Reply(429, TEN_SECONDLY, {"Retry-After": "2"}), Reply(200, {"results": [PROPERTY]}))
    clock = Clock(datetime(2026, 12, 4, 12, 0, tzinfo=UTC))
    assert client(rec, clock).list_properties() == [PROPERTY]
    assert len(rec.requests) == 2 and clock.slept == [2.0]


def test_secondly_429_without_retry_after_waits_a_second_and_goes_on(rec):
    rec.on("POST", SEARCH, Reply(429, SECONDLY), Reply(200, {"total": 0, "results": []}))
    clock = Clock(datetime(2026, 12, 4, 12, 0, tzinfo=UTC))
    assert client(rec, clock).search_ids("email", "a@b.co") == []
    assert len(rec.requests) == 2 and sum(clock.slept) >= 1.0


def test_daily_429_stops_at_once_until_midnight_in_the_account_time_zone(rec):
    # Corrections 6: DAILY resets at midnight in the account's time zone, not UTC. 18:30 in New York
    # is 23:30 UTC: the allowance comes back at 05:00 UTC the next day, not in 30 minutes.
    rec.on("POST", UPSERT, Reply(429, DAILY))
    clock = Clock(datetime(2026, 12, 4, 23, 30, tzinfo=UTC))
    hs = client(rec, clock, account_time_zone="America/New_York")
    with pytest.raises(RateLimitExhausted) as caught:  # DailyLimitReached
        hs.batch_upsert([{"idProperty": "email", "id": "a@b.co", "properties": {}}])
    assert caught.value.resume_at == datetime(2026, 12, 5, 5, 0, tzinfo=UTC)
    assert "America/New_York" in str(caught.value) and "DAILY" in str(caught.value)
    assert len(rec.requests) == 1 and clock.slept == []  # no retry, no sleep: waiting cannot help
    with pytest.raises(RateLimitExhausted):  # and nothing more is sent today
        hs.list_properties()
    assert len(rec.requests) == 1


def test_missing_scope_403_names_the_scope(rec):
    # Corrections 7 + the `Error` envelope: category MISSING_SCOPES, the scope in errors[].context.
    rec.on("GET", PROPS, Reply(403, {
        "status": "error", "message": "This app hasn't been granted all required scopes to make this call.",
        "correlationId": "c", "category": "MISSING_SCOPES",
        "errors": [{"message": "One or more of the following scopes are required.",
                    "context": {"requiredGranularScopes": ["crm.schemas.contacts.read"]}}],
        "links": {"scopes": "https://developers.hubspot.com/scopes"}}))
    with pytest.raises(VendorAuthError, match="crm.schemas.contacts.read.*HUBSPOT_ACCESS_TOKEN|HUBSPOT_ACCESS_TOKEN"
                       ".*crm.schemas.contacts.read") as caught:
        client(rec).list_properties()
    assert caught.value.scopes == ["crm.schemas.contacts.read"] and len(rec.requests) == 1


def test_search_request_and_shape(rec):
    # 7.2: filterGroups[{filters[{propertyName, operator, value}]}], properties, limit -> {total, results[{id}]}.
    rec.on("POST", SEARCH, Reply(200, {"total": 1, "results": [{"id": "512", "properties": {"email": "a@b.co"},
                                                                 "createdAt": "t", "updatedAt": "t",
                                                                 "archived": False}]}))
    assert client(rec).search_ids("email", "a@b.co") == ["512"]
    body = rec.requests[0].json()
    assert body["filterGroups"] == [{"filters": [{"propertyName": "email", "operator": "EQ", "value": "a@b.co"}]}]
    assert 1 <= body["limit"] <= 200 and body["properties"] == ["email"]


def test_gdpr_delete_requests(rec):
    # Corrections 8: by contact id, or idProperty=email (the only documented one); 204, no body.
    rec.on("POST", GDPR, Reply(204))
    hs = client(rec)
    hs.gdpr_delete("512")
    hs.gdpr_delete("jane@acme.com", id_property="email")
    assert [r.json() for r in rec.requests] == [{"objectId": "512"},
                                                 {"objectId": "jane@acme.com", "idProperty": "email"}]


def test_unreadable_property_list_is_an_error_not_an_empty_portal(rec):
    rec.on("GET", PROPS, Reply(200, {"unexpected": True}))
    with pytest.raises(VendorCallFailed):
        client(rec).list_properties()
