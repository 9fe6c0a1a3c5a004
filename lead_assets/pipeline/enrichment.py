"""Waterfall enrichment of stored leads: missing emails (found, then verified) and company data.

`enrich_leads` reads the leads, asks the ledger what is already known, and for each lead that
still needs a field asks the configured providers in order until one gives a confident
answer. Every paid call is written to the ledger, the cost ledger and `vendor_calls` in one
transaction as soon as it returns, so a run killed mid-way never buys the same answer again:
the next run finds it in the ledger and applies it for free. Then the leads are updated
(email + email_status, company fields; never overwriting what a source supplied), re-scored,
and every filled field gets its provenance row.

* Emails: finder (Hunter) -> confident? -> verifier (NeverBounce, else Hunter's own) ->
  'verified' / 'unverified' (catch-all, unknown) / 'undeliverable' (kept, not counted as
  available; the waterfall moves on to the next finder, if any).
* Company data: by the employer's domain (website, else the email's domain, else the domain
  the finder resolved); a domain answered once (found or not) is never bought again for
  another lead of the same company.
* Money: a budget guard stops paid calls before one would pass the budget (the report says so);
  free steps (ledger replays, re-scoring) go on. A provider whose plan is spent (Hunter 429),
  whose key is refused, or whose window stays closed is stopped for the run, the run goes on.

Decisions live in `core.waterfall`; prices, order and thresholds in `config/enrichment.yaml`.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from lead_assets.clients.clearbit import ClearbitClient
from lead_assets.clients.errors import (
    AnswerPending,
    QuotaExhausted,
    RateLimitExhausted,
    UnreadablePaidResponse,
    VendorAuthError,
    VendorError,
)
from lead_assets.clients.hunter import HunterClient
from lead_assets.clients.neverbounce import NeverBounceClient
from lead_assets.core.enrichment_config import (
    COMPANY,
    EMAIL,
    LOOKUP_ENDPOINTS,
    VERIFY_ENDPOINTS,
    EnrichmentConfig,
)
from lead_assets.core.normalise import normalise_leads
from lead_assets.core.scoring import score_leads
from lead_assets.core.titles import TitleMatcher
from lead_assets.core.waterfall import (
    FAILED,
    FOUND,
    NOT_FOUND,
    UNVERIFIABLE,
    BudgetGuard,
    LedgerState,
    company_completeness,
    confident,
    cost_per_qualified_lead,
    email_availability,
    email_status_for,
    ledger_state,
    naive_baseline_cost,
    next_provider,
    work_needed,
)
from lead_assets.store.enrichment_ledger import (
    read_ledger,
    record_lookup,
    shared_answers,
    shared_finder_answer,
    total_spend,
    upsert_provenance,
)
from lead_assets.store.lead_store import LeadStore, utc_now
from lead_assets.store.suppression import suppressed_lead_ids

VERIFICATION = "email_verification"  # ledger field of a verifier's check of a found email
CLIENT_CLASSES = {"hunter": HunterClient, "neverbounce": NeverBounceClient, "clearbit": ClearbitClient}
_COMPANY_COLUMNS = {"website": "company_website", "industry": "company_industry", "size": "company_size"}
_STOPPING = (QuotaExhausted, VendorAuthError, RateLimitExhausted)


@dataclass
class Answer:
    """One provider's answer, vendor-neutral: what the ledger row will say."""

    outcome: str
    value: str | None = None
    confidence: float | None = None
    verification_status: str | None = None
    lookup_key: str | None = None
    units: float = 0.0  # what the vendor charged for it


@dataclass
class EnrichmentReport:
    """What one enrichment run did: the numbers the asset metadata and the benchmark print."""

    run_id: str | None
    partition_key: str | None
    leads: int = 0
    held_elsewhere: int = 0  # leads another run was enriching at the same time: left to it
    needing_email: int = 0
    needing_company: int = 0
    email_availability_before: float | None = None
    email_availability_after: float | None = None
    company_completeness_before: float | None = None
    company_completeness_after: float | None = None
    spend_usd: float = 0.0
    total_spend_usd: float = 0.0
    budget_usd: float | None = None
    budget_stopped: bool = False
    budget_message: str | None = None
    calls: dict[str, int] = field(default_factory=dict)  # "provider endpoint" -> lookups answered or failed
    hits: dict[str, int] = field(default_factory=dict)  # provider -> confident answers bought
    replayed: int = 0  # answers taken from the ledger or another lead's lookup, for free
    emails_found: int = 0
    emails_verified: int = 0
    emails_undeliverable: int = 0
    companies_filled: int = 0
    leads_updated: int = 0
    qualified: int = 0
    cost_per_qualified_lead: float | None = None
    naive_baseline_usd: float | None = None
    stopped_providers: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def as_metadata(self) -> dict[str, Any]:
        """Flat JSON-ready numbers (errors counted, messages kept short)."""
        d = asdict(self)
        d["errors"] = len(self.errors)
        d["calls"] = sum(self.calls.values())
        d["hits"] = sum(self.hits.values())
        d["stopped_providers"] = ", ".join(sorted(self.stopped_providers)) or None
        return d


def clients_from_env(config: EnrichmentConfig, environ: Mapping[str, str], **client_kwargs: Any) -> dict[str, Any]:
    """Clients for every provider whose API key is in `environ` (`HUNTER_API_KEY` ...); the others are absent.

    `environ` is the settings mapping `EnrichmentResource` hands over (never `os.environ` read
    here: clients are built by the resource). The base URL comes from the provider's
    `*_BASE_URL` setting or its public default; the client-side rate windows from the configuration.
    """
    clients = {}
    for name, provider in config.providers.items():
        key = environ.get(provider.api_key_setting)
        if not key or name not in CLIENT_CLASSES:
            continue
        base = environ.get(provider.base_url_setting) or provider.default_base_url
        kwargs = {"limits": provider.rate_limits or None, **client_kwargs}
        clients[name] = CLIENT_CLASSES[name](base, key, **kwargs)
    return clients


# --------------------------------------------------------------------------------------------
# Provider adapters: one client call -> an Answer.
# --------------------------------------------------------------------------------------------


def _hunter_find(client: HunterClient, lead: Mapping[str, Any], domain: str | None) -> Answer:
    found = client.find_email(
        lead["first_name"], lead["last_name"], domain=domain, company=None if domain else lead["company_name"]
    )
    return Answer(
        FOUND if found.email else NOT_FOUND,
        value=found.email.lower() if found.email else None,
        confidence=found.score,
        verification_status=found.verification_status,  # Hunter's own check, if it made one
        lookup_key=(found.domain or domain or "").lower() or None,
        units=found.credits,
    )


def _hunter_verify(client: HunterClient, email: str) -> Answer:
    checked = client.verify_email(email)
    return Answer(FOUND, value=email, verification_status=checked.status, lookup_key=email, units=checked.credits)


def _neverbounce_verify(client: NeverBounceClient, email: str) -> Answer:
    checked = client.check(email)
    return Answer(FOUND, value=email, verification_status=checked.result, lookup_key=email, units=checked.credits)


def _clearbit_find(client: ClearbitClient, domain: str) -> Answer:
    company = client.find_company(domain)
    if company is None:
        return Answer(NOT_FOUND, lookup_key=domain, units=1.0)
    value = {"website": company.domain or domain, "industry": company.industry, "size": company.employees}
    # An exact domain match: Clearbit gives no score, so the answer is as sure as the domain.
    return Answer(FOUND, value=json.dumps(value, sort_keys=True), confidence=100.0, lookup_key=domain, units=1.0)


FINDERS: dict[str, Callable[..., Answer]] = {"hunter": _hunter_find}
VERIFIERS: dict[str, Callable[..., Answer]] = {"neverbounce": _neverbounce_verify, "hunter": _hunter_verify}
COMPANY_FINDERS: dict[str, Callable[..., Answer]] = {"clearbit": _clearbit_find}


# --------------------------------------------------------------------------------------------
# One run.
# --------------------------------------------------------------------------------------------


class _Run:
    """State of one enrichment run: the ledger as known so far, the guard, the report."""

    def __init__(self, store, clients, config, guard, report, run_id, partition_key, log, now):
        self.store: LeadStore = store
        self.clients: Mapping[str, Any] = clients
        self.config: EnrichmentConfig = config
        self.guard: BudgetGuard = guard
        self.report: EnrichmentReport = report
        self.run_id, self.partition_key = run_id, partition_key
        self.log: logging.Logger = log
        self._now = now
        self.ledger: dict[tuple[str, str, str], dict] = {}
        self.shared: dict[tuple[str, str], dict] = {}  # (provider, domain or email) -> answered row
        self.stopped: set[str] = {p for p in config.providers if p not in clients}
        self.failures: Counter = Counter()
        self.verdicts: dict[tuple[str, str], tuple[str, str | None] | None] = {}  # (lead, email) -> this run's
        self.updates: dict[str, dict[str, Any]] = {}
        self.provenance: list[dict] = []
        self.calls: Counter = Counter()  # (provider, endpoint) -> calls made
        self.charged: Counter = Counter()  # ... of which the vendor charged for
        self.hits: Counter = Counter()

    def now(self) -> datetime:
        return self._now or utc_now()

    # -- ledger and money -------------------------------------------------------------------

    def state(self, lead_id: str, provider: str, field_name: str, accepted: Callable[[dict], bool]) -> LedgerState:
        row = self.ledger.get((lead_id, provider, field_name))
        if row is None:
            return LedgerState.UNASKED
        return ledger_state(row["outcome"], row["cost_usd"], row["outcome"] == FOUND and accepted(row))

    def stop(self, provider: str, reason: str) -> None:
        if provider not in self.report.stopped_providers:
            self.report.stopped_providers[provider] = reason
            self.report.errors.append(reason)
            self.log.warning("enrichment: %s stopped for this run: %s", provider, reason)
        self.stopped.add(provider)

    def paid_call(
        self, provider: str, endpoint: str, field_name: str, lead_id: str, call: Callable[[], Answer], key: str | None
    ) -> dict | None:
        """Make one paid call within the budget and remember it; None when no call was made."""
        if provider in self.stopped or self.guard.stopped_reason:
            return None
        refusal = self.guard.refusal(lead_id, self.config.price(provider, endpoint))
        if refusal:
            if self.guard.stopped_reason:  # the budget, not just this lead's ceiling: every paid call stops
                self.report.budget_stopped, self.report.budget_message = True, refusal
                self.log.warning("enrichment: %s", refusal)
            return None
        client = self.clients[provider]
        try:
            answer = call()
            self.failures[provider] = 0
        except _STOPPING as exc:
            self.stop(provider, str(exc))
            self._record(client, [])
            return None
        except UnreadablePaidResponse as exc:  # charged, unreadable: remembered so it is never re-bought
            self.report.errors.append(str(exc))
            answer = Answer(FAILED, lookup_key=key, units=self.config.endpoint(provider, endpoint).units)
        except AnswerPending as exc:  # not ready after polling; unpaid
            self.report.errors.append(str(exc))
            answer = Answer(UNVERIFIABLE if field_name == VERIFICATION else FAILED, lookup_key=key)
        except VendorError as exc:
            self.report.errors.append(str(exc))
            answer = Answer(FAILED, lookup_key=key)
            self.failures[provider] += 1
            if self.failures[provider] >= self.config.max_consecutive_failures:
                self.stop(provider, f"{provider}: {self.failures[provider]} failed calls in a row; last: {exc}")
        unit_price = self.config.endpoint(provider, endpoint).unit_price_usd
        now = self.now()
        row = {
            "lead_id": lead_id,
            "provider": provider,
            "field": field_name,
            "outcome": answer.outcome,
            "value": answer.value,
            "confidence": answer.confidence,
            "verification_status": answer.verification_status,
            "lookup_key": answer.lookup_key,
            "cost_usd": answer.units * unit_price,
            "looked_up_at": now,
            "expires_at": now + timedelta(days=self.config.ledger_ttl_days),
            "run_id": self.run_id,
            "partition_key": self.partition_key,
        }
        costs = []
        if answer.units > 0:
            costs.append(
                {"vendor": provider, "endpoint": endpoint, "units": answer.units, "unit_price_usd": unit_price,
                 "cost_usd": row["cost_usd"], "run_id": self.run_id, "partition_key": self.partition_key,
                 "lead_id": lead_id, "called_at": now}
            )
        self._record(client, [row], costs)
        self.ledger[(lead_id, provider, field_name)] = row
        self.guard.charge(lead_id, row["cost_usd"])
        self.report.spend_usd += row["cost_usd"]
        self.calls[(provider, endpoint)] += 1
        self.charged[(provider, endpoint)] += answer.units > 0
        return row

    def _record(self, client, rows: list[dict], costs: Sequence[dict] = ()) -> None:
        """The ledger rows, their cost rows and the client's call log, in one transaction."""
        calls = [c.as_row(self.partition_key, self.run_id) for c in client.drain_calls()]
        record_lookup(self.store, rows, costs=costs, calls=calls)

    def replay(self, lead_id: str, provider: str, field_name: str, source: dict) -> dict:
        """Copy another lead's answer about the same thing into this lead's ledger, at no cost."""
        row = {**source, "lead_id": lead_id, "cost_usd": 0.0, "run_id": self.run_id,
               "partition_key": self.partition_key, "looked_up_at": self.now()}
        record_lookup(self.store, [row])
        self.ledger[(lead_id, provider, field_name)] = row
        self.report.replayed += 1
        return row

    # -- emails -----------------------------------------------------------------------------

    def _known_verdict(self, lead_id: str, email: str, finder: str, verifier: str) -> tuple[str, str | None] | None:
        """What `verifier` already said about `email` (free), or None."""
        row = self.ledger.get((lead_id, verifier, VERIFICATION))
        if row is not None and row["value"] == email and row["outcome"] in (FOUND, UNVERIFIABLE):
            return verifier, row["verification_status"] if row["outcome"] == FOUND else None
        own = self.ledger.get((lead_id, finder, EMAIL))
        if verifier == finder and own is not None and own["value"] == email and own.get("verification_status"):
            return verifier, own["verification_status"]  # the finder checked the address itself
        return None

    def _shared_find(self, provider: str, lead: Mapping[str, Any], domain: str | None) -> dict | None:
        """What `provider` answered for a namesake of `lead` at `domain` (any lead, live), or None."""
        if not (domain and lead.get("first_name") and lead.get("last_name")):
            return None
        found = _records(shared_finder_answer(self.store, provider, EMAIL, lead["first_name"], lead["last_name"],
                                              domain, now=self.now()))
        return found[0] if found else None

    def _shared_verdict(self, verifier: str, email: str) -> dict | None:
        """A live verdict of `verifier` on `email` that any lead's lookup recorded, or None."""
        if (verifier, email) not in self.shared:
            found = _records(shared_answers(self.store, verifier, VERIFICATION, [email], now=self.now()))
            if not found:
                return None
            self.shared[(verifier, email)] = found[0]
        return self.shared[(verifier, email)]

    def _verdict(self, lead_id: str, email: str, finder: str) -> tuple[str, str | None] | None:
        """The verdict that counts as known now, without a call: (verifier, verdict), or None."""
        if (lead_id, email) in self.verdicts:
            return self.verdicts[(lead_id, email)]
        for verifier in self.config.plan(EMAIL).verifiers:
            known = self._known_verdict(lead_id, email, finder, verifier)
            if known is not None:
                return known
            if verifier not in self.stopped:
                return None  # this verifier has yet to be asked
        return None

    def _confident(self, row: dict) -> bool:
        return confident(row["confidence"], self.config.min_confidence(row["provider"]))

    def _accepted_email(self, row: dict) -> bool:
        if not self._confident(row):
            return False
        verdict = self._verdict(row["lead_id"], row["value"], row["provider"])
        return verdict is None or email_status_for(verdict[1]) != "undeliverable"

    def _verify(self, lead_id: str, email: str, finder: str) -> tuple[str, str | None] | None:
        """Verify `email` with the first verifier that can answer: (verifier, verdict), or None.

        Asked once per run: the answer (even "nobody could tell") is what `_verdict` says from
        then on, so the waterfall cannot go round in circles over a verifier it could not reach.
        """
        if (lead_id, email) not in self.verdicts:
            self.verdicts[(lead_id, email)] = self._ask_verifiers(lead_id, email, finder)
        return self.verdicts[(lead_id, email)]

    def _ask_verifiers(self, lead_id: str, email: str, finder: str) -> tuple[str, str | None] | None:
        for verifier in self.config.plan(EMAIL).verifiers:
            known = self._known_verdict(lead_id, email, finder, verifier)
            if known is not None:
                return known
            if verifier in self.stopped:
                continue
            # A verdict is about the address, not the person: one another lead paid for is reused
            # (two namesakes at one employer get the same guessed address).
            shared = self._shared_verdict(verifier, email)
            if shared is not None:
                row = self.replay(lead_id, verifier, VERIFICATION, shared)
            else:
                row = self.paid_call(
                    verifier, VERIFY_ENDPOINTS[verifier], VERIFICATION, lead_id,
                    lambda v=verifier: VERIFIERS[v](self.clients[v], email), email,
                )
                if row is not None and row["outcome"] == FOUND:
                    self.shared[(verifier, email)] = row
            if row is not None and row["outcome"] in (FOUND, UNVERIFIABLE):
                return verifier, row["verification_status"] if row["outcome"] == FOUND else None
            if self.guard.stopped_reason:
                return None
        return None

    def enrich_email(self, lead: Mapping[str, Any], domain: str | None) -> None:
        lead_id = lead["lead_id"]
        order = self.config.plan(EMAIL).providers
        skip = set(self.stopped)
        can_search = bool(lead.get("first_name")) and bool(lead.get("last_name")) and bool(
            domain or lead.get("company_name")
        )
        while True:
            states = {p: self.state(lead_id, p, EMAIL, self._accepted_email) for p in order}
            provider = next_provider(order, states, skip if can_search else set(order))
            if provider is None:
                accepted = next((p for p in order if states[p] is LedgerState.ACCEPTED), None)
                if accepted is None:
                    self._keep_undeliverable(lead, order)
                    return
                row = self.ledger[(lead_id, accepted, EMAIL)]
                verdict = self._verify(lead_id, row["value"], accepted)
                status = email_status_for(verdict[1] if verdict else None)
                if status == "undeliverable":
                    continue  # no longer accepted: the next finder may do better, else it is kept below
                self._set_email(lead, row, verdict, status)
                return
            shared = self._shared_find(provider, lead, domain)
            if shared is not None:
                self.replay(lead_id, provider, EMAIL, shared)
                continue  # free: not a hit bought
            row = self.paid_call(
                provider, LOOKUP_ENDPOINTS[(provider, EMAIL)], EMAIL, lead_id,
                lambda p=provider: FINDERS[p](self.clients[p], lead, domain), domain,
            )
            if row is None or row["outcome"] == FAILED:
                skip.add(provider)
            elif row["outcome"] == FOUND and self._confident(row):
                self.hits[provider] += 1

    def _keep_undeliverable(self, lead: Mapping[str, Any], order: Sequence[str]) -> None:
        """No deliverable address: keep a confident one that failed verification, marked undeliverable."""
        if isinstance(lead.get("email"), str) and lead["email"]:
            return
        for provider in order:
            row = self.ledger.get((lead["lead_id"], provider, EMAIL))
            if row and row["outcome"] == FOUND and self._confident(row):
                verdict = self._verdict(lead["lead_id"], row["value"], provider)
                if verdict is not None and email_status_for(verdict[1]) == "undeliverable":
                    self._set_email(lead, row, verdict, "undeliverable")
                    return

    def _set_email(self, lead: Mapping[str, Any], row: dict, verdict, status: str) -> None:
        lead_id = lead["lead_id"]
        if lead.get("email") == row["value"] and lead.get("email_status") == status:
            return  # already on the lead: a re-run changes nothing
        cost = row["cost_usd"]
        if verdict is not None:
            check = self.ledger.get((lead_id, verdict[0], VERIFICATION))
            cost += check["cost_usd"] if check and check["value"] == row["value"] else 0.0
        self.updates.setdefault(lead_id, {}).update(
            email=row["value"], email_status=status, email_verified=status == "verified"
        )
        self.provenance.append(
            {"lead_id": lead_id, "field": "email", "provider": row["provider"], "value": row["value"],
             "cost_usd": cost, "verification_status": f"{verdict[0]}:{verdict[1]}" if verdict else None,
             "supplied_at": self.now(), "run_id": self.run_id}
        )
        self.report.emails_found += 1
        self.report.emails_verified += status == "verified"
        self.report.emails_undeliverable += status == "undeliverable"

    # -- company data -----------------------------------------------------------------------

    def finder_domain(self, lead_id: str) -> str | None:
        """The employer domain an email finder resolved for this lead, if any."""
        for provider in self.config.plan(EMAIL).providers:
            row = self.ledger.get((lead_id, provider, EMAIL))
            if row and row.get("lookup_key"):
                return row["lookup_key"]
        return None

    def enrich_company(self, lead: Mapping[str, Any], domain: str) -> None:
        lead_id = lead["lead_id"]
        order = self.config.plan(COMPANY).providers
        skip = set(self.stopped)
        while True:
            states = {p: self.state(lead_id, p, COMPANY, self._confident) for p in order}
            provider = next_provider(order, states, skip)
            if provider is None:
                winner = next((p for p in order if states[p] is LedgerState.ACCEPTED), None)
                if winner is not None:
                    self._set_company(lead, self.ledger[(lead_id, winner, COMPANY)])
                return
            shared = self.shared.get((provider, domain))
            if shared is not None:
                self.replay(lead_id, provider, COMPANY, shared)
                continue
            row = self.paid_call(
                provider, LOOKUP_ENDPOINTS[(provider, COMPANY)], COMPANY, lead_id,
                lambda p=provider: COMPANY_FINDERS[p](self.clients[p], domain), domain,
            )
            if row is None or row["outcome"] == FAILED:
                skip.add(provider)
                continue
            self.shared[(provider, domain)] = row
            if row["outcome"] == FOUND:
                self.hits[provider] += 1

    def _set_company(self, lead: Mapping[str, Any], row: dict) -> None:
        value = json.loads(row["value"] or "{}")
        lead_id = lead["lead_id"]
        filled = {}
        for key, column in _COMPANY_COLUMNS.items():
            current = lead.get(column)
            if (current is None or pd.isna(current) or current == "") and value.get(key) not in (None, ""):
                filled[column] = value[key]
        if not filled:
            return
        self.updates.setdefault(lead_id, {}).update(filled)
        share = row["cost_usd"] / len(filled)  # one lookup paid for every field it filled
        for column, supplied in filled.items():
            self.provenance.append(
                {"lead_id": lead_id, "field": column, "provider": row["provider"], "value": str(supplied),
                 "cost_usd": share, "verification_status": None, "supplied_at": self.now(), "run_id": self.run_id}
            )
        self.report.companies_filled += 1


# --------------------------------------------------------------------------------------------
# The entry point.
# --------------------------------------------------------------------------------------------


def enrich_leads(
    store: LeadStore,
    lead_ids: Sequence[str],
    clients: Mapping[str, Any],
    config: EnrichmentConfig,
    budget: float | None = None,
    run_id: str | None = None,
    partition_key: str | None = None,
    log: logging.Logger | None = None,
    *,
    matcher: TitleMatcher,
    now: datetime | None = None,
) -> EnrichmentReport:
    """Fill missing emails and company data of `lead_ids` through the configured waterfall.

    `clients` maps provider names to clients (a provider without one is skipped); `budget`
    is the USD ceiling for all paid calls ever recorded (default: the configuration's).
    `matcher` holds the brief's target roles (re-normalising filled fields); `now` fixes the
    clock (tests of the TTL). Returns what was done and what it cost.
    """
    wanted = list(dict.fromkeys(lead_ids))
    # Runs of one hour share people (a person two sources found): each lead is enriched by
    # whichever run holds it, and read only once held, so the ledger shows what the other paid.
    with store.claimed(wanted, "enrichment") as held:
        report = _enrich_held(store, held, clients, config, budget, run_id, partition_key, log,
                              matcher=matcher, now=now)
    report.held_elsewhere = len(wanted) - len(held)
    return report


def _enrich_held(store: LeadStore, lead_ids: list[str], clients: Mapping[str, Any], config: EnrichmentConfig,
                 budget: float | None, run_id: str | None, partition_key: str | None, log: logging.Logger | None,
                 *, matcher: TitleMatcher, now: datetime | None) -> EnrichmentReport:
    log = log or logging.getLogger("lead_sprint.enrichment")
    budget = config.budget_usd if budget is None else budget
    report = EnrichmentReport(run_id=run_id, partition_key=partition_key, budget_usd=budget)
    leads = store.fetch_leads(lead_ids)
    # Suppressed people are never bought again, not even their missing fields.
    leads = leads[~leads["lead_id"].isin(suppressed_lead_ids(store, leads["lead_id"].tolist()))].reset_index(drop=True)
    report.leads = len(leads)
    if leads.empty:
        report.total_spend_usd = total_spend(store)
        return report
    report.email_availability_before = email_availability(leads)
    report.company_completeness_before = company_completeness(leads)

    guard = BudgetGuard(budget, spent_usd=total_spend(store), max_per_lead_usd=config.max_spend_per_lead_usd)
    run = _Run(store, clients, config, guard, report, run_id, partition_key, log, now)
    for provider in config.providers:
        if provider not in clients and any(provider in p.providers or provider in p.verifiers
                                           for p in config.fields.values()):
            log.info("enrichment: %s has no client (its API key is not set); skipped", provider)
    ledger = _records(read_ledger(store, leads["lead_id"].tolist(), now=now))
    run.ledger = {(r["lead_id"], r["provider"], r["field"]): r for r in ledger}

    work = work_needed(leads)
    report.needing_email = int(work["needs_email"].sum())
    report.needing_company = int(work["needs_company"].sum())
    by_id = {r["lead_id"]: r for r in _records(leads)}
    for lead_id, domain in work.loc[work["needs_email"], ["lead_id", "domain"]].itertuples(index=False):
        run.enrich_email(by_id[lead_id], domain)

    company_work = work.loc[work["needs_company"], ["lead_id", "domain"]].copy()
    company_work["domain"] = [d or run.finder_domain(lid) for lid, d in company_work.itertuples(index=False)]
    _enrich_companies(run, store, config, company_work[[bool(d) for d in company_work["domain"]]], by_id, now)

    after = _apply_updates(store, leads, run, matcher)
    report.email_availability_after = email_availability(after)
    report.company_completeness_after = company_completeness(after)
    report.calls = {f"{p} {e}": n for (p, e), n in run.calls.items()}
    report.hits = dict(run.hits)
    report.total_spend_usd = total_spend(store)
    report.qualified = int(after["is_qualified"].fillna(False).astype(bool).sum())
    report.cost_per_qualified_lead = cost_per_qualified_lead(report.spend_usd, report.qualified)
    # At the vendors' charge rates seen in this run (Hunter charges only for the emails it finds);
    # list prices for what this run did not call.
    rates = {key: run.charged[key] / n for key, n in run.calls.items() if n}
    report.naive_baseline_usd = naive_baseline_cost(len(leads), config, rates)
    log.info(
        "enrichment %s: %d leads, email %.1f%% -> %.1f%%, company %.1f%% -> %.1f%%, $%.2f spent%s",
        partition_key or run_id or "", report.leads,
        100 * report.email_availability_before, 100 * report.email_availability_after,
        100 * report.company_completeness_before, 100 * report.company_completeness_after, report.spend_usd,
        f"; {report.budget_message}" if report.budget_stopped else "",
    )
    return report


COMPANY_WAIT_SECONDS = 120.0


def _enrich_companies(run: _Run, store: LeadStore, config: EnrichmentConfig, work: pd.DataFrame,
                      by_id: Mapping[str, dict], now: datetime | None) -> None:
    """Company data for `work` (lead_id, domain), one domain held by one run at a time.

    A company is bought per domain and shared by its leads, and two runs may hold leads at
    the same company: a domain another run holds is done after it lets go, from the answer
    it recorded. After COMPANY_WAIT_SECONDS the rest is looked up anyway (logged).
    """
    deadline = time.monotonic() + COMPANY_WAIT_SECONDS
    while not work.empty:
        with store.claimed(sorted(set(work["domain"])), "enrichment:company") as held:
            if not held and time.monotonic() > deadline:
                run.log.warning("enrichment: %d company domains still held by another run after %.0f s; "
                                "looking them up anyway", work["domain"].nunique(), COMPANY_WAIT_SECONDS)
                held = sorted(set(work["domain"]))
            for provider in config.plan(COMPANY).providers:
                for row in _records(shared_answers(store, provider, COMPANY, held, now=now)):
                    run.shared[(provider, row["lookup_key"])] = row
            mine = work["domain"].isin(set(held))
            for lead_id, domain in work.loc[mine, ["lead_id", "domain"]].itertuples(index=False):
                run.enrich_company(by_id[lead_id], domain)
        work = work[~mine]
        if not work.empty:
            time.sleep(0.5)


def _records(df: pd.DataFrame) -> list[dict]:
    """Rows as dicts with None (not NaN/NA) for missing values."""
    return df.astype(object).where(df.notna(), None).to_dict("records")


def _apply_updates(store: LeadStore, leads: pd.DataFrame, run: _Run, matcher: TitleMatcher) -> pd.DataFrame:
    """Write the filled fields (normalised, re-scored) and their provenance; return the leads as now."""
    if not run.updates:
        return leads
    changed = leads.set_index("lead_id").loc[list(run.updates)].copy()
    for lead_id, values in run.updates.items():
        for column, value in values.items():
            changed.at[lead_id, column] = value
    changed = changed.reset_index()
    # Vendor values go through the same normalisers as a source's, and needs_enrichment is
    # normalise_leads' rule on the merged row (as lead_batches does after a merge).
    derived = normalise_leads(changed, matcher)
    for column in ("email", "company_website", "company_industry", "company_size", "needs_enrichment"):
        changed[column] = derived[column].to_numpy()
    unusable = changed["email"].isna() & changed["email_status"].isin(["verified", "unverified", "undeliverable"])
    changed.loc[unusable, ["email_status", "email_verified"]] = ["invalid", False]
    scored = score_leads(changed)
    columns = ["lead_id", "email", "email_status", "email_verified", "company_website", "company_industry",
               "company_size", "needs_enrichment", "data_quality_score", "is_qualified"]
    with store.transaction() as conn:
        store.upsert_leads(scored[columns], conn=conn)
        upsert_provenance(store, run.provenance, conn=conn)
    run.report.leads_updated = len(scored)
    untouched = leads[~leads["lead_id"].isin(scored["lead_id"])]
    return pd.concat([untouched, scored[leads.columns]], ignore_index=True)
