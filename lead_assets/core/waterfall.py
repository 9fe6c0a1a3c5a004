"""Waterfall enrichment decisions: pure functions, no HTTP and no database.

* which leads need which field (`work_needed`), and the domain a company lookup would use;
* what the ledger's history says about a (lead, provider, field) (`LedgerState`), and the
  next provider to ask (`next_provider`): stop at the first accepted answer, skip what was
  already answered within the TTL (found or not), never ask a stopped provider;
* whether an answer is confident enough (`confident`) and what a verifier's verdict makes of
  an email (`email_status_for`);
* the money: the budget guard (`can_spend`, `BudgetGuard`), projected spend, cost per
  qualified lead and the naive baseline (every lead x every provider).

The shares (`email_availability`, `company_completeness`) are the sprint scoreboard's
definitions (`store.metrics`) over a DataFrame of leads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import pandas as pd

from lead_assets.core.enrichment_config import (
    COMPANY,
    EMAIL,
    LOOKUP_ENDPOINTS,
    VERIFY_ENDPOINTS,
    EnrichmentConfig,
)
from lead_assets.core.lead_schema import COMPANY_FIELDS

# Ledger outcomes.
FOUND, NOT_FOUND, FAILED, UNVERIFIABLE = "found", "not_found", "failed", "unverifiable"
OUTCOMES = (FOUND, NOT_FOUND, FAILED, UNVERIFIABLE)

# Addresses at these domains say nothing about the employer: no company lookup from them.
FREE_EMAIL_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "yahoo.com", "outlook.com", "hotmail.com", "live.com", "msn.com",
        "icloud.com", "me.com", "aol.com", "proton.me", "protonmail.com", "gmx.com", "mail.com",
    }
)  # fmt: skip

# A verifier's verdict -> the lead's email_status. Risky verdicts (catch-all domains, servers
# that did not answer) keep the email as available but unverified.
_VERIFIED = {"valid"}
_UNDELIVERABLE = {"invalid", "disposable"}


def _blank(s: pd.Series) -> np.ndarray:
    arr = s.to_numpy(dtype=object)
    return np.array([not isinstance(v, str) or not v.strip() for v in arr], dtype=bool)


def _missing(s: pd.Series) -> np.ndarray:
    """True where a value is NA or blank text (numbers count as present)."""
    arr = s.to_numpy(dtype=object)
    return np.array([v is None or (isinstance(v, str) and not v.strip()) or bool(pd.isna(v)) for v in arr], bool)


# --------------------------------------------------------------------------------------------
# What the leads need.
# --------------------------------------------------------------------------------------------


def email_available(leads: pd.DataFrame) -> np.ndarray:
    """Per lead: a non-blank email whose status is not 'undeliverable' (the scoreboard's rule)."""
    undeliverable = leads["email_status"].astype(object).eq("undeliverable").to_numpy()
    return ~_blank(leads["email"]) & ~undeliverable


def company_complete(leads: pd.DataFrame) -> np.ndarray:
    """Per lead: website, industry and size all present."""
    complete = np.ones(len(leads), dtype=bool)
    for name in COMPANY_FIELDS:
        complete &= ~_missing(leads[name])
    return complete


def email_availability(leads: pd.DataFrame) -> float | None:
    """Share of leads with an available email (None for no leads)."""
    return float(email_available(leads).mean()) if len(leads) else None


def company_completeness(leads: pd.DataFrame) -> float | None:
    """Share of leads with complete company data (None for no leads)."""
    return float(company_complete(leads).mean()) if len(leads) else None


def email_domain(email: object) -> str | None:
    """The employer domain an address reveals (None for free mail hosts and non-addresses)."""
    if not isinstance(email, str) or email.count("@") != 1:
        return None
    domain = email.rsplit("@", 1)[1].strip().lower()
    return None if not domain or "." not in domain or domain in FREE_EMAIL_DOMAINS else domain


def work_needed(leads: pd.DataFrame) -> pd.DataFrame:
    """Per lead: `needs_email`, `needs_company`, and `domain` (website, else the email's domain).

    A lead needs an email when it has none that is available; it needs company data when
    website, industry or size is missing. Index and `lead_id` are kept.
    """
    website = leads["company_website"].astype(object)
    email_dom = leads["email"].astype(object).map(email_domain)
    domain = website.where(~pd.Series(_missing(website), index=leads.index), email_dom)
    return pd.DataFrame(
        {
            "lead_id": leads["lead_id"].to_numpy(),
            "needs_email": ~email_available(leads),
            "needs_company": ~company_complete(leads),
            "domain": domain.where(domain.notna(), None).to_numpy(dtype=object),
        },
        index=leads.index,
    )


# --------------------------------------------------------------------------------------------
# The ledger's history and the next provider.
# --------------------------------------------------------------------------------------------


class LedgerState(Enum):
    """What the ledger says about one (lead, provider, field) within the TTL."""

    UNASKED = "unasked"  # no row, an expired row, or an unpaid failure: asking is allowed
    ACCEPTED = "accepted"  # a confident answer: the waterfall stops here
    ANSWERED = "answered"  # asked and answered (nothing found, low score, undeliverable): never re-buy


def ledger_state(outcome: str | None, cost_usd: float | None, accepted: bool) -> LedgerState:
    """The state of one ledger row (`outcome` None = no live row).

    A failure the vendor charged for (an unreadable paid answer) counts as answered: asking
    again would pay twice. An unpaid failure may be retried in a later run.
    """
    if outcome is None or (outcome == FAILED and not (cost_usd or 0) > 0):
        return LedgerState.UNASKED
    if outcome == FOUND and accepted:
        return LedgerState.ACCEPTED
    return LedgerState.ANSWERED


def next_provider(
    order: Sequence[str], states: Mapping[str, LedgerState], stopped: Iterable[str] = ()
) -> str | None:
    """The next provider to ask for a field, or None (an accepted answer exists, or nobody is left)."""
    stopped = set(stopped)
    for provider in order:
        state = states.get(provider, LedgerState.UNASKED)
        if state is LedgerState.ACCEPTED:
            return None
        if state is LedgerState.UNASKED and provider not in stopped:
            return provider
    return None


def confident(confidence: float | None, min_confidence: float) -> bool:
    """An answer counts when its score reaches the provider's threshold (no score: threshold 0 only)."""
    if confidence is None or (isinstance(confidence, float) and np.isnan(confidence)):
        return min_confidence <= 0
    return float(confidence) >= min_confidence


def email_status_for(verdict: str | None) -> str:
    """A verifier's verdict -> email_status: 'verified', 'undeliverable' or 'unverified'."""
    if verdict in _VERIFIED:
        return "verified"
    if verdict in _UNDELIVERABLE:
        return "undeliverable"
    return "unverified"  # catch-all, unknown, webmail, or no verdict at all


# --------------------------------------------------------------------------------------------
# Money.
# --------------------------------------------------------------------------------------------


def can_spend(current: float, price: float, budget: float | None) -> bool:
    """Whether a call of `price` keeps spend within `budget` (None = no budget)."""
    return budget is None or current + price <= budget + 1e-9


@dataclass
class BudgetGuard:
    """Running spend against the budget and the per-lead ceiling; says why a call is refused."""

    budget_usd: float | None
    spent_usd: float = 0.0
    max_per_lead_usd: float | None = None
    per_lead: dict[str, float] = field(default_factory=dict)
    stopped_reason: str | None = None

    def refusal(self, lead_id: str, price: float) -> str | None:
        """None when a call of `price` for `lead_id` may go ahead, else the reason it may not."""
        if not can_spend(self.spent_usd, price, self.budget_usd):
            self.stopped_reason = (
                f"budget guard: a ${price:.4f} call would take spend from ${self.spent_usd:.2f} past the "
                f"${self.budget_usd:.2f} budget; paid calls stopped, free steps go on"
            )
            return self.stopped_reason
        if not can_spend(self.per_lead.get(lead_id, 0.0), price, self.max_per_lead_usd):
            return f"lead {lead_id} would pass the ${self.max_per_lead_usd:.2f} per-lead ceiling"
        return None

    def charge(self, lead_id: str | None, cost: float) -> None:
        """Book what a call actually cost."""
        self.spent_usd += cost
        if lead_id is not None:
            self.per_lead[lead_id] = self.per_lead.get(lead_id, 0.0) + cost


def projected_spend(calls: Mapping[tuple[str, str], float], config: EnrichmentConfig) -> float:
    """USD for `calls` {(provider, endpoint): number of calls} at the configured prices."""
    return sum(n * config.price(provider, endpoint) for (provider, endpoint), n in calls.items())


def cost_per_qualified_lead(spend_usd: float, qualified: int) -> float | None:
    """Spend divided by qualified leads (None when there are none)."""
    return spend_usd / qualified if qualified else None


def naive_calls(lead_count: int, config: EnrichmentConfig) -> dict[tuple[str, str], float]:
    """The naive baseline's calls: every lead looked up at every configured provider of every
    field, and (for emails) checked by every configured verifier."""
    calls: dict[tuple[str, str], float] = {}
    for plan in config.fields.values():
        for provider in plan.providers:
            key = (provider, LOOKUP_ENDPOINTS[(provider, plan.field)])
            calls[key] = calls.get(key, 0) + lead_count
        for verifier in plan.verifiers:
            if verifier not in plan.providers:  # a finder's own verification comes with its lookup
                key = (verifier, VERIFY_ENDPOINTS[verifier])
                calls[key] = calls.get(key, 0) + lead_count
    return calls


def naive_baseline_cost(
    lead_count: int, config: EnrichmentConfig, charge_rates: Mapping[tuple[str, str], float] | None = None
) -> float:
    """USD the naive baseline would spend on `lead_count` leads.

    `charge_rates` gives, per (provider, endpoint), the share of calls the vendor actually
    charges (Hunter's finder only charges when it finds an email); default 1 (list price).
    """
    rates = charge_rates or {}
    return sum(
        n * config.price(p, e) * float(rates.get((p, e), 1.0)) for (p, e), n in naive_calls(lead_count, config).items()
    )


__all__ = [
    "COMPANY",
    "EMAIL",
    "BudgetGuard",
    "LedgerState",
    "can_spend",
    "company_complete",
    "company_completeness",
    "confident",
    "cost_per_qualified_lead",
    "email_available",
    "email_availability",
    "email_domain",
    "email_status_for",
    "ledger_state",
    "naive_baseline_cost",
    "naive_calls",
    "next_provider",
    "projected_spend",
    "work_needed",
]
