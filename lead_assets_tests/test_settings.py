"""Settings are computed, not applied: loading the definitions starts nothing and changes no variable.

With LEAD_SPRINT_SANDBOX=1 the resources point at a running sandbox (read from its state file);
one that is not running yet is started by the first client a run builds.
"""

from __future__ import annotations

import os

import dagster as dg

from lead_assets.config.environment import (
    SANDBOX_BASE_URL_VARS,
    SANDBOX_DEFAULTS,
    effective_settings,
    sandbox_state_file,
)
from lead_assets.defs.resources import EnrichmentResource, resources
from lead_assets.sandbox import launcher


def _resource_values(definitions: dg.Definitions, key: str) -> dict:
    resource = definitions.resources[key]
    return {name: getattr(resource, name) for name in type(resource).model_fields}


def test_loading_the_definitions_in_sandbox_mode_starts_nothing_and_changes_no_variable(monkeypatch):
    monkeypatch.setenv("LEAD_SPRINT_SANDBOX", "1")
    before = dict(os.environ)
    children = dict(launcher._children)
    from lead_assets.definitions import defs

    d = defs()
    assert d.resolve_job_def("lead_sprint")
    assert dict(os.environ) == before
    assert launcher._children == children, "no sandbox process was started"
    assert not sandbox_state_file().exists()
    # No sandbox runs: nothing points a vendor at one, and no sandbox credential goes to a real vendor.
    apollo = _resource_values(resources(), "apollo")
    assert apollo["api_key"] in ("", dg.EnvVar("APOLLO_API_KEY"))


def test_effective_settings_point_vendors_at_a_sandbox_without_touching_the_environment():
    env = {"LEAD_SPRINT_SANDBOX": "1", "HUNTER_API_KEY": "operator-key", "HUNTER_BASE_URL": "https://api.hunter.io"}
    before = dict(os.environ)
    settings = effective_settings(env, sandbox_url="http://127.0.0.1:9/")
    assert dict(os.environ) == before
    assert settings["HUNTER_BASE_URL"] == "http://127.0.0.1:9/hunter"  # the sandbox answers every vendor
    assert settings["HUNTER_API_KEY"] == "operator-key"  # a credential the operator set is kept
    assert settings["NEVERBOUNCE_API_KEY"] == SANDBOX_DEFAULTS["NEVERBOUNCE_API_KEY"]
    assert {var for var in SANDBOX_BASE_URL_VARS} <= set(settings)
    assert effective_settings({"HUNTER_API_KEY": "k"}, sandbox_url="http://127.0.0.1:9") == {"HUNTER_API_KEY": "k"}


def test_a_run_starts_the_sandbox_when_its_first_client_is_built_and_the_definitions_then_read_it(monkeypatch):
    monkeypatch.setenv("LEAD_SPRINT_SANDBOX", "1")
    monkeypatch.setenv("LEAD_SPRINT_SANDBOX_POPULATION", "300")
    before = dict(os.environ)
    state = sandbox_state_file()
    try:
        settings = EnrichmentResource().settings()  # what `clients()` builds the waterfall from
        url = launcher.recorded_sandbox_url(state)
        assert url is not None and settings["HUNTER_BASE_URL"] == f"{url}/hunter"
        assert settings["HUNTER_API_KEY"] == SANDBOX_DEFAULTS["HUNTER_API_KEY"]
        assert launcher.health(url) is not None
        assert dict(os.environ) == before
        # Definitions loaded now read the running sandbox from its state file.
        apollo = _resource_values(resources(), "apollo")
        assert apollo["base_url"] == f"{url}/apollo" and apollo["api_key"] == SANDBOX_DEFAULTS["APOLLO_API_KEY"]
        assert dict(os.environ) == before
    finally:
        launcher.stop_sandbox(state)
