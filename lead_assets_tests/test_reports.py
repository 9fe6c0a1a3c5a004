"""Reports: the final report of a finished small sandbox sprint shows exactly ``sprint_metrics``'s numbers.

A reduced brief (3 roles x 4 metros over 3 hours) is collected end to end from the sandbox's Apollo,
on PostgreSQL and SQLite; the hourly report is posted to the sandbox's Slack and read back. An
empty store renders "none yet" everywhere; vendor text such as ``<script>alert(1)</script>`` is
escaped in HTML, Markdown and Slack mrkdwn.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import requests
import yaml

from lead_assets.clients.apollo import ApolloClient
from lead_assets.clients.notify import Notifier
from lead_assets.clients.slack_notifier import SlackNotifier
from lead_assets.config.settings import SPRINT_CONFIG_PATH, load_sprint_config
from lead_assets.pipeline.search_plan import hour_keys
from lead_assets.reports import render_final, render_hourly
from lead_assets.reports.data import gather_report_data
from lead_assets.reports.render import md_escape
from lead_assets.sandbox import SandboxConfig, start_sandbox
from lead_assets.sources.collector import collect_hour, collection_context
from lead_assets.store.dedup_index import DedupIndex
from lead_assets.store.metrics import sprint_metrics
from lead_assets.store.window_metrics import has_table, spend_by_vendor

HOSTILE = "<script>alert(1)</script>"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def small_cfg(tmp_path_factory):
    """The real brief cut down to a sprint that finishes in seconds."""
    raw = yaml.safe_load(SPRINT_CONFIG_PATH.read_text())
    raw["sprint"]["hours"] = 3
    raw["target_roles"] = raw["target_roles"][:3]
    raw["locations"] = raw["locations"][:4]
    path = tmp_path_factory.mktemp("brief") / "sprint.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_sprint_config(path)


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(SandboxConfig(population=1500)) as sb:
        yield sb


@pytest.fixture
def clean_store(store, sandbox):
    """The conftest store plus an empty cost ledger (no FK to leads, so TRUNCATE leads keeps it)."""
    requests.post(f"{sandbox.base_url}/__sandbox/reset", json={"config": True}, timeout=5)
    if has_table(store, "cost_ledger"):
        with store.transaction() as conn:
            conn.exec_driver_sql("DELETE FROM cost_ledger")
    return store


def run_sprint(sandbox, store, cfg):
    """Every hour of the small sprint, with one transient Apollo failure to show up as a retry."""
    r = requests.post(f"{sandbox.base_url}/__sandbox/config",
                      json={"faults": {"apollo": {"fail_next": 1, "fail_next_kind": "503"}}}, timeout=5)
    assert r.status_code == 200
    client = ApolloClient(f"{sandbox.base_url}/apollo", "sandbox-apollo-key", sleep=lambda s: None)
    ctx = collection_context(cfg, store, DedupIndex(store, None), client=client)
    for hour in hour_keys(cfg.start, cfg.hours):
        report = collect_hour(ctx, hour)
        assert report.slices_failed == 0
    return requests.get(f"{sandbox.base_url}/__sandbox/stats", timeout=5).json()["vendors"]["apollo"]


def test_final_report_of_a_finished_sprint_matches_sprint_metrics(sandbox, clean_store, small_cfg, tmp_path):
    store, cfg = clean_store, small_cfg
    apollo = run_sprint(sandbox, store, cfg)
    m = sprint_metrics(store)
    assert m["unique"] > 50  # a real sprint, not a trivial one

    report = render_final(store, cfg, tmp_path / "out")
    s = report.summary
    for key in ("collected", "unique", "duplicates", "duplicate_rate", "qualified", "quarantined",
                "avg_quality_score", "email_availability", "company_completeness", "validation_rate",
                "vendor_calls", "vendor_call_errors"):
        assert s[key] == m[key], key
    spend, source = spend_by_vendor(store, cfg.prices_usd)
    assert s["spend_usd"] == pytest.approx(sum(spend.values()))
    if source == "credits_estimate":  # nothing wrote the cost ledger: credits x the brief's price
        assert s["spend_usd"] == pytest.approx(apollo["credits_consumed"] * cfg.prices_usd["apollo_credit"])
    assert s["cost_per_qualified_lead"] == pytest.approx(s["spend_usd"] / m["qualified"])

    # every breakdown adds up to the headline figures
    d = gather_report_data(store, cfg)
    assert sum(r["records"] for r in d.by_source) == m["collected"]
    assert sum(r["leads"] for r in d.by_source) == m["unique"]
    assert sum(r["leads"] for r in d.by_role) == m["unique"]
    assert sum(r["leads"] for r in d.by_metro) == m["unique"]
    assert sum(b["leads"] for b in d.quality_bands) == m["unique"]
    assert (d.timeline[-1]["records_total"], d.timeline[-1]["leads_total"]) == (m["collected"], m["unique"])
    [apollo_errors] = d.errors_by_vendor
    assert (apollo_errors["calls"], apollo_errors["failed"]) == (m["vendor_calls"], m["vendor_call_errors"])
    assert apollo_errors["retries"] >= 1 and apollo_errors["retried_ok"] >= 1
    assert sum(q["count"] for q in d.quarantine_reasons) == m["quarantined"]

    html = report.html_path.read_text()
    md = report.md_path.read_text()
    for text in (html, md):
        assert f"{m['collected']:,}" in text and f"{m['unique']:,}" in text
        assert f"{100 * m['email_availability']:.1f} %" in text
        assert f"{100 * m['company_completeness']:.1f} %" in text
        assert f"{100 * m['duplicate_rate']:.1f} %" in text
        assert f"{m['avg_quality_score']:.1f}" in text
        assert f"${s['cost_per_qualified_lead']:.2f}" in text
        for label in ("Leads collected", "Unique leads", "Average quality score", "Email availability",
                      "Company data completeness", "Validation rate", "Duplicate rate", "Cost per qualified lead",
                      "Spend", "CRM sync lag"):
            assert label in text
        assert "Recommendations" in text and "cheapest qualified leads" in text
    # self-contained HTML: five charts embedded as PNGs, no external references
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 5 and all(base64.b64decode(i).startswith(PNG_MAGIC) for i in images)
    assert "http://" not in html and "https://" not in html
    # the Markdown twin points at PNG files written next to it
    for name in re.findall(r"\]\((final-report-[a-z]+\.png)\)", md):
        assert (report.md_path.parent / name).read_bytes().startswith(PNG_MAGIC)

    keys = [r.key for r in report.recommendations]
    assert keys[:4] == ["cheapest_source", "dry_titles", "dry_metros", "enrichment_payoff"]
    cheapest = report.recommendations[0].numbers
    apollo_row = next(r for r in d.by_source if r["source"] == "apollo")
    assert cheapest["source"] == "apollo"
    assert cheapest["cost_per_qualified"] == pytest.approx(apollo_row["cost_usd"] / apollo_row["qualified"])


def test_hourly_report_is_posted_and_read_back(sandbox, clean_store, small_cfg):
    store, cfg = clean_store, small_cfg
    run_sprint(sandbox, store, cfg)
    m = sprint_metrics(store)
    hourly = render_hourly(store, cfg, datetime.now(UTC) + timedelta(minutes=5))
    assert f"{m['collected']:,} / {cfg.targets.collected:,} records" in hourly.text
    assert f"{m['unique']:,} unique leads" in hourly.text
    assert "*Errors by vendor:*" in hourly.text and "• apollo:" in hourly.text
    assert "*Projected finish:*" in hourly.text and "*Spend:*" in hourly.text
    assert hourly.png.startswith(PNG_MAGIC)

    slack = SlackNotifier("xoxb-sandbox-token", "lead-sprint", sandbox.url("slack"), sleep=lambda s: None)
    results = hourly.send(Notifier(slack))
    assert results["slack"].ok, results
    stats = requests.get(f"{sandbox.base_url}/__sandbox/stats", timeout=5).json()["vendors"]["slack"]
    [msg], [chart] = stats["messages"], stats["files"]
    assert msg["text"] == hourly.text
    assert chart["thread_ts"] == msg["ts"] and chart["sha256"] == hashlib.sha256(hourly.png).hexdigest()


def test_empty_sprint_renders_none_yet(sandbox, clean_store, small_cfg, tmp_path):
    store, cfg = clean_store, small_cfg
    report = render_final(store, cfg, tmp_path)
    assert report.summary["unique"] == 0 and report.summary["duplicate_rate"] is None
    assert report.summary["cost_per_qualified_lead"] is None
    html, md = report.html_path.read_text(), report.md_path.read_text()
    for text in (html, md):
        assert text.count("none yet") >= 10
        assert "nan" not in text.lower().split() and "None" not in text
    assert "Not enough data yet" in md
    assert len(re.findall(r"data:image/png;base64,", html)) == 5
    hourly = render_hourly(store, cfg)
    assert "none yet" in hourly.text and hourly.png.startswith(PNG_MAGIC)

    # the final report goes out as a short summary with the HTML file in its thread
    slack = SlackNotifier("xoxb-sandbox-token", "lead-sprint", sandbox.url("slack"), sleep=lambda s: None)
    assert report.send(Notifier(slack))["slack"].ok
    stats = requests.get(f"{sandbox.base_url}/__sandbox/stats", timeout=5).json()["vendors"]["slack"]
    [msg], [html_file] = stats["messages"], stats["files"]
    assert msg["text"] == report.text and "none yet" in msg["text"]
    assert html_file["name"] == "final-report.html" and html_file["thread_ts"] == msg["ts"]
    assert sandbox.router.apps["slack"].file_content(html_file["id"]) == report.html_path.read_bytes()


def test_zero_cost_sprint_renders_none_yet_for_costs(clean_store, small_cfg, tmp_path):
    store, cfg = clean_store, small_cfg
    store.upsert_leads(pd.DataFrame([{"lead_id": "x", "full_name": "Free Lead", "data_source": "apollo",
                                      "is_qualified": True, "data_quality_score": 80}]))
    report = render_final(store, cfg, tmp_path)
    assert report.summary["spend_usd"] == 0 and report.summary["cost_per_qualified_lead"] is None
    assert "cost_per_qualified_lead" in report.summary["targets_pending"]
    assert "Cost per qualified lead | none yet" in report.md_path.read_text()


def test_vendor_text_is_escaped_everywhere(clean_store, small_cfg, tmp_path):
    store, cfg = clean_store, small_cfg
    store.upsert_leads(pd.DataFrame([{
        "lead_id": "evil", "full_name": HOSTILE, "job_title": HOSTILE, "company_name": HOSTILE,
        "location_city": HOSTILE, "location_state": "TX", "data_source": "apollo", "data_quality_score": 99,
        "is_qualified": False,
    }]))
    store.quarantine(pd.DataFrame([{"source": "apollo", "partition_key": "p", "reason": f"bad name {HOSTILE}",
                                    "payload": {"name": HOSTILE}}]))
    store.record_vendor_calls([{"vendor": "apollo", "endpoint": "/x", "outcome": "failed",
                                "error": f"HTTP 500: {HOSTILE}"}])
    report = render_final(store, cfg, tmp_path)
    html, md = report.html_path.read_text(), report.md_path.read_text()
    assert HOSTILE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert HOSTILE not in md and "&lt;script&gt;alert(1)&lt;/script&gt;" in md
    assert "<script" not in html.lower()
    hourly = render_hourly(store, cfg)
    assert HOSTILE not in hourly.text and "&lt;script&gt;" in hourly.text


def test_markdown_escaping_keeps_tables_intact():
    assert md_escape("A | B") == r"A \| B"
    assert md_escape("*bold* _it_ [link](x)") == r"\*bold\* \_it\_ \[link\](x)"
    assert md_escape("two\nlines") == "two lines"
    assert md_escape("1,234.5 %") == "1,234.5 %"  # our own numbers stay readable
