"""Privacy: identifiers hashed, the suppression list, and an erasure that leaves no trace.

The end-to-end test runs a small sandbox sprint (Apollo hour 00, enrichment, HubSpot export),
erases one person through `erase_person_job`, proves nothing but the audit row and the hashed
suppression entries remain (every table's text, Redis, the sandbox HubSpot), then re-runs the
same partition: the person is neither stored, bought nor synced again.
"""

from __future__ import annotations

import hashlib
import os

import dagster as dg
import pandas as pd
import pytest
import redis
from sqlalchemy import text

from lead_assets.config.settings import sprint_config
from lead_assets.core import privacy
from lead_assets.defs.collection import collect_leads
from lead_assets.defs.crm import crm_exports
from lead_assets.defs.enrichment import enriched_leads
from lead_assets.defs.leads import scored_leads
from lead_assets.defs.partitions import sprint_partition_key
from lead_assets.defs.privacy import erase_person_job
from lead_assets.defs.resources import LeadStoreResource
from lead_assets.pipeline.erasure import erase_person, read_audit
from lead_assets.privacy_cli import erase_run_config
from lead_assets.sandbox import SandboxConfig, start_sandbox
from lead_assets.store import suppression
from lead_assets.store.dedup_index import DedupIndex, dedup_prefix
from lead_assets_tests.sandbox_resources import sandbox_resources


def sha(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


# -- core.privacy ------------------------------------------------------------------------------


def test_identifiers_normalise_before_hashing():
    assert privacy.normalise_email_identifier("  Jane.Doe@Example.COM ") == "jane.doe@example.com"
    assert privacy.normalise_email_identifier("not an email") is None
    url = "https://www.linkedin.com/in/jane-doe-42"
    for spelling in ("http://linkedin.com/in/Jane-Doe-42/", "www.linkedin.com/in/jane-doe-42?trk=x", "jane-doe-42",
                     "in/jane-doe-42"):
        assert privacy.normalise_linkedin_identifier(spelling) == url, spelling
    assert privacy.email_hash("Jane.Doe@Example.com") == sha("jane.doe@example.com")
    assert privacy.linkedin_hash("linkedin.com/in/JANE-DOE-42") == sha(url)
    assert privacy.vendor_hash("apollo", "abc") == sha("vid:apollo:abc")
    assert privacy.normalise_domain("https://www.Acme.com/about") == "acme.com"
    assert privacy.normalise_domain("bob@acme.com") == "acme.com"
    assert privacy.identifier_kind("jane@x.com") == "email"
    assert privacy.identifier_kind("https://linkedin.com/in/jane") == "linkedin"
    with pytest.raises(ValueError):
        privacy.subject_hash("https://example.com/nobody")
    assert privacy.linkedin_slug(url) == "jane-doe-42"


def test_suppression_entries_hold_no_clear_identifier():
    entries = privacy.suppression_entries(emails=["A@B.com", "bad"], linkedin_urls=["linkedin.com/in/x-y"],
                                          keys=["vid:apollo:1"], domains=["www.acme.com"])
    assert entries == sorted([(privacy.EMAIL, sha("a@b.com")), (privacy.LINKEDIN, sha("https://www.linkedin.com/in/x-y")),
                              (privacy.VENDOR, sha("vid:apollo:1")), (privacy.DOMAIN, "acme.com")])


def test_suppressed_mask_is_vectorised_over_leads():
    df = pd.DataFrame({
        "email": ["a@b.com", None, "c@acme.com", "d@e.com", None],
        "linkedin_url": [None, "https://www.linkedin.com/in/x-y", None, None, None],
        "company_website": [None, None, None, "https://www.ACME.com", None],
        "source": ["apollo"] * 5,
        "vendor_person_id": ["1", "2", "3", "4", "5"],
    }, index=[10, 11, 12, 13, 14])
    entries = {privacy.EMAIL: {sha("a@b.com")}, privacy.LINKEDIN: {sha("https://www.linkedin.com/in/x-y")},
               privacy.DOMAIN: {"acme.com"}, privacy.VENDOR: {sha("vid:apollo:5")}}
    mask = privacy.suppressed_mask(df, entries)
    assert mask.tolist() == [True, True, True, True, True]
    assert privacy.suppressed_mask(df, {privacy.EMAIL: {sha("a@b.com")}}).tolist() == [True, False, False, False, False]
    assert privacy.suppressed_mask(df.iloc[:0], entries).tolist() == []


# -- the suppression list and erase_person on both dialects --------------------------------------


def _seed(store):
    with store.transaction() as conn:  # conftest's TRUNCATE predates these tables (PostgreSQL session database)
        conn.execute(text("DELETE FROM suppression_list"))
        conn.execute(text("DELETE FROM erasure_audit"))
    leads = pd.DataFrame({
        "lead_id": ["ld_a", "ld_b", "ld_c"],
        "full_name": ["Zelda Quixote", "Bob Other", "Carl Shared"],
        "linkedin_url": ["https://www.linkedin.com/in/zelda-q", "https://www.linkedin.com/in/bob-o", None],
        "email": ["zelda@acme.com", "info@shared.com", "info@shared.com"],
        "company_website": ["https://acme.com", "https://shared.com", "https://shared.com"],
        "is_qualified": [True, True, True],
    })
    store.upsert_leads(leads)
    store.record_sources(pd.DataFrame({"source": ["apollo", "apollo", "apollo"],
                                       "vendor_person_id": ["zq111", "bo222", "cs333"],
                                       "lead_id": ["ld_a", "ld_b", "ld_c"], "partition_key": "p1"}))
    index = DedupIndex(store, None)
    index.register({"li:https://www.linkedin.com/in/zelda-q": "ld_a", "em:zelda@acme.com": "ld_a",
                    "vid:apollo:zq111": "ld_a", "li:https://www.linkedin.com/in/bob-o": "ld_b",
                    "vid:apollo:bo222": "ld_b"})
    store.land_raw("apollo", "p1", "search_page", "s|page=1",
                   '{"people": [{"id": "zq111", "first_name": "Zelda"}, {"id": "bo222"}]}', 200, None)
    store.land_raw("apollo", "p1", "enrichment", "ids=bo222", '{"matches": [{"id": "bo222"}]}', 200, None)
    store.quarantine(pd.DataFrame([{"source": "apollo", "partition_key": "p1", "vendor_person_id": None,
                                    "reason": "no name", "payload": {"email": "zelda@acme.com"}}]))
    with store.transaction() as conn:
        conn.execute(text("INSERT INTO cost_ledger (vendor, endpoint, units, unit_price_usd, cost_usd, lead_id) "
                          "VALUES ('hunter', 'find', 1, 0.1, 0.1, 'ld_a')"))
    return index


def test_erase_person_removes_the_lead_everywhere_but_keeps_other_people(store):
    index = _seed(store)
    report = erase_person(store, index, None, None, "https://linkedin.com/in/Zelda-Q/", "req-1")
    assert report.leads_erased == 1 and report.crm_outcome == "none"
    assert report.counts["leads"] == 1 and report.counts["raw_landings"] == 1 and report.counts["quarantine"] == 1
    assert report.counts["cost_ledger_anonymised"] == 1 and report.counts["dedup_keys"] == 3
    assert set(store.read_sql("SELECT lead_id FROM leads")["lead_id"]) == {"ld_b", "ld_c"}
    assert len(store.read_sql("SELECT * FROM raw_landings")) == 1  # the other person's purchase stays
    assert store.read_sql("SELECT lead_id FROM cost_ledger")["lead_id"].isna().all()
    assert index.lookup(["em:zelda@acme.com", "vid:apollo:zq111", "vid:apollo:bo222"]) == {"vid:apollo:bo222": "ld_b"}
    assert suppression.suppressed_vendor_ids(store, "apollo", ["zq111", "bo222"]) == {"zq111"}
    assert suppression.is_suppressed_record(store, {"email": "ZELDA@acme.com"})
    assert not suppression.is_suppressed_record(store, {"email": "bob@acme.com"})
    audit = read_audit(store, "req-1")
    assert len(audit) == 1 and audit[0]["subject_hash"] == sha("https://www.linkedin.com/in/zelda-q")
    assert "zelda" not in str(audit).lower()
    # Erasing Bob by LinkedIn must not erase Carl, who shares the generic email, nor suppress that email.
    erase_person(store, index, None, None, "https://www.linkedin.com/in/bob-o", "req-2")
    assert set(store.read_sql("SELECT lead_id FROM leads")["lead_id"]) == {"ld_c"}
    assert suppression.suppressed_lead_ids(store) == set()
    # Idempotent: a second run finds nothing and is audited again.
    again = erase_person(store, index, None, None, "https://linkedin.com/in/zelda-q", "req-1")
    assert again.leads_erased == 0 and len(read_audit(store, "req-1")) == 2


def test_suppress_blocks_enrichment_and_sync_selection(store):
    _seed(store)
    assert suppression.suppressed_lead_ids(store) == set()
    assert suppression.suppress(store, email=" Zelda@Acme.com ") == 1
    assert suppression.suppress(store, email="zelda@acme.com") == 0
    assert suppression.suppressed_lead_ids(store) == {"ld_a"}
    suppression.suppress(store, domain="shared.com")
    kept, blocked = suppression.apply_suppression(store, ["ld_c", "ld_a", "ld_b"])
    assert kept == [] and blocked == {"ld_a", "ld_b", "ld_c"}
    stored = store.read_sql("SELECT kind, value_hash FROM suppression_list ORDER BY kind")
    assert "zelda" not in stored.to_string().lower()


# -- end to end: a sandbox sprint, an erasure, a re-run ------------------------------------------


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(SandboxConfig(population=1500)) as sb:
        yield sb


@pytest.fixture
def private_redis_url():
    """A Redis database of this test alone (DB 13): DB 15 is shared by concurrent test sessions whose
    sandbox population has the same vendor ids, so a key check there would see their keys."""
    from lead_assets_tests.conftest import REDIS_TEST_URL

    url = REDIS_TEST_URL.rpartition("/")[0] + "/13"
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis unreachable at {url}: {exc}", pytrace=False)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


def _traces(store, needles: list[str]) -> list[str]:
    """`table.column: needle` for every text cell of every table that contains a needle."""
    found = []
    with store.engine.connect() as conn:
        tables = [r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))]
        for table in tables:
            columns = [r[1] for r in conn.execute(text(f"PRAGMA table_info({table})"))]
            for column in columns:
                for needle in needles:
                    n = conn.execute(text(f'SELECT count(*) FROM "{table}" WHERE lower(CAST("{column}" AS TEXT)) '
                                          "LIKE :p"), {"p": f"%{needle.lower()}%"}).scalar_one()
                    if n:
                        found.append(f"{table}.{column}: {needle}")
    return found


SPRINT = [collect_leads, enriched_leads, scored_leads, crm_exports]


@pytest.fixture
def own_sprint_id(monkeypatch):
    """A sprint id of this session alone: concurrent sessions' sprints share Redis DB 13 and the
    sandbox's vendor ids, and only this sprint's keys are this test's to check."""
    sprint_id = f"privacy-{os.getpid()}"
    monkeypatch.setenv("LEAD_SPRINT_ID", sprint_id)
    sprint_config.cache_clear()
    yield sprint_id
    sprint_config.cache_clear()


def test_erasure_after_a_sandbox_sprint_leaves_no_trace_and_the_person_never_returns(
        sandbox, tmp_path, private_redis_url, own_sprint_id, monkeypatch):
    from lead_assets.crm.setup import crm_setup

    sandbox.reset()
    resources = sandbox_resources(sandbox.base_url, tmp_path,
                                  lead_store=LeadStoreResource(database_url=f"sqlite:///{tmp_path / 'leads.db'}",
                                                               redis_url=private_redis_url))
    crm = resources["crm"]
    config = crm.config()
    crm_setup(config.target, crm.client(config), config)
    hubspot = sandbox.router.apps["hubspot"]
    apollo = sandbox.router.apps["apollo"]
    key = sprint_partition_key("2026-11-27-00:00", "apollo")
    with dg.instance_for_test() as instance:
        assert dg.materialize(SPRINT, partition_key=key, resources=resources, instance=instance).success
        store = resources["lead_store"].store()
        # A synced, enriched person with a unique name, email and LinkedIn URL.
        person = store.read_sql(
            "SELECT l.lead_id, l.email, l.linkedin_url, l.full_name, s.vendor_person_id, c.crm_id "
            "FROM leads l JOIN lead_sources s ON s.lead_id = l.lead_id "
            "JOIN crm_sync_state c ON c.lead_id = l.lead_id AND c.state = 'created' "
            "WHERE l.email IS NOT NULL AND l.linkedin_url IS NOT NULL AND s.source = 'apollo' "
            "AND (SELECT count(*) FROM leads o WHERE o.full_name = l.full_name) = 1 "
            "AND (SELECT count(*) FROM leads o WHERE o.email = l.email) = 1 "
            "ORDER BY (SELECT count(*) FROM field_provenance f WHERE f.lead_id = l.lead_id) DESC, l.lead_id LIMIT 1"
        ).iloc[0]
        email, url, name, pid = person["email"], person["linkedin_url"], person["full_name"], person["vendor_person_id"]
        slug = privacy.linkedin_slug(url)
        needles = [email, slug, name, person["lead_id"]]
        assert _traces(store, needles)  # the sprint did store them
        assert any(c["id"] == person["crm_id"] for c in hubspot.contacts_snapshot())
        bought_before = apollo.stats()["purchases"].get(pid, 0)
        with redis.Redis.from_url(private_redis_url, decode_responses=True) as before:
            assert before.get(f"{dedup_prefix(own_sprint_id)}:k:li:{url}") == person["lead_id"]  # Redis held them
        assert bought_before == 1

        result = erase_person_job.execute_in_process(
            run_config=erase_run_config(email, None, "dsr-0001"), instance=instance,
            resources={"lead_store": resources["lead_store"], "crm": crm},
        )
        assert result.success
        report = result.output_for_node("erase_person_op")
        assert report["leads_erased"] == 1 and report["crm_outcome"] == "deleted"
        assert report["counts"]["raw_landings"] >= 2  # the search page and the purchase naming them

        # No trace but the audit row and the hashed suppression entries.
        assert _traces(store, needles) == []
        assert _traces(store, [pid]) == []
        audit = read_audit(store, "dsr-0001")
        assert len(audit) == 1 and audit[0]["subject_hash"] == sha(email) and audit[0]["subject_kind"] == "email"
        assert not any(n.lower() in str(audit).lower() for n in needles)
        entries = store.read_sql("SELECT kind, value_hash FROM suppression_list")
        pairs = set(zip(entries["kind"], entries["value_hash"], strict=True))
        assert {(privacy.EMAIL, sha(email)), (privacy.LINKEDIN, sha(url)),
                (privacy.VENDOR, sha(f"vid:apollo:{pid}"))} <= pairs
        r = redis.Redis.from_url(private_redis_url, decode_responses=True)
        mine = list(r.scan_iter(f"{dedup_prefix(own_sprint_id)}:*"))
        assert mine  # the index did use Redis
        for k in mine:
            assert not any(n.lower() in k.lower() for n in (email, slug, pid)), k
            value = r.get(k) if r.type(k) == "string" else ""
            assert person["lead_id"] not in (value or ""), k
        r.close()
        assert not [c for c in hubspot.contacts_snapshot()
                    if c["id"] == person["crm_id"] or c["properties"].get("email") == email]
        events = [e for e in result.all_events if e.message]
        assert not any(n.lower() in e.message.lower() for e in events for n in (email, slug, name))

        # The same partition again: not stored, not bought, not synced.
        created_before = hubspot.stats()["contacts_created"]
        again = dg.materialize(SPRINT, partition_key=key, resources=resources, instance=instance)
        assert again.success
        assert apollo.stats()["purchases"].get(pid, 0) == bought_before
        assert apollo.stats()["rebought"] == {}  # nobody of the deleted purchase landing was bought again
        assert _traces(store, needles) == []
        assert not [c for c in hubspot.contacts_snapshot() if c["properties"].get("email") == email]
        assert hubspot.stats()["contacts_created"] == created_before


def test_privacy_commands_parse_and_suppress(tmp_path, monkeypatch):
    import argparse

    from lead_assets.privacy_cli import add_privacy_commands

    parser = argparse.ArgumentParser()
    add_privacy_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["erase", "--email", "a@b.com", "--request-id", "r1"])
    assert (args.email, args.linkedin_url, args.request_id) == ("a@b.com", None, "r1")
    with pytest.raises(SystemExit):
        parser.parse_args(["erase", "--email", "a@b.com", "--linkedin-url", "https://linkedin.com/in/a"])
    url = f"sqlite:///{tmp_path / 'leads.db'}"
    monkeypatch.setenv("LEADS_DATABASE_URL", url)
    args = parser.parse_args(["suppress", "--domain", "www.Acme.com"])
    assert args.func(args) == 0
    from lead_assets.store.lead_store import LeadStore

    assert suppression.load_entries(LeadStore(url))[privacy.DOMAIN] == {"acme.com"}
    assert erase_run_config("a@b.com", None, "r1")["ops"]["erase_person_op"]["config"]["email"] == "a@b.com"


class _FakeHubSpot:
    """The HubSpot client's erasure calls: `search_ids` answers from `contacts`, `gdpr_delete` from `answers`."""

    def __init__(self, contacts=None, answers=()):
        self.contacts = contacts or {}  # (property, value) -> contact ids
        self.answers, self.calls, self.drained = list(answers), [], 0

    def search_ids(self, prop, value):
        self.calls.append(("search", prop, value))
        return list(self.contacts.get((prop, value), []))

    def gdpr_delete(self, object_id, id_property=None):
        from lead_assets.clients.errors import VendorRequestError

        self.calls.append(("gdpr_delete", object_id, id_property))
        status = self.answers.pop(0) if self.answers else 204
        if status >= 400:
            raise VendorRequestError("hubspot", f"HTTP {status} {'No route' if status == 405 else 'gone'}",
                                     status=404 if status == 405 else status)

    def drain_calls(self):
        self.drained += 1
        return []


class _FakeSalesforce:
    def __init__(self, status):
        self.status, self.calls = status, []

    def _call(self, method, path, **kwargs):
        from lead_assets.clients.errors import VendorRequestError

        self.calls.append((method, path))
        if self.status >= 400:
            raise VendorRequestError("salesforce", f"HTTP {self.status}", status=self.status)


LI = "https://www.linkedin.com/in/zelda-q"


@pytest.mark.parametrize("contacts, answers, outcome, deletes", [
    ({("email", "zelda@acme.com"): ["501"]}, [204], "deleted", [("gdpr_delete", "501", None)]),
    ({("lead_sprint_linkedin_url", LI): ["502"]}, [204], "deleted", [("gdpr_delete", "502", None)]),
    # Nobody found: the email delete is still sent (HubSpot blocklists it) but it is not "deleted".
    ({}, [204], "not_found_blocklisted", [("gdpr_delete", "zelda@acme.com", "email")]),
    ({("email", "zelda@acme.com"): ["501"]}, [404, 204], "not_found_blocklisted",
     [("gdpr_delete", "501", None), ("gdpr_delete", "zelda@acme.com", "email")]),
    ({("email", "zelda@acme.com"): ["501"]}, [405], "unsupported", [("gdpr_delete", "501", None)]),
    ({}, [400], "failed: VendorRequestError 400", [("gdpr_delete", "zelda@acme.com", "email")]),
])
def test_hubspot_erasure_deletes_only_contacts_it_found(sqlite_url, contacts, answers, outcome, deletes):
    from lead_assets.store.lead_store import LeadStore

    store = LeadStore(sqlite_url)
    index = _seed(store)
    client = _FakeHubSpot(contacts, answers)
    report = erase_person(store, index, client, "hubspot", "zelda@acme.com", "r", kind="email",
                          linkedin_id_property="lead_sprint_linkedin_url")
    assert report.crm_outcome == outcome and client.drained == 1
    assert report.counts["crm_records_deleted"] == (outcome == "deleted")
    searches = [c for c in client.calls if c[0] == "search"]
    assert searches == [("search", "email", "zelda@acme.com"), ("search", "lead_sprint_linkedin_url", LI)]
    assert [c for c in client.calls if c[0] == "gdpr_delete"] == deletes
    assert read_audit(store, "r")[0]["crm_outcome"] == outcome


def test_hubspot_erasure_uses_the_recorded_contact_id_first(sqlite_url):
    from lead_assets.store.crm_sync_state import write_states
    from lead_assets.store.lead_store import LeadStore

    store = LeadStore(sqlite_url)
    index = _seed(store)
    write_states(store, "hubspot", pd.DataFrame([{"lead_id": "ld_a", "crm_id": "777", "state": "created"}]))
    client = _FakeHubSpot()
    report = erase_person(store, index, client, "hubspot", "zelda@acme.com", "r", kind="email")
    assert report.crm_outcome == "deleted" and client.calls == [("gdpr_delete", "777", None)]


def test_hubspot_erasure_against_the_sandbox_audits_what_happened(sandbox, sqlite_url):
    """Corrections 8: an unknown email answers 204 and is blocklisted; only a found contact is `deleted`."""
    from lead_assets.clients.hubspot import HubSpotClient
    from lead_assets.store.lead_store import LeadStore

    sandbox.reset(config=True)
    hubspot = sandbox.router.apps["hubspot"]
    client = HubSpotClient(sandbox.url("hubspot"), "sandbox-hubspot-token", sleep=lambda s: None)
    store = LeadStore(sqlite_url)
    index = _seed(store)
    report = erase_person(store, index, client, "hubspot", "zelda@acme.com", "never-synced", kind="email")
    assert report.crm_outcome == "not_found_blocklisted" and report.counts["crm_records_deleted"] == 0
    assert hubspot.stats()["gdpr_blocklisted"] == 1 and hubspot.stats()["gdpr_deleted"] == 0
    # The blocklisted address cannot come back into the portal.
    refused = client.batch_upsert([{"idProperty": "email", "id": "zelda@acme.com", "properties": {},
                                    "objectWriteTraceId": "t"}])
    assert refused.status == 207 and refused.errors[0].codes == ["BLOCKLISTED_EMAIL"]

    # A contact the sync state does not know (state lost) is found by the search and deleted.
    sandbox.reset(config=True)
    created = client.batch_upsert([{"idProperty": "email", "id": "zelda@acme.com",
                                    "properties": {"firstname": "Zelda"}, "objectWriteTraceId": "t"}])
    assert created.results[0]["new"] is True
    index = _seed(store)
    report = erase_person(store, index, client, "hubspot", "zelda@acme.com", "synced", kind="email")
    assert report.crm_outcome == "deleted" and hubspot.stats()["gdpr_deleted"] == 1
    assert hubspot.contacts_snapshot() == [] and hubspot.stats()["gdpr_blocklisted"] == 0


def test_salesforce_delete_uses_the_recorded_lead_id(sqlite_url):
    from lead_assets.store.crm_sync_state import write_states
    from lead_assets.store.lead_store import LeadStore

    store = LeadStore(sqlite_url)
    index = _seed(store)
    write_states(store, "salesforce", pd.DataFrame([{"lead_id": "ld_a", "crm_id": "00Q5e0000000000001",
                                                     "state": "created"}]))
    client = _FakeSalesforce(204)
    report = erase_person(store, index, client, "salesforce", "zelda@acme.com", "r")
    assert report.crm_outcome == "deleted" and client.calls == [("DELETE", "/sobjects/Lead/00Q5e0000000000001")]
    assert erase_person(store, index, _FakeSalesforce(404), "salesforce", "zelda@acme.com", "r2").crm_outcome \
        == "not_found"


def test_erase_command_runs_the_job_and_deletes_its_run_record(tmp_path, monkeypatch, capsys):
    import argparse
    import json

    from lead_assets.privacy_cli import add_privacy_commands
    from lead_assets.store.lead_store import LeadStore

    url = f"sqlite:///{tmp_path / 'leads.db'}"
    for var in ("LEAD_SPRINT_SANDBOX", "CRM_TARGET", "REDIS_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LEADS_DATABASE_URL", url)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    store = LeadStore(url)
    _seed(store)
    parser = argparse.ArgumentParser()
    add_privacy_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["erase", "--email", "Zelda@Acme.com", "--request-id", "dsr-cli"])
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["leads_erased"] == 1 and out["subject_hash"] == sha("zelda@acme.com") and "zelda" not in str(out)
    assert "ld_a" not in set(store.read_sql("SELECT lead_id FROM leads")["lead_id"])
    with dg.DagsterInstance.get() as instance:
        assert instance.get_runs() == []  # the run's config named the person: deleted
