"""A dry run of the sprint: a search-only pass over the plan, then projected spend and cost per qualified lead.

`forecast_sprint` pages through every planned Apollo slice with the free People API Search
(splitting slices over the display cap exactly as the collection does), collects the
distinct Apollo ids it lists and asks the dedup index (`vid:apollo:<id>`) which are already
known; ids the collection already paid for without making a lead (quarantined, or bought by a
run that died before storing) count as known too. Nothing paid is ever called (no
`bulk_match`), nothing is written to the store (no landings, slices, leads or vendor_calls),
and every search call goes through the client's rate limiter, so the pass stays inside
Apollo's windows (it does use the same search windows the collection needs: see
`search_calls` in the result, and `max_pages_per_slice` to sample instead).

The projection is linear in the new people found: Apollo credits (1 per new person, an upper
bound: Apollo charges only for matched people), new leads, email and company gaps,
enrichment calls and cost, qualified leads, total spend, and cost per qualified lead against
the sprint's target and budget. Its rates come from the store when it holds leads (what the
sprint has observed so far) and from the documented defaults below otherwise; the result
names the source of every rate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from lead_assets.clients.apollo import MAX_PAGES, PER_PAGE_MAX
from lead_assets.clients.errors import VendorAuthError, VendorError
from lead_assets.core.enrichment_config import COMPANY, EMAIL, LOOKUP_ENDPOINTS, VERIFY_ENDPOINTS
from lead_assets.pipeline.search_plan import Slice, assign_hours, plan_slices
from lead_assets.sources import PagedVendorSource, paged_source
from lead_assets.sources.slice_walk import SliceWalk

SOURCE = "apollo"
LOOKUP_CHUNK = 10_000
MIN_OBSERVED_LEADS = 20  # fewer leads than this in the store: the defaults are steadier than the sample

# Documented defaults, used when the store has nothing to observe (a sprint not started yet).
DEFAULT_RATES: dict[str, float] = {
    # new Apollo ids that become a lead of their own (the rest merge into a person already listed
    # under another id, or are quarantined for lack of a name / LinkedIn URL / email)
    "lead_yield": 0.95,
    # leads bulk_match returns without a usable email (Apollo reveals work emails for most people)
    "email_gap_share": 0.40,
    # leads missing company website, industry or size
    "company_gap_share": 0.20,
    # Hunter's finder finds a confident email for this share of the leads it is asked about
    # (it charges only then); every found email is verified once (NeverBounce)
    "email_find_rate": 0.60,
    # company lookups per lead missing company data (a domain answered once serves its whole company)
    "company_lookups_per_gap": 0.80,
    # leads that end qualified once enriched
    "qualified_share": 0.70,
}


@dataclass
class SliceForecast:
    """What the search pass saw for one leaf slice."""

    key: str
    hour_key: str | None
    total_entries: int
    pages_available: int
    pages_fetched: int
    rows_listed: int
    status: str  # complete | sampled | capped | failed
    coverage: float | None = None
    error: str | None = None


@dataclass
class Forecast:
    """The dry run's counts and projections; `as_dict()` has stable keys, `format()` is for a terminal."""

    slices_planned: int = 0
    slices_searched: int = 0
    slices_split: int = 0
    slices_capped: int = 0
    slices_failed: int = 0
    sampled: bool = False
    search_calls: int = 0
    search_errors: int = 0
    rows_listed: int = 0  # people rows the pages returned (a person listed by two slices counts twice)
    rows_reachable: int = 0  # rows every page of every slice would return (within the display cap)
    rows_beyond_cap: int = 0  # rows Apollo would not show (capped slices)
    distinct_ids: int = 0
    already_known: int = 0  # in the dedup index: never bought again
    already_bought: int = 0  # paid for but no lead (quarantined, or landed by a run that died)
    new_people_found: int = 0
    new_people: float = 0.0  # found, plus the unsampled pages' share when sampling
    new_by_hour: dict[str, int] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)
    rate_sources: dict[str, str] = field(default_factory=dict)
    apollo_credits: float = 0.0
    apollo_cost_usd: float = 0.0
    new_leads: float = 0.0
    email_gaps: float = 0.0
    company_gaps: float = 0.0
    enriched_leads: float = 0.0
    enrichment_calls: dict[str, float] = field(default_factory=dict)
    enrichment_cost_usd: float = 0.0
    projected_spend_usd: float = 0.0
    projected_qualified: float = 0.0
    projected_cost_per_qualified_lead: float | None = None
    spent_so_far_usd: float = 0.0
    qualified_so_far: int = 0
    sprint_spend_usd: float = 0.0
    sprint_cost_per_qualified_lead: float | None = None
    target_cost_per_qualified_lead: float = 0.0
    budget_usd: float = 0.0
    budget_left_after_usd: float = 0.0
    within_target: bool | None = None
    within_budget: bool = True
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    slices: list[SliceForecast] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("new_people", "apollo_credits", "new_leads", "email_gaps", "company_gaps", "enriched_leads",
                    "projected_qualified"):
            d[key] = round(d[key], 1)
        for key in ("apollo_cost_usd", "enrichment_cost_usd", "projected_spend_usd", "spent_so_far_usd",
                    "sprint_spend_usd", "budget_left_after_usd"):
            d[key] = round(d[key], 2)
        for key in ("projected_cost_per_qualified_lead", "sprint_cost_per_qualified_lead"):
            d[key] = None if d[key] is None else round(d[key], 4)
        d["rates"] = {k: round(v, 4) for k, v in d["rates"].items()}
        d["enrichment_calls"] = {k: round(v, 1) for k, v in d["enrichment_calls"].items()}
        return d

    def format(self) -> str:
        def usd(x: float | None) -> str:
            return "n/a" if x is None else f"${x:,.2f}"

        def rate(key: str) -> str:
            return f"{self.rates[key]:.1%} ({self.rate_sources[key]})"

        lines = [
            "lead-sprint forecast (dry run: search only, nothing bought, nothing stored)",
            f"  search        {self.slices_searched} slices searched of {self.slices_planned} planned "
            f"({self.slices_split} split, {self.slices_capped} capped, {self.slices_failed} failed), "
            f"{self.search_calls} free search calls" + (" (sampled pages)" if self.sampled else ""),
            f"  people        {self.distinct_ids:,} distinct Apollo ids listed: {self.already_known:,} already known, "
            f"{self.already_bought:,} already paid for, {self.new_people_found:,} new"
            + (f" (~{self.new_people:,.0f} extrapolated to every page)" if self.sampled else ""),
        ]
        if self.rows_beyond_cap:
            lines.append(f"  beyond cap    {self.rows_beyond_cap:,} rows Apollo will not show (capped slices)")
        lines += [
            f"  apollo        {self.apollo_credits:,.0f} credits = {usd(self.apollo_cost_usd)} (1 per new person, "
            "an upper bound)",
            f"  new leads     ~{self.new_leads:,.0f} (lead yield {rate('lead_yield')})",
            f"  gaps          ~{self.email_gaps:,.0f} without email ({rate('email_gap_share')}), "
            f"~{self.company_gaps:,.0f} without company data ({rate('company_gap_share')})",
            f"  enrichment    ~{self.enriched_leads:,.0f} leads enriched, "
            + ", ".join(f"{k} {v:,.0f}" for k, v in self.enrichment_calls.items())
            + f" calls = {usd(self.enrichment_cost_usd)} ({self.rate_sources.get('enrichment_cost_per_lead', '')} "
            f"{usd(self.rates.get('enrichment_cost_per_lead'))}/enriched lead)",
            f"  qualified     ~{self.projected_qualified:,.0f} ({rate('qualified_share')})",
            f"  spend         {usd(self.projected_spend_usd)} projected; "
            f"{usd(self.projected_cost_per_qualified_lead)} per qualified lead "
            f"(target {usd(self.target_cost_per_qualified_lead)}"
            + ("" if self.within_target is None else (": within" if self.within_target else ": OVER")) + ")",
            f"  sprint        {usd(self.spent_so_far_usd)} spent so far + projected = {usd(self.sprint_spend_usd)} "
            f"of the {usd(self.budget_usd)} budget ({'within' if self.within_budget else 'OVER'}; "
            f"{usd(self.budget_left_after_usd)} left); {usd(self.sprint_cost_per_qualified_lead)} per qualified lead",
        ]
        lines += [f"  note          {n}" for n in self.notes]
        lines += [f"  error         {e}" for e in self.errors]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# The search pass.
# --------------------------------------------------------------------------------------------


class _Pass(SliceWalk):
    """The search pass: every page a collection would read (or the first `page_limit`), nothing bought."""

    def __init__(self, source: PagedVendorSource, client: Any, per_page: int, max_pages: int,
                 page_limit: int | None, log: logging.Logger) -> None:
        self.source, self.client, self.log = source, client, log
        self.per_page, self.max_pages = source.paging(per_page, max_pages)
        self.page_limit = page_limit
        self.ids_by_hour: dict[str, list[str]] = {}
        self.fc = Forecast()
        self.hour_key: str | None = None

    def search(self, s: Slice, page: int) -> tuple[int, list]:
        """(total_entries, people) of one page; the client's limiter decides when the call goes out."""
        self.fc.search_calls += 1
        try:
            return self.source.read_page(self.source.search(self.client, s, page, self.per_page).data, s)
        finally:
            calls = self.client.http.drain_calls()  # a dry run records no vendor_calls; count the failures
            self.fc.search_errors += sum(1 for c in calls if c.outcome == "failed")

    def run_slice(self, s: Slice, hour_key: str | None) -> None:
        self.hour_key = hour_key
        try:
            self.walk(s)
        except VendorAuthError:
            raise
        except VendorError as exc:
            self.fc.slices_failed += 1
            self.fc.errors.append(f"slice {s.key}: {exc}")
            self.log.error("forecast: slice %s failed: %s", s.key, exc)
            self.fc.slices.append(SliceForecast(s.key, hour_key, 0, 0, 0, 0, "failed", None, str(exc)[:300]))

    def on_split(self, s: Slice, total: int, children: list[Slice]) -> None:
        self.fc.slices_split += 1
        for child in children:
            self.run_slice(child, self.hour_key)

    def on_start(self, s: Slice, total: int, pages: int) -> None:
        self.rows = 0

    def on_rows(self, s: Slice, page: int, rows: list) -> None:
        self.rows += len(rows)
        ids = self.ids_by_hour.setdefault(self.hour_key or "", [])
        ids.extend(pid for pid in map(self.source.person_id, rows) if pid is not None)

    def on_done(self, s: Slice, total: int, pages: int, fetched: int, coverage: float) -> None:
        fc = self.fc
        reachable = min(total, self.cap)
        fc.rows_listed += self.rows
        fc.rows_reachable += reachable
        fc.rows_beyond_cap += total - reachable
        status = "capped" if coverage < 1 else ("sampled" if fetched < pages else "complete")
        if status == "capped":
            fc.slices_capped += 1
            msg = f"slice {s.key}: {total} people but {self.source.label} shows {self.cap}; coverage {coverage:.0%}"
            fc.notes.append(msg)
            self.log.warning(msg)
        fc.sampled = fc.sampled or fetched < pages
        fc.slices_searched += 1
        fc.slices.append(SliceForecast(s.key, self.hour_key, total, pages, fetched, self.rows, status, coverage))


def _known_ids(store, index, ids: Sequence[str]) -> tuple[set[str], set[str]]:
    """(ids in the dedup index, ids paid for that never became a lead: quarantined or landed purchases)."""
    known: set[str] = set()
    for i in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[i : i + LOOKUP_CHUNK]
        hits = index.lookup([f"vid:{SOURCE}:{pid}" for pid in chunk])
        known.update(pid for pid in chunk if f"vid:{SOURCE}:{pid}" in hits)
    bought: set[str] = set(
        store.read_sql(
            "SELECT DISTINCT vendor_person_id FROM quarantine WHERE source = :s AND vendor_person_id IS NOT NULL",
            {"s": SOURCE},
        )["vendor_person_id"].astype(str)
    )
    landed = store.read_sql(
        "SELECT request_key FROM raw_landings WHERE source = :s AND request_kind = 'enrichment'", {"s": SOURCE}
    )
    for key in landed["request_key"]:
        bought.update(str(key).removeprefix("ids=").split(","))
    wanted = set(ids)
    return known, (bought & wanted) - known


# --------------------------------------------------------------------------------------------
# Rates observed in the store.
# --------------------------------------------------------------------------------------------

_EMAIL_OK = "(COALESCE(l.email, '') <> '' AND COALESCE(l.email_status, '') <> 'undeliverable')"
_COMPANY_OK = ("(COALESCE(l.company_website, '') <> '' AND COALESCE(l.company_industry, '') <> '' "
               "AND l.company_size IS NOT NULL)")
_LEAD_RATES_SQL = f"""
SELECT count(*) AS leads,
       sum(CASE WHEN l.is_qualified THEN 1 ELSE 0 END) AS qualified,
       sum(CASE WHEN NOT {_EMAIL_OK} OR le.lead_id IS NOT NULL THEN 1 ELSE 0 END) AS email_gap,
       sum(CASE WHEN NOT {_COMPANY_OK} OR lc.lead_id IS NOT NULL THEN 1 ELSE 0 END) AS company_gap,
       sum(CASE WHEN NOT {_EMAIL_OK} OR NOT {_COMPANY_OK} OR la.lead_id IS NOT NULL THEN 1 ELSE 0 END) AS to_enrich,
       sum(CASE WHEN la.lead_id IS NOT NULL THEN 1 ELSE 0 END) AS enriched
FROM leads l
LEFT JOIN (SELECT DISTINCT lead_id FROM enrichment_ledger WHERE field = '{EMAIL}') le ON le.lead_id = l.lead_id
LEFT JOIN (SELECT DISTINCT lead_id FROM enrichment_ledger WHERE field = '{COMPANY}') lc ON lc.lead_id = l.lead_id
LEFT JOIN (SELECT DISTINCT lead_id FROM enrichment_ledger) la ON la.lead_id = l.lead_id
{{where}}
"""


def _observed(store, enrichment_vendors: Iterable[str]) -> dict[str, Any]:
    """What the store says so far: lead rates (Apollo's leads when there are any), enrichment costs."""
    vendors = sorted(set(enrichment_vendors))
    has_apollo = int(store.read_sql("SELECT count(*) AS n FROM lead_sources WHERE source = :s",
                                    {"s": SOURCE})["n"].iloc[0] or 0)
    where = "WHERE l.lead_id IN (SELECT lead_id FROM lead_sources WHERE source = :s)" if has_apollo else ""
    row = store.read_sql(_LEAD_RATES_SQL.format(where=where), {"s": SOURCE} if has_apollo else {}).iloc[0]
    obs = {k: int(row[k] or 0) for k in ("leads", "qualified", "email_gap", "company_gap", "to_enrich", "enriched")}
    obs["scope"] = "apollo leads" if has_apollo else "all leads"
    sources = store.read_sql(
        "SELECT count(DISTINCT vendor_person_id) AS ids, count(DISTINCT lead_id) AS leads FROM lead_sources "
        "WHERE source = :s", {"s": SOURCE}).iloc[0]
    quarantined = store.read_sql(
        "SELECT count(DISTINCT vendor_person_id) AS n FROM quarantine WHERE source = :s", {"s": SOURCE})["n"].iloc[0]
    obs["apollo_ids"] = int(sources["ids"] or 0) + int(quarantined or 0)
    obs["apollo_leads"] = int(sources["leads"] or 0)
    all_enriched = store.read_sql("SELECT count(DISTINCT lead_id) AS n FROM enrichment_ledger")["n"].iloc[0]
    obs["enriched_all"] = int(all_enriched or 0)
    spend = store.read_sql("SELECT vendor, COALESCE(sum(cost_usd), 0) AS usd FROM cost_ledger GROUP BY vendor")
    by_vendor = dict(zip(spend["vendor"], spend["usd"].astype(float), strict=True))
    obs["spent_usd"] = float(sum(by_vendor.values()))
    obs["enrichment_usd"] = float(sum(v for k, v in by_vendor.items() if k in vendors))
    calls = store.read_sql("SELECT vendor, endpoint, count(*) AS n FROM vendor_calls GROUP BY vendor, endpoint")
    obs["calls"] = {f"{v} {e}": int(n) for v, e, n in calls.itertuples(index=False) if v in vendors}
    obs["qualified_all"] = int(store.read_sql(
        "SELECT sum(CASE WHEN is_qualified THEN 1 ELSE 0 END) AS n FROM leads")["n"].iloc[0] or 0)
    return obs


def _default_calls(config) -> tuple[dict[str, float], float]:
    """Calls per enriched lead and USD per enriched lead, from the default rates and configured prices."""
    d = DEFAULT_RATES
    enrich_share = 1 - (1 - d["email_gap_share"]) * (1 - d["company_gap_share"])  # needs email or company
    calls: dict[str, float] = {}
    usd = 0.0
    email_plan, company_plan = config.plan(EMAIL), config.plan(COMPANY)
    email_per_lead = d["email_gap_share"] / enrich_share
    if email_plan.providers:
        finder = email_plan.providers[0]
        endpoint = LOOKUP_ENDPOINTS[(finder, EMAIL)]
        calls[f"{finder} {endpoint}"] = email_per_lead
        usd += email_per_lead * d["email_find_rate"] * config.price(finder, endpoint)  # charged when found
        if email_plan.verifiers:
            verifier = email_plan.verifiers[0]
            v_endpoint = VERIFY_ENDPOINTS[verifier]
            n = email_per_lead * d["email_find_rate"]
            calls[f"{verifier} {v_endpoint}"] = n
            usd += n * config.price(verifier, v_endpoint)
    if company_plan.providers:
        provider = company_plan.providers[0]
        endpoint = LOOKUP_ENDPOINTS[(provider, COMPANY)]
        n = d["company_gap_share"] / enrich_share * d["company_lookups_per_gap"]
        calls[f"{provider} {endpoint}"] = n
        usd += n * config.price(provider, endpoint)
    return calls, usd


# --------------------------------------------------------------------------------------------
# The forecast.
# --------------------------------------------------------------------------------------------


def forecast_sprint(client, store, index, cfg, enrichment_config, *, max_pages_per_slice: int | None = None,
                    log: logging.Logger | None = None, hours: Sequence[str] | None = None) -> Forecast:
    """Search every planned slice (or those of `hours`) for free, count new people, project spend and CPQL.

    `client` is an `ApolloClient` (its limiter keeps the pass inside the search windows; only
    `search_people` is called). `store`/`index` are read, never written. `max_pages_per_slice`
    samples the first pages of each slice and extrapolates the rest.
    """
    log = log or logging.getLogger("lead_sprint.forecast")
    started = time.monotonic()
    coll = cfg.collection.get(SOURCE, {})
    run = _Pass(paged_source(SOURCE), client, per_page=int(coll.get("per_page", PER_PAGE_MAX)),
                max_pages=int(coll.get("max_pages", MAX_PAGES)), page_limit=max_pages_per_slice, log=log)
    fc = run.fc
    roles = tuple((r.role, r.aliases) for r in cfg.target_roles)
    planned = plan_slices(roles, cfg.locations)
    hour_of = assign_hours(planned, cfg.start, cfg.hours)
    if hours is not None:
        wanted = set(hours)
        planned = [s for s in planned if hour_of[s.key] in wanted]
    fc.slices_planned = len(planned)
    for s in planned:
        run.run_slice(s, hour_of[s.key])

    # People: distinct ids, known to the index or already paid for, new.
    first_hour: dict[str, str] = {}
    for hour_key in sorted(run.ids_by_hour):
        for pid in run.ids_by_hour[hour_key]:
            first_hour.setdefault(pid, hour_key)
    ids = list(first_hour)
    known, bought = _known_ids(store, index, ids)
    fc.distinct_ids = len(ids)
    fc.already_known = len(known)
    fc.already_bought = len(bought)
    new = [pid for pid in ids if pid not in known and pid not in bought]
    fc.new_people_found = len(new)
    for pid in new:
        fc.new_by_hour[first_hour[pid]] = fc.new_by_hour.get(first_hour[pid], 0) + 1
    fc.new_people = float(len(new))
    if fc.sampled and fc.rows_listed:
        # the unfetched pages are assumed to hold new people in the same proportion as the fetched ones
        fc.new_people = len(new) * (fc.rows_reachable / fc.rows_listed)
        fc.notes.append(f"sampled at most {max_pages_per_slice} page(s) per slice: {fc.rows_listed:,} of "
                        f"{fc.rows_reachable:,} reachable rows read; new people extrapolated in proportion")
    if fc.slices_failed:
        fc.notes.append(f"{fc.slices_failed} slice(s) failed to search: their people are not counted")

    # Rates: observed in the store when it has enough leads, else the documented defaults.
    obs = _observed(store, enrichment_config.providers)
    rates, src = dict(DEFAULT_RATES), dict.fromkeys(DEFAULT_RATES, "default")
    leads = obs["leads"]
    if obs["apollo_ids"] >= MIN_OBSERVED_LEADS and obs["apollo_leads"]:
        rates["lead_yield"], src["lead_yield"] = obs["apollo_leads"] / obs["apollo_ids"], "store"
    if leads >= MIN_OBSERVED_LEADS:
        rates["email_gap_share"], src["email_gap_share"] = obs["email_gap"] / leads, "store"
        rates["company_gap_share"], src["company_gap_share"] = obs["company_gap"] / leads, "store"
        rates["qualified_share"], src["qualified_share"] = obs["qualified"] / leads, "store"
        if not obs["enriched"] and obs["to_enrich"]:
            fc.notes.append("the store's leads are not enriched yet: the observed qualified share is likely low")
    enrich_share = (obs["to_enrich"] / leads if leads >= MIN_OBSERVED_LEADS else
                    1 - (1 - rates["email_gap_share"]) * (1 - rates["company_gap_share"]))
    rates["enrichment_share"], src["enrichment_share"] = enrich_share, (
        "store" if leads >= MIN_OBSERVED_LEADS else "default")
    if obs["enriched_all"] >= MIN_OBSERVED_LEADS:
        per_lead_calls = {k: n / obs["enriched_all"] for k, n in obs["calls"].items()}
        per_lead_usd = obs["enrichment_usd"] / obs["enriched_all"]
        src["enrichment_cost_per_lead"] = "store"
    else:
        per_lead_calls, per_lead_usd = _default_calls(enrichment_config)
        src["enrichment_cost_per_lead"] = "default"
    rates["enrichment_cost_per_lead"] = per_lead_usd
    for key in ("email_find_rate", "company_lookups_per_gap"):
        if src["enrichment_cost_per_lead"] == "store":
            rates.pop(key)
            src.pop(key)
    fc.rates, fc.rate_sources = rates, src

    # Projection.
    price = float(cfg.prices_usd.get("apollo_credit", 0.0))
    fc.apollo_credits = fc.new_people
    fc.apollo_cost_usd = fc.apollo_credits * price
    fc.new_leads = fc.new_people * rates["lead_yield"]
    fc.email_gaps = fc.new_leads * rates["email_gap_share"]
    fc.company_gaps = fc.new_leads * rates["company_gap_share"]
    fc.enriched_leads = fc.new_leads * enrich_share
    fc.enrichment_calls = {k: v * fc.enriched_leads for k, v in sorted(per_lead_calls.items())}
    fc.enrichment_cost_usd = fc.enriched_leads * per_lead_usd
    fc.projected_spend_usd = fc.apollo_cost_usd + fc.enrichment_cost_usd
    fc.projected_qualified = fc.new_leads * rates["qualified_share"]
    fc.projected_cost_per_qualified_lead = (
        fc.projected_spend_usd / fc.projected_qualified if fc.projected_qualified >= 0.5 else None)
    fc.spent_so_far_usd = obs["spent_usd"]
    fc.qualified_so_far = obs["qualified_all"]
    fc.sprint_spend_usd = fc.spent_so_far_usd + fc.projected_spend_usd
    total_qualified = fc.qualified_so_far + fc.projected_qualified
    fc.sprint_cost_per_qualified_lead = fc.sprint_spend_usd / total_qualified if total_qualified >= 0.5 else None
    fc.target_cost_per_qualified_lead = float(cfg.targets.max_cost_per_qualified_lead)
    fc.budget_usd = float(cfg.targets.budget_usd)
    fc.budget_left_after_usd = fc.budget_usd - fc.sprint_spend_usd
    fc.within_budget = fc.sprint_spend_usd <= fc.budget_usd + 1e-9
    if fc.projected_cost_per_qualified_lead is not None:
        fc.within_target = fc.projected_cost_per_qualified_lead <= fc.target_cost_per_qualified_lead + 1e-9
    if not fc.within_budget:
        fc.notes.append(f"projected spend passes the budget: the budget guard will stop paid calls at "
                        f"${fc.budget_usd:,.2f}")
    defaults = sorted(k for k, v in src.items() if v == "default")
    if defaults:
        fc.notes.append("default rates (the store has too little to observe): "
                        + ", ".join(f"{k}={rates[k]:g}" for k in defaults))
    fc.seconds = round(time.monotonic() - started, 3)
    log.info("forecast: %d new people of %d distinct ids, $%.2f projected, %d search calls in %.1fs",
             fc.new_people_found, fc.distinct_ids, fc.projected_spend_usd, fc.search_calls, fc.seconds)
    return fc
