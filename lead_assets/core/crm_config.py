"""CRM export configuration: `config/crm.yaml` (mapping, rules, batching) plus the environment.

The YAML holds what is versioned with the code; the environment says which CRM to use and
how to reach it. `CRM_TARGET` names a registered CRM (`lead_assets.crm.registry.CRMS`), unset:
no CRM sync (the status says so). Each CRM reads its own `crm.yaml` section and its own
environment variables (`HUBSPOT_*`, `SALESFORCE_*`): see that CRM's module in `lead_assets/crm/`.

This module holds what every CRM shares: the field rules, the sync bounds and the
`CrmConfig` that carries each registered CRM's settings under its name (`config.hubspot`).
Nothing here imports Dagster or a client; the CRM registry is imported when a config is loaded
(`lead_assets.crm` is Dagster-free and imports this module).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from lead_assets.core.lead_schema import LEAD_COLUMNS

CRM_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config" / "crm.yaml"
FIELD_TYPES = ("string", "number")
TOO_LONG_RULES = ("truncate", "reject")


@dataclass(frozen=True)
class FieldRule:
    """One lead field -> one CRM field, with its length rule."""

    lead_field: str
    target: str
    type: str = "string"
    max_length: int | None = None
    on_too_long: str = "reject"
    fallback: str | None = None
    required: bool = False


@dataclass(frozen=True)
class CrmConfig:
    """The whole CRM export configuration; `target` None means no CRM sync.

    `settings` maps every registered CRM's name to its settings (its adapter's `load_settings`);
    they read as attributes too: `config.hubspot` is `config.settings["hubspot"]`.
    """

    target: str | None
    max_attempts_per_record: int
    max_records_per_run: int | None
    max_consecutive_call_failures: int
    settings: Mapping[str, Any]
    version: int = 1
    extra: dict = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        # Only called for names that are not fields: a CRM's settings by the CRM's name.
        settings = self.__dict__.get("settings") or {}
        if name in settings:
            return settings[name]
        raise AttributeError(f"{type(self).__name__} has no attribute or CRM named {name!r}")

    def rules(self, crm: str) -> tuple[FieldRule, ...]:
        """The field rules of `crm`."""
        return self.settings[crm].fields

    def with_target(self, target: str | None) -> CrmConfig:
        """The same configuration aimed at another CRM (or none)."""
        return replace(self, target=_target(target))

    def with_settings(self, crm: str, **changes: Any) -> CrmConfig:
        """The same configuration with some of `crm`'s settings changed (tests, benchmarks)."""
        return replace(self, settings={**self.settings, crm: replace(self.settings[crm], **changes)})


def crm_names() -> tuple[str, ...]:
    """The registered CRMs, the values `CRM_TARGET` accepts."""
    from lead_assets.crm.registry import CRMS  # here, not at the top: lead_assets.crm imports this module

    return tuple(CRMS)


def _target(value: str | None) -> str | None:
    value = (value or "").strip().lower() or None
    if value is not None and value not in crm_names():
        raise ValueError(f"CRM_TARGET must be one of {crm_names()} or unset, not {value!r}")
    return value


def field_rules(raw: Mapping[str, Any] | None, target_key: str, section: str) -> tuple[FieldRule, ...]:
    """The `fields` of one CRM's crm.yaml `section`, each lead field mapped to `spec[target_key]`."""
    rules = []
    for lead_field, spec in (raw or {}).items():
        if lead_field not in LEAD_COLUMNS:
            raise ValueError(f"crm.yaml {section}.fields: {lead_field!r} is not a lead column")
        if not isinstance(spec, Mapping) or not spec.get(target_key):
            raise ValueError(f"crm.yaml {section}.fields.{lead_field} needs a {target_key!r}")
        rule = FieldRule(
            lead_field=lead_field,
            target=str(spec[target_key]),
            type=str(spec.get("type", "string")),
            max_length=int(spec["max_length"]) if spec.get("max_length") else None,
            on_too_long=str(spec.get("on_too_long", "reject")),
            fallback=spec.get("fallback"),
            required=bool(spec.get("required", False)),
        )
        if rule.type not in FIELD_TYPES:
            raise ValueError(f"crm.yaml {section}.fields.{lead_field}: type must be one of {FIELD_TYPES}")
        if rule.on_too_long not in TOO_LONG_RULES:
            raise ValueError(
                f"crm.yaml {section}.fields.{lead_field}: on_too_long must be one of {TOO_LONG_RULES}"
            )
        if rule.fallback is not None and rule.fallback not in LEAD_COLUMNS:
            raise ValueError(
                f"crm.yaml {section}.fields.{lead_field}: fallback {rule.fallback!r} is not a lead column"
            )
        rules.append(rule)
    targets = [r.target for r in rules]
    dupes = sorted({t for t in targets if targets.count(t) > 1})
    if dupes:
        raise ValueError(f"crm.yaml {section}.fields map several lead fields to {dupes}")
    return tuple(rules)


def timeout_pair(value: Any, default: tuple[float, float]) -> tuple[float, float]:
    """A `[connect, read]` timeout from crm.yaml, or `default`."""
    if not value:
        return default
    a, b = value
    return float(a), float(b)


def load_crm_config(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None) -> CrmConfig:
    """Parse `crm.yaml` (or `path`) and apply the environment (`env`, default `os.environ`)."""
    from lead_assets.crm.registry import CRMS  # here, not at the top: lead_assets.crm imports this module

    env = os.environ if env is None else env
    raw = yaml.safe_load(Path(path or CRM_CONFIG_PATH).read_text())
    sync = raw.get("sync") or {}
    settings = {name: adapter.load_settings(raw.get(name) or {}, env) for name, adapter in CRMS.items()}
    cap = sync.get("max_records_per_run")
    return CrmConfig(
        target=_target(env.get("CRM_TARGET")),
        max_attempts_per_record=int(sync.get("max_attempts_per_record", 3)),
        max_records_per_run=int(cap) if cap else None,
        max_consecutive_call_failures=int(sync.get("max_consecutive_call_failures", 3)),
        settings=settings,
        version=int(raw.get("version", 1)),
    )
