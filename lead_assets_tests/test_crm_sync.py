"""CRM sync end to end over real HTTP: the store (PostgreSQL and SQLite) against the sandbox CRMs.

The sandbox keeps the CRM in memory, so each test reads back exactly what HubSpot or Salesforce
would hold: no duplicate contact after re-runs, every failing record accounted for, a lead that
gains an email updating its own contact, nothing sent when the mapping is wrong.
"""

from __future__ import annotations

import csv
import dataclasses
import io

import numpy as np
import pandas as pd
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lead_assets.clients.salesforce import CrmAuthError, SalesforceClient
from lead_assets.core.crm_config import load_crm_config
from lead_assets.crm import build_crm_client, crm_setup, crm_status, sync_to_crm
from lead_assets.sandbox import SandboxConfig, start_sandbox
from lead_assets.store.crm_sync_state import read_states

HUBSPOT_ENV = {"CRM_TARGET": "hubspot", "HUBSPOT_ACCESS_TOKEN": "sandbox-hubspot-token"}
SALESFORCE_ENV = {
    "CRM_TARGET": "salesforce",
    "SALESFORCE_CLIENT_ID": "sandbox-salesforce-client",
    "SALESFORCE_CLIENT_SECRET": "sandbox-salesforce-secret",
}


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(SandboxConfig(population=200)) as sb:
        yield sb


@pytest.fixture(autouse=True)
def reset(sandbox):
    sandbox.reset(config=True)


def hubspot_app(sandbox):
    return sandbox.router.apps["hubspot"]


def salesforce_app(sandbox):
    return sandbox.router.apps["salesforce"]


def make_leads(n: int, *, start: int = 0, email_share: float = 0.6, seed: int = 3) -> pd.DataFrame:
    """`n` qualified leads with every field the mappings read; some without email."""
    rng = np.random.default_rng(seed)
    idx = np.arange(start, start + n)
    email = np.array([f"p{i}@acme{i % 40}.com" for i in idx], dtype=object)
    email[rng.random(n) >= email_share] = None
    df = pd.DataFrame(
        {
            "lead_id": [f"ld_{i:06d}" for i in idx],
            "full_name": [f"Pat Person{i}" for i in idx],
            "first_name": "Pat",
            "last_name": [f"Person{i}" for i in idx],
            "linkedin_url": [f"https://www.linkedin.com/in/pat-person-{i}" for i in idx],
            "job_title": "PPC Manager",
            "company_name": [f"Acme {i % 40}" for i in idx],
            "location_city": "Austin",
            "location_state": "TX",
            "location_country": "US",
            "email": email,
            "phone": "+15125550100",
            "company_website": [f"acme{i % 40}.com" for i in idx],
            "company_industry": "Marketing & Advertising",
            "company_size": 120,
            "data_source": "apollo",
            "data_quality_score": 82,
            "is_qualified": True,
            "target_role": "PPC Manager",
        }
    )
    df["company_size"] = df["company_size"].astype("Int64")
    df["data_quality_score"] = df["data_quality_score"].astype("Int64")
    return df


def hubspot(sandbox, **overrides):
    cfg = load_crm_config(env={**HUBSPOT_ENV, "HUBSPOT_BASE_URL": sandbox.url("hubspot")})
    if overrides:
        cfg = cfg.with_settings("hubspot", **overrides)
    return cfg


def salesforce(sandbox, **overrides):
    cfg = load_crm_config(env={**SALESFORCE_ENV, "SALESFORCE_LOGIN_URL": sandbox.url("salesforce")})
    cfg = cfg.with_settings("salesforce", **{"poll_interval": 0.02, "poll_max_interval": 0.1, **overrides})
    return cfg


def run(store, cfg, client=None, **kwargs):
    client = client or build_crm_client(cfg, sleep=None)
    report = sync_to_crm(store, cfg.target, client, cfg, run_id="test", **kwargs)
    assert report.accounted == report.considered, report  # no lead without a bucket
    return report


def setup_hubspot(sandbox, store, n, **overrides):
    cfg = hubspot(sandbox, **overrides)
    crm_setup("hubspot", build_crm_client(cfg), cfg)
    if n:
        store.upsert_leads(make_leads(n))
    return cfg


def contacts(sandbox) -> list[dict]:
    return requests.get(f"{sandbox.base_url}/hubspot/__sandbox/contacts", timeout=10).json()["results"]


def states(store, crm):
    return read_states(store, crm).set_index("lead_id")


# -- HubSpot --------------------------------------------------------------------------------


def test_hubspot_five_percent_failing_none_lost_no_duplicates_after_two_reruns(sandbox, store):
    cfg = setup_hubspot(sandbox, store, 400)
    hubspot_app(sandbox).configure({"crm_fail_rate": 0.05})
    first = run(store, cfg)
    assert first.status == "ok" and first.considered == 400
    assert first.rejected_permanent > 0 and first.rejected_fixable > 0
    assert first.created + first.rejected == 400
    second = run(store, cfg)  # fixable rejections are retried; permanent ones are held
    assert second.created == first.rejected_fixable and second.held == first.rejected_permanent
    third = run(store, cfg)
    assert third.sent == 0 and third.unchanged == first.created + second.created
    held = contacts(sandbox)
    li = "lead_sprint_linkedin_url"
    assert len(held) == len({c["properties"][li] for c in held}) == third.unchanged  # zero duplicates
    st = states(store, "hubspot")
    assert len(st) == 400 and st["state"].isin(["created", "rejected"]).all()
    rejected = st[st["state"] == "rejected"]
    assert rejected["permanent"].all() and rejected["reason"].str.contains("VALIDATION_ERROR").all()
    synced = store.read_sql(
        "SELECT lead_id FROM leads WHERE crm_synced = :t AND crm_sync_date IS NOT NULL", {"t": True}
    )
    assert set(synced["lead_id"]) == set(st.index[st["state"] == "created"])  # set only on confirmed success
    by_lead = {c["properties"]["lead_sprint_lead_id"]: c["id"] for c in held}
    assert st.loc[list(by_lead), "crm_id"].to_dict() == by_lead


def test_hubspot_lead_gaining_an_email_updates_its_contact(sandbox, store):
    cfg = setup_hubspot(sandbox, store, 0)
    lead = make_leads(1, email_share=0.0)
    store.upsert_leads(lead)
    assert run(store, cfg).created == 1
    contact_id = states(store, "hubspot").at["ld_000000", "crm_id"]
    store.upsert_leads(lead.assign(email="pat@newco.com"))
    second = run(store, cfg)
    assert second.updated == 1 and second.created == 0
    held = contacts(sandbox)
    assert (
        len(held) == 1 and held[0]["id"] == contact_id and held[0]["properties"]["email"] == "pat@newco.com"
    )


def test_hubspot_existing_contact_with_the_email_is_updated_not_duplicated(sandbox, store):
    cfg = setup_hubspot(sandbox, store, 0)
    made = requests.post(
        f"{sandbox.url('hubspot')}/crm/v3/objects/contacts",
        timeout=5,
        headers={"Authorization": "Bearer sandbox-hubspot-token"},
        json={"properties": {"email": "p0@acme0.com", "firstname": "From a form"}},
    )
    assert made.status_code == 201
    store.upsert_leads(make_leads(1, email_share=1.0))
    report = run(store, cfg)
    assert report.updated == 1 and len(contacts(sandbox)) == 1
    assert states(store, "hubspot").at["ld_000000", "crm_id"] == made.json()["id"]


def test_hubspot_mapping_error_stops_before_anything_is_sent(sandbox, store):
    cfg = setup_hubspot(sandbox, store, 20)
    requests.delete(
        f"{sandbox.url('hubspot')}/crm/v3/properties/contacts/lead_sprint_target_role",
        headers={"Authorization": "Bearer sandbox-hubspot-token"},
        timeout=5,
    )
    rules = tuple(
        dataclasses.replace(r, target="numemployees") if r.lead_field == "company_size" else r
        for r in cfg.hubspot.fields
    )
    bad = cfg.with_settings("hubspot", fields=rules)
    report = run(store, bad)
    assert report.status == "mapping_invalid" and report.sent == 0
    assert "lead_sprint_target_role (target_role): property does not exist" in report.message
    assert "numemployees (company_size): mistyped" in report.message
    assert "objects/contacts/batch/upsert" not in sandbox.stats()["vendors"]["hubspot"]["requests"]
    assert contacts(sandbox) == [] and len(read_states(store, "hubspot")) == 0
    with pytest.raises(RuntimeError, match="mapping_invalid"):
        report.raise_for_status()


def test_hubspot_setup_creates_the_unique_property_and_shows_the_mapping(sandbox, store):
    cfg = hubspot(sandbox, linkedin_id_property="li_canonical")
    setup = crm_setup("hubspot", build_crm_client(cfg), cfg)
    assert "li_canonical" in setup.created and setup.mapping.ok
    assert "li_canonical" in setup.format() and "string (unique id)" in setup.format()
    again = crm_setup("hubspot", build_crm_client(cfg), cfg)
    assert again.created == [] and "li_canonical" in again.existing


def test_hubspot_whole_batch_rejection_is_split_to_isolate_the_bad_record(sandbox, store):
    cfg = setup_hubspot(sandbox, store, 0)
    leads = make_leads(64, email_share=1.0)
    leads.loc[37, "email"] = "not-an-email"
    store.upsert_leads(leads)
    hubspot_app(sandbox).configure({"crm_fail_mode": "batch"})
    report = run(store, cfg)
    assert report.created == 63 and report.rejected_permanent == 1 and report.batch_splits >= 6
    st = states(store, "hubspot")
    assert "INVALID_EMAIL" in st.at["ld_000037", "reason"] and bool(st.at["ld_000037", "permanent"])
    assert len(contacts(sandbox)) == 63
    assert run(store, cfg).held == 1  # reported once; not resent until the lead changes


def test_hubspot_values_too_long_are_truncated_by_rule_or_rejected_with_the_reason(sandbox, store):
    cfg = setup_hubspot(sandbox, store, 0)
    leads = make_leads(3, email_share=1.0)
    leads.loc[0, "company_name"] = "C" * 300  # rule: truncate at 255
    leads.loc[1, "email"] = "x" * 250 + "@acme.com"  # rule: reject
    leads.loc[2, "company_website"] = (
        "https://acme.com/" + "p" * 280
    )  # within the rule, too long for this portal
    store.upsert_leads(leads)
    hubspot_app(sandbox).configure({"max_value_length": 260})
    report = run(store, cfg)
    assert report.truncated == 1 and report.created == 1 and report.rejected_permanent == 2
    st = states(store, "hubspot")
    assert (
        "email: value too long for the CRM field (259 > 254 characters, rule: reject)"
        in st.at["ld_000001", "reason"]
    )
    assert "INVALID_LENGTH" in st.at["ld_000002", "reason"]
    assert contacts(sandbox)[0]["properties"]["company"] == "C" * 255


def test_hubspot_rate_window_is_honoured_and_the_daily_limit_stops_cleanly(sandbox, store, monkeypatch):
    from datetime import datetime, timedelta

    import lead_assets.crm.runner as crm_sync

    cfg = setup_hubspot(sandbox, store, 250, batch_size=25)
    sandbox.update_config(
        {"windows": {"ten_secondly": 0.5}, "limits": {"hubspot": {"api": {"ten_secondly": 4, "day": 100}}}}
    )
    # The client starts believing 100 per 10 s; the headers teach it 4 per 0.5 s.
    first = run(store, cfg, lead_ids=[f"ld_{i:06d}" for i in range(150)])
    assert first.created == 150 and sandbox.stats()["vendors"]["hubspot"]["responses_429"] <= 1
    # Setup took 8 calls and the first run 7: leave room for the property list and one batch.
    sandbox.update_config({"limits": {"hubspot": {"api": {"day": 17}}}})
    second = run(store, cfg)  # the daily headers say 0 left: the rest waits for the account's next day
    assert second.status == "deferred" and "DAILY API limit is spent" in second.message and second.resume_at
    assert second.created == 25 and second.skipped["deferred"] == 75 and second.unchanged == 150
    sandbox.update_config({"limits": {"hubspot": {"api": {"day": 1000}}}})
    next_day = datetime.fromisoformat(second.resume_at) + timedelta(seconds=1)
    monkeypatch.setattr(crm_sync, "utc_now", lambda: next_day)
    assert run(store, cfg).created == 75


def test_hubspot_run_that_dies_mid_sync_resumes_without_duplicates(sandbox, store):
    cfg = setup_hubspot(sandbox, store, 300)
    client = build_crm_client(cfg)
    real, calls = client.batch_upsert, {"n": 0}

    def dying(inputs):
        calls["n"] += 1
        if calls["n"] == 2:
            real(inputs)  # HubSpot wrote the batch; the process dies before recording it
            raise SystemExit("killed")
        return real(inputs)

    client.batch_upsert = dying
    with pytest.raises(SystemExit):
        sync_to_crm(store, "hubspot", client, cfg)
    assert (read_states(store, "hubspot")["state"] == "pending").sum() == 200
    report = run(store, cfg)
    assert report.created + report.updated == 200 and report.updated == 100
    assert len(contacts(sandbox)) == 300


def test_hubspot_revoked_token_stops_with_a_clear_message(sandbox, store):
    cfg = setup_hubspot(sandbox, store, 10)
    sandbox.update_config({"keys": {"hubspot": {"valid": []}}})
    report = run(store, cfg)
    assert report.status == "stopped" and "HUBSPOT_ACCESS_TOKEN" in report.message


def test_fixable_rejections_are_retried_on_later_runs_then_given_up_once(sandbox, store):
    cfg = setup_hubspot(sandbox, store, 20)
    cfg = dataclasses.replace(cfg, max_attempts_per_record=2)
    hubspot_app(sandbox).configure(
        {"crm_fail_rate": 1.0, "crm_transient_share": 1.0, "crm_transient_failures": 9}
    )
    first, second = run(store, cfg), run(store, cfg)
    assert first.rejected_fixable == second.rejected_fixable == 20
    assert (read_states(store, "hubspot")["attempts"] == 2).all()
    third = run(store, cfg)
    assert third.gave_up == 20 and third.sent == 0
    assert states(store, "hubspot")["reason"].str.startswith("gave up after 2 attempts: LOCKED").all()
    fourth = run(store, cfg)
    assert fourth.held == 20 and fourth.rejected == 0
    assert sandbox.stats()["vendors"]["hubspot"]["requests"]["objects/contacts/batch/upsert"] == {"207": 2}


def test_suppressed_and_unqualified_leads_are_skipped_with_reasons(sandbox, store):
    cfg = setup_hubspot(sandbox, store, 0)
    store.upsert_leads(make_leads(10).assign(is_qualified=[True] * 7 + [False] * 3))
    report = run(store, cfg, suppressed=["ld_000000"], max_records=4)
    assert report.skipped == {"suppressed": 1, "unqualified": 3, "over budget": 2} and report.created == 4
    st = states(store, "hubspot")
    assert st.at["ld_000009", "reason"] == "unqualified" and st.at["ld_000000", "reason"] == "suppressed"
    assert run(store, cfg, suppressed=["ld_000000"]).created == 2


def test_crm_target_unset_means_no_sync_and_the_status_says_so(store):
    cfg = load_crm_config(env={})
    report = sync_to_crm(store, cfg.target, None, cfg)
    assert report.status == "disabled" and report.ok and "CRM_TARGET is unset" in report.message
    assert crm_status(store, cfg)["message"] == "CRM_TARGET is unset: no CRM sync"


# -- Salesforce ----------------------------------------------------------------------------


def test_salesforce_five_percent_failing_none_lost_no_duplicates(sandbox, store):
    cfg = salesforce(sandbox, job_size=150)
    store.upsert_leads(make_leads(400))
    salesforce_app(sandbox).configure({"crm_fail_rate": 0.05})
    first = run(store, cfg)
    assert first.status == "ok" and first.jobs == 3
    assert (
        first.created + first.rejected == 400 and first.rejected_fixable > 0 and first.rejected_permanent > 0
    )
    second = run(store, cfg)
    assert second.created == first.rejected_fixable and second.held == first.rejected_permanent
    store.upsert_leads(make_leads(5).assign(job_title="Head of PPC"))  # changed content is sent again
    third = run(store, cfg)
    leads = salesforce_app(sandbox).leads_snapshot()
    assert len(leads) == len({x["LinkedIn_URL__c"] for x in leads}) == first.created + second.created
    assert third.updated + third.held == 5 or third.updated + third.rejected == 5
    st = states(store, "salesforce")
    assert st["crm_id"].str.startswith("00Q").sum() == len(leads)
    assert (
        st.loc[st["state"] == "rejected", "reason"].str.startswith("FIELD_CUSTOM_VALIDATION_EXCEPTION").all()
    )


def test_salesforce_expired_token_is_refreshed_once_then_a_clear_stop(sandbox, store):
    cfg = salesforce(sandbox)
    store.upsert_leads(make_leads(20))
    client = build_crm_client(cfg)
    assert run(store, cfg, client).created == 20
    salesforce_app(sandbox).expire_tokens()  # the session times out between runs
    store.upsert_leads(make_leads(20, start=20))
    report = run(store, cfg, client)
    assert report.created == 20 and client.token_refreshes == 1
    salesforce_app(sandbox).configure({"token_ttl_seconds": 0})  # every token is refused
    store.upsert_leads(make_leads(5, start=40))
    stopped = run(store, cfg, client)
    assert stopped.status == "stopped" and client.token_refreshes == 2
    assert "refused a freshly issued token (401 INVALID_SESSION_ID) after one refresh" in stopped.message
    assert stopped.sent == 0 and len(salesforce_app(sandbox).leads_snapshot()) == 40


def test_salesforce_csv_neutralises_formulas_and_quotes(sandbox, store):
    cfg = salesforce(sandbox)
    leads = make_leads(2, email_share=1.0)
    leads.loc[0, ["company_name", "job_title", "first_name", "last_name"]] = [
        '=HYPERLINK("http://evil.example","click")',
        "@SUM(1+1)",
        "+cmd|' /C calc'!A0",
        "-2+3",
    ]
    leads.loc[1, "company_name"] = 'Quotes "and", commas\nand lines'
    store.upsert_leads(leads)
    assert run(store, cfg).created == 2
    body = salesforce_app(sandbox).uploads_snapshot()[-1]["csv"]
    rows = {r["LinkedIn_URL__c"]: r for r in csv.DictReader(io.StringIO(body, newline=""))}
    bad = rows["https://www.linkedin.com/in/pat-person-0"]
    assert bad["Company"] == '\'=HYPERLINK("http://evil.example","click")'
    assert (
        bad["Title"] == "'@SUM(1+1)"
        and bad["FirstName"] == "'+cmd|' /C calc'!A0"
        and bad["LastName"] == "'-2+3"
    )
    assert bad["Phone"] == "+15125550100"  # a plain number stays as it is
    assert rows["https://www.linkedin.com/in/pat-person-1"]["Company"] == 'Quotes "and", commas\nand lines'
    for line in csv.reader(io.StringIO(body, newline="")):
        assert not any(cell.startswith(("=", "+", "@")) and not cell[1:].isdigit() for cell in line)


def test_salesforce_required_fields_are_reported_not_sent(sandbox, store):
    cfg = salesforce(sandbox)
    leads = make_leads(3)
    leads.loc[1, ["last_name", "full_name"]] = [None, None]
    leads.loc[2, "company_name"] = None
    store.upsert_leads(leads)
    report = run(store, cfg)
    assert report.created == 1 and report.rejected_permanent == 2
    st = states(store, "salesforce")
    assert "REQUIRED_FIELD_MISSING: LastName" in st.at["ld_000001", "reason"]
    assert "REQUIRED_FIELD_MISSING: Company" in st.at["ld_000002", "reason"]
    sent = salesforce_app(sandbox).uploads_snapshot()[-1]["csv"]
    assert "pat-person-1" not in sent and "pat-person-2" not in sent


def test_salesforce_failed_job_is_split_to_isolate_the_bad_record(sandbox, store):
    cfg = salesforce(sandbox)
    leads = make_leads(16, email_share=1.0)
    leads.loc[13, "email"] = "bad-address"
    store.upsert_leads(leads)
    salesforce_app(sandbox).configure({"crm_fail_mode": "batch"})
    report = run(store, cfg)
    assert report.created == 15 and report.rejected == 1 and report.batch_splits == 4
    reason = states(store, "salesforce").at["ld_000013", "reason"]
    assert "INVALID_EMAIL_ADDRESS" in reason
    assert len(salesforce_app(sandbox).leads_snapshot()) == 15


def test_salesforce_mapping_is_validated_against_describe(sandbox, store):
    cfg = salesforce(sandbox)
    store.upsert_leads(make_leads(5))
    salesforce_app(sandbox).configure({"lead_fields_drop": ["Title", "LinkedIn_URL__c"]})
    report = run(store, cfg)
    assert report.status == "mapping_invalid" and report.jobs == 0
    assert "Title (job_title): field does not exist on Lead" in report.message
    assert "LinkedIn_URL__c (linkedin_url): External ID field does not exist" in report.message
    assert salesforce_app(sandbox).stats()["jobs_total"] == 0


def test_salesforce_jwt_bearer_flow(sandbox):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    login = sandbox.url("salesforce")
    user = "integration@lead-sprint.example"
    client = SalesforceClient(
        login, "sandbox-salesforce-client", auth_flow="jwt_bearer", username=user, private_key=pem
    )
    assert any(f["name"] == "LastName" for f in client.describe("Lead")["fields"])
    stranger = SalesforceClient(
        login,
        "sandbox-salesforce-client",
        auth_flow="jwt_bearer",
        username="nobody@example.com",
        private_key=pem,
    )
    with pytest.raises(CrmAuthError, match="token request was refused"):
        stranger.describe("Lead")


# -- vendor-apis.md Corrections 6-7: HubSpot's 429 policies and scopes --------------------------


def test_hubspot_daily_429_defers_the_rest_to_the_account_next_day_without_charging_attempts(
        sandbox, store, monkeypatch):
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    import lead_assets.crm.runner as crm_sync

    cfg = setup_hubspot(sandbox, store, 100, batch_size=25, account_time_zone="America/New_York")
    app = hubspot_app(sandbox)
    app.configure({"daily_headers": False})  # an OAuth app: nothing warns before the 429
    used = sum(app.daily_used.values())
    sandbox.update_config({"limits": {"hubspot": {"api": {"day": used + 3}}}})  # the property list + 2 batches
    report = run(store, cfg)
    assert report.status == "deferred" and not report.ok and not report.retryable  # Dagster: no retries
    assert "DAILY" in report.message and "America/New_York" in report.message
    local_now = datetime.now(ZoneInfo("America/New_York"))
    midnight = datetime.combine(local_now.date() + timedelta(days=1), datetime.min.time(),
                                tzinfo=ZoneInfo("America/New_York"))
    assert report.resume_at == midnight.astimezone(UTC).isoformat(timespec="seconds")
    assert report.created == 50 and report.skipped == {"deferred": 50} and report.rejected == 0
    assert app.stats()["rate_limited"] == {"DAILY": 1}  # one refusal, no retries against a spent day
    st = states(store, "hubspot")
    deferred = st[st["state"] == "skipped"]
    assert len(deferred) == 50 and (deferred["attempts"] == 0).all()
    assert deferred["reason"].str.startswith("deferred: hubspot DAILY API limit spent").all()
    sandbox.update_config({"limits": {"hubspot": {"api": {"day": 10_000}}}})
    calls = sandbox.stats()["vendors"]["hubspot"]["requests_total"]
    again = run(store, cfg)  # the same day: nothing is asked of HubSpot
    assert again.status == "deferred" and again.resume_at == report.resume_at and again.sent == 0
    assert sandbox.stats()["vendors"]["hubspot"]["requests_total"] == calls
    monkeypatch.setattr(crm_sync, "utc_now", lambda: midnight.astimezone(UTC) + timedelta(minutes=1))
    after = run(store, cfg)  # the account's next day
    assert after.status == "ok" and after.created == 50 and after.unchanged == 50
    assert (states(store, "hubspot")["attempts"] == 1).all()  # every lead sent once, none charged twice


def test_hubspot_rolling_429_waits_and_the_sync_goes_on(sandbox, store):
    cfg = setup_hubspot(sandbox, store, 60, batch_size=20)
    sandbox.update_config({"faults": {"hubspot": {"fail_next": 1, "fail_next_kind": "429"}}})
    report = run(store, cfg)
    assert report.status == "ok" and report.created == 60 and report.rejected == 0


def test_hubspot_token_without_the_schema_read_scope_is_named(sandbox, store):
    from lead_assets.clients.hubspot import MissingScopes

    cfg = setup_hubspot(sandbox, store, 10)
    narrow = hubspot(sandbox, access_token="sandbox-hubspot-write-only-token")
    report = run(store, narrow)
    assert report.status == "stopped" and report.sent == 0 and not report.retryable
    assert "MISSING_SCOPES" in report.message and "crm.schemas.contacts.read" in report.message
    assert "HUBSPOT_ACCESS_TOKEN" in report.message
    with pytest.raises(MissingScopes, match="crm.schemas.contacts.read"):
        crm_setup("hubspot", build_crm_client(narrow), narrow)
    assert run(store, cfg).created == 10
