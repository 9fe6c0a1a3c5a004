"""Unit tests of the pure CRM pieces: mapping rules, formula neutralisation, CSV, hashes, selection,
mapping validation, configuration and HubSpot's rolling-window limiter."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lead_assets.clients.hubspot import RollingWindowLimiter
from lead_assets.core.crm_config import FieldRule, load_crm_config
from lead_assets.core.crm_mapping import (
    GAVE_UP,
    HELD,
    SEND,
    UNCHANGED,
    content_hashes,
    map_leads,
    neutralise_formulas,
    select_for_sync,
)
from lead_assets.crm.hubspot import validate_hubspot_mapping
from lead_assets.crm.hubspot_run import hubspot_inputs, hubspot_keys
from lead_assets.crm.salesforce import validate_salesforce_mapping
from lead_assets.crm.salesforce_run import csv_payload, salesforce_error_code

RULES = (
    FieldRule("first_name", "FirstName", max_length=10, on_too_long="truncate"),
    FieldRule(
        "last_name", "LastName", max_length=80, on_too_long="truncate", fallback="full_name", required=True
    ),
    FieldRule("company_name", "Company", max_length=255, on_too_long="truncate", required=True),
    FieldRule("email", "Email", max_length=20, on_too_long="reject"),
    FieldRule("company_size", "NumberOfEmployees", type="number"),
)


def lead(lead_id="ld_1", **values):
    base = {
        "lead_id": lead_id,
        "full_name": "Ada Lovelace",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "company_name": "Analytical Engines",
        "email": "ada@ae.com",
        "company_size": 120,
        "linkedin_url": f"https://www.linkedin.com/in/{lead_id}",
    }
    base.update(values)
    return base


def frame(*rows):
    df = pd.DataFrame(list(rows))
    df["company_size"] = df["company_size"].astype("Int64")
    return df


# -- neutralisation and CSV ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTab", "'\tTab"),
        ("#N/A", "'#N/A"),
        ("+15125550100", "+15125550100"),  # an E.164 phone evaluates to itself: left alone
        ("-42", "-42"),
        ("Ada", "Ada"),
        ("a=b", "a=b"),
    ],
)
def test_neutralise_formulas(value, expected):
    assert neutralise_formulas(pd.Series([value], dtype=object)).iloc[0] == expected


def test_neutralise_keeps_missing_values():
    out = neutralise_formulas(pd.Series([None, "=1"], dtype=object))
    assert out.iloc[0] is None and out.iloc[1] == "'=1"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=30), min_size=1, max_size=5))
def test_neutralised_values_never_start_a_formula_and_lose_nothing(values):
    out = neutralise_formulas(pd.Series(values, dtype=object))
    for before, after in zip(values, out, strict=True):
        risky = before.startswith(("=", "+", "-", "@", "\t", "\r"))
        if after != before:
            assert after == "'" + before
        elif risky:
            float(before)  # only plain numbers are let through


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=20), st.none() | st.text(max_size=20)), min_size=1, max_size=8))
def test_csv_payload_round_trips_any_text(rows):
    clean = [tuple(None if v is None else v.replace("\r", "") for v in row) for row in rows]
    values = pd.DataFrame(clean, columns=["A", "B"], dtype=object)
    text = csv_payload(values, ["A", "B"])
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed[0] == ["A", "B"]
    assert parsed[1:] == [["" if v is None else v for v in row] for row in clean]


def test_csv_payload_quotes_delimiters_quotes_and_newlines():
    values = pd.DataFrame([{"A": 'O"Neil, Jr', "B": "two\nlines"}], dtype=object)
    assert csv_payload(values, ["A", "B"]) == 'A,B\n"O""Neil, Jr","two\nlines"\n'


# -- mapping rules ------------------------------------------------------------------------


def test_map_leads_applies_rules_column_by_column():
    df = frame(
        lead("ld_1", first_name="Alexandrina-Victoria", email="a-very-long-address@example.com"),
        lead("ld_2", last_name=None, company_size=pd.NA),
        lead("ld_3", last_name=None, full_name=None, company_name="  \x00 "),
        lead("ld_4", linkedin_url=None, first_name="=cmd\x07"),
    )
    m = map_leads(df, RULES, "LinkedIn_URL__c")
    v = m.values
    assert v.at["ld_1", "FirstName"] == "Alexandrin" and m.truncated["ld_1"] == "FirstName"
    assert (
        "Email: value too long for the CRM field (31 > 20 characters, rule: reject)"
        in m.reject_reason["ld_1"]
    )
    assert v.at["ld_2", "LastName"] == "Ada Lovelace"  # fallback to the full name
    assert v.at["ld_2", "NumberOfEmployees"] is None and v.at["ld_3", "NumberOfEmployees"] == "120"
    reason = m.reject_reason["ld_3"]
    assert "REQUIRED_FIELD_MISSING: LastName" in reason and "REQUIRED_FIELD_MISSING: Company" in reason
    assert v.at["ld_4", "FirstName"] == "'=cmd"  # control character removed, formula neutralised
    assert "no canonical LinkedIn URL" in m.reject_reason["ld_4"]
    assert list(m.sendable()) == ["ld_2"]


def test_describe_lengths_cap_the_rules():
    m = map_leads(frame(lead(company_name="x" * 50)), RULES, "Ext__c", max_lengths={"Company": 40})
    assert m.values.at["ld_1", "Company"] == "x" * 40 and m.truncated["ld_1"] == "Company"


def test_content_hash_tracks_exactly_what_is_sent():
    a = map_leads(frame(lead(), lead("ld_2")), RULES, "Ext__c").content_hash
    b = map_leads(frame(lead(), lead("ld_2", company_name="Other")), RULES, "Ext__c").content_hash
    c = map_leads(frame(lead(phone="+1555")), RULES, "Ext__c").content_hash  # phone is not mapped
    assert a["ld_1"] == b["ld_1"] == c["ld_1"] and a["ld_2"] != b["ld_2"]
    values = pd.DataFrame({"x": ["1"], "y": [None]}, dtype=object)
    assert content_hashes(values)[0] == content_hashes(values[["y", "x"]])[0]


def test_select_for_sync_decides_per_state():
    hashes = pd.Series(["h"] * 8, index=[f"l{i}" for i in range(8)])
    states = pd.DataFrame(
        [
            ("l1", "created", "h", 1, False),
            ("l2", "updated", "old", 1, False),
            ("l3", "rejected", "h", 0, True),
            ("l4", "rejected", "old", 0, True),
            ("l5", "rejected", "h", 1, False),
            ("l6", "rejected", "h", 3, False),
            ("l7", "skipped", None, 0, False),
        ],
        columns=["lead_id", "state", "content_hash", "attempts", "permanent"],
    )
    got = select_for_sync(hashes, states, max_attempts=3)
    assert got["action"].to_dict() == {
        "l0": SEND,
        "l1": UNCHANGED,
        "l2": SEND,
        "l3": HELD,
        "l4": SEND,
        "l5": SEND,
        "l6": GAVE_UP,
        "l7": SEND,
    }
    assert got.at["l5", "attempts"] == 1 and got.at["l4", "attempts"] == 0


def test_hubspot_keys_prefer_email_only_for_new_unique_addresses():
    values = pd.DataFrame(
        {"email": ["a@x.com", None, "c@x.com", "d@x.com"], "li": ["L0", "L1", "L2", "L3"]},
        index=["l0", "l1", "l2", "l3"],
        dtype=object,
    )
    has_contact = pd.Series([False, False, True, False], index=values.index)
    unique = pd.Series([True, True, True, False], index=values.index)
    keys = hubspot_keys(values, "li", has_contact, unique)
    assert keys["idProperty"].tolist() == ["email", "li", "li", "li"]
    assert keys["id"].tolist() == ["a@x.com", "L1", "L2", "L3"]
    inputs = hubspot_inputs(values, keys, ["l1"])
    assert inputs == [
        {"idProperty": "li", "id": "L1", "properties": {"li": "L1"}, "objectWriteTraceId": "l1"}
    ]


# -- mapping validation -------------------------------------------------------------------


def prop(name, type_="string", unique=False, read_only=False):
    return {
        "name": name,
        "type": type_,
        "hasUniqueValue": unique,
        "modificationMetadata": {"readOnlyValue": read_only},
    }


def test_hubspot_validation_names_missing_and_mistyped_properties():
    rules = (
        FieldRule("email", "email"),
        FieldRule("company_size", "numemployees", type="number"),
        FieldRule("job_title", "jobtitle"),
        FieldRule("lead_id", "hs_object_id"),
    )
    props = [
        prop("email"),
        prop("numemployees", "enumeration"),
        prop("hs_object_id", "number", read_only=True),
        prop("li_id"),
    ]
    report = validate_hubspot_mapping(rules, props, "li_id")
    assert not report.ok
    text = "\n".join(report.problems)
    assert "jobtitle (job_title): property does not exist" in text
    assert "numemployees (company_size): mistyped" in text
    assert "hs_object_id (lead_id): property is read-only" in text
    assert "li_id (linkedin_url): id property must have hasUniqueValue=true" in text
    assert "the sync stops before sending anything" in report.format()
    ok = validate_hubspot_mapping(
        (FieldRule("email", "email"),), [prop("email"), prop("li_id", unique=True)], "li_id"
    )
    assert ok.ok and "li_id" in ok.format()


def test_salesforce_validation_checks_fields_external_id_and_required_fields():
    describe = {
        "name": "Lead",
        "fields": [
            {
                "name": "LastName",
                "type": "string",
                "length": 80,
                "createable": True,
                "updateable": True,
                "nillable": False,
            },
            {
                "name": "Company",
                "type": "string",
                "length": 255,
                "createable": True,
                "updateable": True,
                "nillable": False,
            },
            {"name": "NumberOfEmployees", "type": "int", "createable": True, "updateable": True},
            {
                "name": "Ext__c",
                "type": "string",
                "length": 255,
                "createable": True,
                "updateable": True,
                "externalId": False,
            },
        ],
    }
    rules = (
        FieldRule("last_name", "LastName"),
        FieldRule("job_title", "Title"),
        FieldRule("company_size", "NumberOfEmployees", type="number"),
        FieldRule("email", "NumberOfEmployees2"),
    )
    report = validate_salesforce_mapping(rules, describe, "Ext__c")
    text = "\n".join(report.problems)
    assert "Title (job_title): field does not exist on Lead" in text
    assert "Ext__c (linkedin_url): field is not marked External ID" in text
    assert "Company: required on Lead but no lead field maps to it" in text
    assert report.max_lengths["LastName"] == 80


def test_salesforce_error_codes():
    assert salesforce_error_code(
        "REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --"
    ) == ("REQUIRED_FIELD_MISSING")
    assert salesforce_error_code("") == "UNKNOWN"


# -- configuration ------------------------------------------------------------------------


def test_config_reads_yaml_and_environment():
    cfg = load_crm_config(env={})
    assert cfg.target is None and cfg.hubspot.batch_size == 100
    assert cfg.hubspot.linkedin_id_property == "lead_sprint_linkedin_url"
    assert cfg.salesforce.login_url is None  # no default can work for client credentials (My Domain only)
    env = {
        "CRM_TARGET": "Salesforce",
        "SALESFORCE_API_VERSION": "v61.0",
        "HUBSPOT_LINKEDIN_ID_PROPERTY": "li",
        "SALESFORCE_EXTERNAL_ID_FIELD": "LI__c",
    }
    cfg = load_crm_config(env=env)
    assert cfg.target == "salesforce" and cfg.salesforce.api_version == "61.0"
    assert cfg.hubspot.linkedin_id_property == "li" and cfg.salesforce.external_id_field == "LI__c"
    assert {r.target for r in cfg.rules("salesforce")} >= {"LastName", "Company"}
    with pytest.raises(ValueError, match="CRM_TARGET"):
        load_crm_config(env={"CRM_TARGET": "pipedrive"})


# -- HubSpot's rolling window ------------------------------------------------------------


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_rolling_window_waits_for_the_oldest_call_and_reads_headers():
    clock = FakeClock()
    lim = RollingWindowLimiter(3, 10.0, margin=0.5, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        assert lim.acquire("api") == 0
        clock.now += 1
    assert lim.acquire("api") == pytest.approx(7.5)  # the first call (t=1000) frees its slot at 1010.5
    # HubSpot says the allowance is 5 per 2 s, and that 4 are used (someone else shares the app).
    lim.observe_headers(
        {
            "X-HubSpot-RateLimit-Max": "5",
            "X-HubSpot-RateLimit-Interval-Milliseconds": "2000",
            "X-HubSpot-RateLimit-Remaining": "0",
            "X-HubSpot-RateLimit-Daily": "10",
            "X-HubSpot-RateLimit-Daily-Remaining": "0",
        }
    )
    assert (lim.limit, lim.seconds) == (5, 2.0)
    assert lim.daily_exhausted()
    with pytest.raises(TimeoutError):
        lim.acquire("api", max_wait=60)
