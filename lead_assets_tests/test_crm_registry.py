"""The CRM registry: every registered adapter is complete, an unknown CRM is named clearly, and a CRM
added to `CRMS` is reachable everywhere the export, setup and erasure choose a CRM."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass

import pytest

from lead_assets.config.environment import SETTINGS
from lead_assets.core.crm_config import CrmConfig, FieldRule, field_rules, load_crm_config
from lead_assets.core.crm_mapping import MappingReport
from lead_assets.crm import CRMS, build_crm_client, crm_adapter, crm_setup, sync_to_crm
from lead_assets.crm.adapter import CrmAdapter, ErasureSubject
from lead_assets.crm.runner import CrmRun
from lead_assets.crm.setup import SetupReport
from lead_assets.defs.resources import CrmResource


class _ReadEnv(dict):
    """An empty environment that remembers which variables were asked for."""

    def __init__(self):
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key, default=None):
        self.asked.add(key)
        return default


def test_unknown_crm_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown CRM 'pipedrive': the known CRMs are hubspot, salesforce"):
        crm_adapter("pipedrive")
    cfg = load_crm_config(env={})
    with pytest.raises(ValueError, match="known CRMs are hubspot, salesforce"):
        sync_to_crm(None, "pipedrive", None, cfg)
    with pytest.raises(ValueError, match="CRM_TARGET must be one of \\('hubspot', 'salesforce'\\)"):
        load_crm_config(env={"CRM_TARGET": "pipedrive"})


@pytest.mark.parametrize("name", sorted(CRMS))
def test_every_registered_adapter_implements_the_protocol(name):
    adapter = CRMS[name]
    assert isinstance(adapter, CrmAdapter) and adapter.name == name and adapter.label
    assert not getattr(type(adapter), "__abstractmethods__", set())  # every abstract method implemented
    assert issubclass(adapter.run_class, CrmRun) and adapter.run_class.send is not CrmRun.send
    assert all(issubclass(e, Exception) for e in (*adapter.deferral_errors, *adapter.stop_errors))
    cfg = load_crm_config(env={})
    settings = cfg.settings[name]
    assert getattr(cfg, name) is settings and cfg.rules(name) == settings.fields and settings.fields
    assert isinstance(adapter.identity_field(cfg), str) and adapter.identity_field(cfg)
    with pytest.raises(ValueError):  # no credentials in an empty environment: the error names the setting
        adapter.build_client(cfg)


@pytest.mark.parametrize("name", sorted(CRMS))
def test_every_setting_an_adapter_reads_is_documented_and_reaches_the_resource(name):
    env = _ReadEnv()
    CRMS[name].load_settings({}, env)
    assert env.asked, "an adapter reads its credentials from the environment"
    assert env.asked <= set(SETTINGS), sorted(env.asked - set(SETTINGS))
    assert {n.lower() for n in env.asked} <= set(CrmResource.model_fields)


# -- a third CRM is one adapter and one registry entry ------------------------------------------


@dataclass(frozen=True)
class _PipeSettings:
    token: str | None
    fields: tuple[FieldRule, ...]


class _PipeAdapter(CrmAdapter):
    name = "pipe"
    label = "Pipe"
    run_class = CrmRun

    def __init__(self):
        self.erased: list[ErasureSubject] = []

    def load_settings(self, section: Mapping, env: Mapping[str, str]) -> _PipeSettings:
        return _PipeSettings(env.get("PIPE_TOKEN") or None,
                             field_rules({"email": {"field": "mail"}}, "field", "pipe"))

    def build_client(self, config: CrmConfig, *, logger=None, sleep=None):
        return ("pipe-client", self.settings(config).token)

    def identity_field(self, config: CrmConfig) -> str:
        return "li"

    def validate_mapping(self, client, config: CrmConfig) -> MappingReport:
        return MappingReport(self.name)

    def setup(self, client, config: CrmConfig, log: logging.Logger) -> SetupReport:
        return SetupReport(self.name, ["li"], [], self.validate_mapping(client, config))

    def erase(self, client, subject: ErasureSubject) -> list[str]:
        self.erased.append(subject)
        return ["deleted"] if subject.emails else []


def test_a_registered_crm_is_reachable_from_config_client_setup_and_erasure(monkeypatch, sqlite_url):
    from lead_assets.pipeline.erasure import erase_person
    from lead_assets.store.lead_store import LeadStore

    pipe = _PipeAdapter()
    monkeypatch.setitem(CRMS, "pipe", pipe)
    cfg = load_crm_config(env={"CRM_TARGET": "pipe", "PIPE_TOKEN": "t"})
    assert cfg.target == "pipe" and cfg.pipe.token == "t" and cfg.rules("pipe")[0].target == "mail"
    assert build_crm_client(cfg) == ("pipe-client", "t")
    assert crm_setup("pipe", build_crm_client(cfg), cfg).created == ["li"]
    report = erase_person(LeadStore(sqlite_url), None, object(), "pipe", "nobody@example.com", "r", kind="email")
    assert report.crm_outcome == "deleted" and pipe.erased[0].emails == frozenset({"nobody@example.com"})


def test_the_crm_package_and_its_config_do_not_import_dagster():
    # core/crm_config.py reads the registry: that is only allowed while lead_assets.crm stays Dagster-free.
    code = ("import sys, lead_assets.crm; from lead_assets.core.crm_config import load_crm_config; "
            "load_crm_config(env={}); print('dagster' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
