"""Load `config/enrichment.yaml`: providers per field in order, thresholds, prices, TTL, budget.

Prices resolve against `sprint.yaml`'s `prices_usd` (an endpoint names a price key, or gives a
number), and the budget defaults to `targets.budget_usd`, so the sprint brief stays the one
place a price or the budget is written down. Everything is validated at load time: a typo in
a provider or price name fails here with the file and the key, not mid-run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ENRICHMENT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config" / "enrichment.yaml"

EMAIL = "email"
COMPANY = "company"
FIELDS = (EMAIL, COMPANY)
# The endpoint that looks a field up, per provider (what the pipeline knows how to call).
LOOKUP_ENDPOINTS: dict[tuple[str, str], str] = {
    ("hunter", EMAIL): "email-finder",
    ("clearbit", COMPANY): "companies/find",
}
# The endpoint that verifies an email, per verifier.
VERIFY_ENDPOINTS: dict[str, str] = {"neverbounce": "single/check", "hunter": "email-verifier"}


class EnrichmentConfigError(ValueError):
    """The enrichment configuration is inconsistent; the message names the file and the key."""


@dataclass(frozen=True)
class Endpoint:
    """One paid endpoint: at most `units` per call, at `unit_price_usd` each."""

    name: str
    units: float
    unit_price_usd: float

    @property
    def price_usd(self) -> float:
        """The most one call can cost (what the budget guard reserves)."""
        return self.units * self.unit_price_usd


@dataclass(frozen=True)
class ProviderConfig:
    """A vendor: where its settings live, the score its answers need, its windows and prices."""

    name: str
    base_url_setting: str
    default_base_url: str
    api_key_setting: str
    min_confidence: float
    rate_limits: dict[str, dict[str, int | None]]
    endpoints: dict[str, Endpoint]


@dataclass(frozen=True)
class FieldPlan:
    """The waterfall of one lead field: lookup providers in order (and verifiers for emails)."""

    field: str
    providers: tuple[str, ...]
    verifiers: tuple[str, ...] = ()


@dataclass(frozen=True)
class EnrichmentConfig:
    """The whole enrichment configuration, prices already in USD."""

    version: int
    ledger_ttl_days: float
    budget_usd: float
    max_spend_per_lead_usd: float | None
    max_consecutive_failures: int
    fields: dict[str, FieldPlan]
    providers: dict[str, ProviderConfig]
    source: str = field(default="", compare=False)

    def plan(self, field_name: str) -> FieldPlan:
        """The waterfall of `field_name` (an empty one when the field is not configured)."""
        return self.fields.get(field_name, FieldPlan(field_name, ()))

    def endpoint(self, provider: str, endpoint: str) -> Endpoint:
        """The priced endpoint (KeyError naming both when it is not configured)."""
        try:
            return self.providers[provider].endpoints[endpoint]
        except KeyError:
            raise KeyError(f"no price configured for {provider} {endpoint} in {self.source}") from None

    def price(self, provider: str, endpoint: str) -> float:
        """USD the budget guard reserves for one call."""
        return self.endpoint(provider, endpoint).price_usd

    def min_confidence(self, provider: str) -> float:
        """The score an answer of `provider` needs to count (0 when it gives none)."""
        return self.providers[provider].min_confidence


def _number(value: Any, where: str, *, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < minimum:
        raise EnrichmentConfigError(f"{where} must be a number >= {minimum:g}, not {value!r}")
    return float(value)


def _endpoints(raw: Any, where: str, prices: Mapping[str, float]) -> dict[str, Endpoint]:
    if not isinstance(raw, Mapping) or not raw:
        raise EnrichmentConfigError(f"{where} must map endpoint names to {{units, unit_price}}")
    out = {}
    for name, spec in raw.items():
        at = f"{where}.{name}"
        if not isinstance(spec, Mapping):
            raise EnrichmentConfigError(f"{at} must be a mapping with units and unit_price")
        unit_price = spec.get("unit_price")
        if isinstance(unit_price, str):
            if unit_price not in prices:
                raise EnrichmentConfigError(
                    f"{at}.unit_price names {unit_price!r}, which is not in sprint.yaml prices_usd "
                    f"({', '.join(sorted(prices))})"
                )
            unit_price = prices[unit_price]
        out[str(name)] = Endpoint(
            str(name), _number(spec.get("units", 1), f"{at}.units"), _number(unit_price, f"{at}.unit_price")
        )
    return out


def _provider(name: str, raw: Any, where: str, prices: Mapping[str, float]) -> ProviderConfig:
    if not isinstance(raw, Mapping):
        raise EnrichmentConfigError(f"{where} must be a mapping")
    for key in ("base_url_setting", "default_base_url", "api_key_setting"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise EnrichmentConfigError(f"{where}.{key} must be a non-empty string")
    limits = raw.get("rate_limits") or {}
    if not isinstance(limits, Mapping) or not all(isinstance(v, Mapping) for v in limits.values()):
        raise EnrichmentConfigError(f"{where}.rate_limits must map endpoint classes to {{window: limit}}")
    return ProviderConfig(
        name=name,
        base_url_setting=raw["base_url_setting"],
        default_base_url=raw["default_base_url"],
        api_key_setting=raw["api_key_setting"],
        min_confidence=_number(raw.get("min_confidence", 0), f"{where}.min_confidence"),
        rate_limits={str(c): dict(w) for c, w in limits.items()},
        endpoints=_endpoints(raw.get("endpoints"), f"{where}.endpoints", prices),
    )


def parse_enrichment_config(
    raw: Mapping[str, Any], *, prices_usd: Mapping[str, float], budget_usd: float, source: str = "<dict>"
) -> EnrichmentConfig:
    """Validate a parsed enrichment.yaml; `prices_usd`/`budget_usd` come from the sprint brief."""
    if not isinstance(raw, Mapping):
        raise EnrichmentConfigError(f"{source}: the top level must be a mapping")
    providers = {
        str(name): _provider(str(name), spec, f"{source}: providers.{name}", prices_usd)
        for name, spec in (raw.get("providers") or {}).items()
    }
    fields: dict[str, FieldPlan] = {}
    for name, spec in (raw.get("fields") or {}).items():
        where = f"{source}: fields.{name}"
        if name not in FIELDS:
            raise EnrichmentConfigError(f"{where}: unknown field (known: {', '.join(FIELDS)})")
        spec = spec or {}
        order = tuple(spec.get("providers") or ())
        verifiers = tuple(spec.get("verifiers") or ())
        for p in order:
            if p not in providers:
                raise EnrichmentConfigError(f"{where}.providers names {p!r}, which has no providers entry")
            if (p, name) not in LOOKUP_ENDPOINTS:
                raise EnrichmentConfigError(f"{where}.providers: the pipeline cannot look {name} up at {p!r}")
            if LOOKUP_ENDPOINTS[(p, name)] not in providers[p].endpoints:
                raise EnrichmentConfigError(f"{where}: {p} needs a price for {LOOKUP_ENDPOINTS[(p, name)]}")
        for v in verifiers:
            if v not in VERIFY_ENDPOINTS or v not in providers:
                raise EnrichmentConfigError(f"{where}.verifiers names {v!r}, which is not a configured verifier")
            if VERIFY_ENDPOINTS[v] not in providers[v].endpoints:
                raise EnrichmentConfigError(f"{where}: {v} needs a price for {VERIFY_ENDPOINTS[v]}")
        if verifiers and name != EMAIL:
            raise EnrichmentConfigError(f"{where}.verifiers: only emails are verified")
        fields[name] = FieldPlan(name, order, verifiers)
    per_lead = raw.get("max_spend_per_lead_usd")
    budget = raw.get("budget_usd")
    return EnrichmentConfig(
        version=int(raw.get("version", 1)),
        ledger_ttl_days=_number(raw.get("ledger_ttl_days", 90), f"{source}: ledger_ttl_days", minimum=1e-6),
        budget_usd=_number(budget_usd if budget is None else budget, f"{source}: budget_usd"),
        max_spend_per_lead_usd=None if per_lead is None else _number(per_lead, f"{source}: max_spend_per_lead_usd"),
        max_consecutive_failures=int(
            _number(raw.get("max_consecutive_failures", 5), f"{source}: max_consecutive_failures", minimum=1)
        ),
        fields=fields,
        providers=providers,
        source=source,
    )


def load_enrichment_config(path: str | Path | None = None, *, sprint) -> EnrichmentConfig:
    """Parse `enrichment.yaml` (or `path`) against the sprint brief `sprint` (its prices and budget)."""
    path = Path(path or ENRICHMENT_CONFIG_PATH)
    raw = yaml.safe_load(path.read_text())
    return parse_enrichment_config(
        raw, prices_usd=sprint.prices_usd, budget_usd=float(sprint.targets.budget_usd), source=str(path)
    )
