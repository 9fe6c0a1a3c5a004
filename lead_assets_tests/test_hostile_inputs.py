"""Hostile vendor strings through the whole pipeline: stored verbatim, escaped in every output, never run.

store_batch -> scoring -> HubSpot mapping (JSON inputs + CSV payload) -> final report (HTML +
Markdown) -> Slack text (hourly report and final summary), on both store dialects.
"""

from __future__ import annotations

import csv
import io
import json

import pandas as pd

from lead_assets.config.settings import sprint_config
from lead_assets.core.crm_config import load_crm_config
from lead_assets.core.crm_mapping import map_leads
from lead_assets.core.scoring import score_leads
from lead_assets.core.titles import TitleMatcher
from lead_assets.core.vendor_records import apollo_person_record
from lead_assets.crm.hubspot_run import hubspot_inputs, hubspot_keys
from lead_assets.crm.salesforce_run import csv_payload
from lead_assets.pipeline.lead_batches import VendorRecord, store_batch
from lead_assets.reports.render import render_final, render_hourly
from lead_assets.store.dedup_index import DedupIndex

CFG = sprint_config()
MATCHER = TitleMatcher.from_config(CFG)
PK = "2026-11-27-00:00|apollo"

SQL = "Robert'); DROP TABLE leads;--"
SCRIPT = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'
SLACK = "<!channel> *bold* <http://x|y> <@U123>"
FORMULA = '=HYPERLINK("http://evil.example","click")'
PLUS = "+cmd|' /C calc'!A0"
AT = "@SUM(1+1)*cmd"
NUL = "Ja\x00ne Nul"
HUGE = "A" * 100_000
HOSTILE = [SQL, SCRIPT, IMG, SLACK, FORMULA, PLUS, AT, NUL, HUGE]
RAW_DANGERS = ["<script>", "<img src=x", "<!channel>", "<http://x|y>", "<@U123>"]


def hostile_people() -> list[dict]:
    people = []
    for i, text in enumerate(HOSTILE):
        people.append({
            "id": f"hostile{i}",
            "name": text,
            "first_name": text,
            "last_name": "Doe",
            "linkedin_url": f"https://www.linkedin.com/in/hostile-{i}",
            "title": "PPC Manager",
            "email": f"hostile{i}@acme.com",
            "email_status": "verified",
            "city": "Austin",
            "state": "Texas",
            "country": "United States",
            "organization": {"name": text, "primary_domain": "acme.com", "industry": text,
                             "estimated_num_employees": 50},
        })
    return people


def expected_stored(text: str) -> str:
    return text.replace("\x00", "")


def test_hostile_strings_through_the_whole_pipeline(store, tmp_path):
    index = DedupIndex(store, None)
    records = []
    for p in hostile_people():
        fields, problem = apollo_person_record(p)
        records.append(VendorRecord(payload=p, fields=fields, problem=problem))
    outcome = store_batch(records, source="apollo", partition_key=PK, store=store, index=index, matcher=MATCHER)
    assert outcome.new_leads == len(HOSTILE) and outcome.quarantined == 0
    # A hostile vendor error message, as a vendor would echo it back.
    store.record_vendor_calls([{"vendor": "apollo", "endpoint": "/api/v1/mixed_people/api_search",
                                "partition_key": PK, "outcome": "failed", "attempts": 3, "status_code": 500,
                                "error": f"HTTP 500 {SLACK} {SCRIPT}"}])

    # 1. stored verbatim (NUL stripped), the SQL text was data, not SQL
    leads = store.read_leads()
    assert len(leads) == len(HOSTILE)
    by_vid = store.read_sql("SELECT vendor_person_id, lead_id FROM lead_sources")
    lead_of = dict(zip(by_vid["vendor_person_id"], by_vid["lead_id"], strict=True))
    names = dict(zip(leads["lead_id"], leads["full_name"], strict=True))
    companies = dict(zip(leads["lead_id"], leads["company_name"], strict=True))
    for i, text in enumerate(HOSTILE):
        lead_id = lead_of[f"hostile{i}"]
        assert names[lead_id] == expected_stored(text)
        assert companies[lead_id] == expected_stored(text)
    assert not any("\x00" in str(v) for v in leads.astype(str).to_numpy().ravel())
    tables = store.read_sql("SELECT COUNT(*) AS n FROM leads")
    assert int(tables["n"].iloc[0]) == len(HOSTILE)  # the leads table still exists and is whole

    # 2. scoring (no enrichment) works on them; the 100 kB name is flagged, not cut silently
    scored = score_leads(leads)
    assert scored["data_quality_score"].between(0, 100).all()
    huge = leads[leads["full_name"].str.len() == len(HUGE)]
    assert len(huge) == 1 and "too_long" in str(huge["validation_errors"].iloc[0])

    # 3. HubSpot mapping: JSON inputs and CSV payload, formulas neutralised, long values truncated
    crm = load_crm_config(env={})
    id_prop = crm.hubspot.linkedin_id_property
    mapped = map_leads(scored, crm.rules("hubspot"), id_prop)
    values = mapped.values
    keys = hubspot_keys(values, id_prop, pd.Series(False, index=values.index), pd.Series(True, index=values.index))
    inputs = hubspot_inputs(values, keys, list(values.index))
    body = json.dumps({"inputs": inputs}, ensure_ascii=False)
    assert json.loads(body)["inputs"] == inputs  # valid JSON whatever the text
    assert "\x00" not in body
    for item in inputs:
        for prop, value in item["properties"].items():
            assert not (isinstance(value, str) and value[:1] in "=+@" and not value[1:].isdigit()), (prop, value)
            assert len(str(value)) <= 2000
    firstnames = {i["properties"].get("firstname") for i in inputs}
    assert "'" + FORMULA in firstnames and "'" + PLUS in firstnames and "'" + AT in firstnames
    assert SQL in firstnames and SCRIPT in firstnames  # harmless in JSON: sent verbatim
    companies_sent = {i["properties"].get("company") for i in inputs}
    assert "A" * 255 in companies_sent  # truncated by the rule, not rejected
    columns = list(values.columns)
    text = csv_payload(values, columns)
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == columns and len(parsed) == len(values) + 1
    for row in parsed[1:]:
        for cell in row:
            assert cell[:1] not in ("=", "+", "@") or cell.lstrip("+").isdigit(), cell

    # 4. final report: HTML autoescaped, Markdown escaped, nothing executable
    report = render_final(store, CFG, tmp_path / "reports")
    html = report.html_path.read_text(encoding="utf-8")
    md = report.md_path.read_text(encoding="utf-8")
    for danger in RAW_DANGERS:
        assert danger not in html, danger
        assert danger not in md, danger
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;script&gt;" in md
    assert "\x00" not in html and "\x00" not in md
    assert "alert(1)</script>" not in html and 'onerror="alert(2)"' not in html

    # 5. Slack text: the final summary (numbers only) and the hourly report (vendor error text)
    for danger in RAW_DANGERS:
        assert danger not in report.text
    hourly = render_hourly(store, CFG)
    assert "&lt;!channel&gt;" in hourly.text
    for danger in RAW_DANGERS:
        assert danger not in hourly.text, danger

    # 6. nothing ran: every table is still there and holds what was written
    counts = store.read_sql("SELECT (SELECT COUNT(*) FROM leads) AS leads, "
                            "(SELECT COUNT(*) FROM lead_sources) AS sources, "
                            "(SELECT COUNT(*) FROM dedup_keys) AS keys")
    # keys per person: vendor id, LinkedIn URL, email, and the weak name-at-domain and name-at-company
    assert counts.iloc[0].tolist() == [len(HOSTILE), len(HOSTILE), 5 * len(HOSTILE)]
    print(f"\nhostile: {len(HOSTILE)} leads stored verbatim, {len(inputs)} HubSpot inputs, "
          f"{len(parsed) - 1} CSV rows, html {len(html)} chars, md {len(md)} chars, "
          f"hourly slack {len(hourly.text)} chars, 0 raw control sequences")
