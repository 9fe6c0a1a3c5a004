"""Recommendations computed from a sprint's numbers, each carrying the numbers behind it.

Nothing here is canned advice: a recommendation is produced only when the data supports it, and
says "not enough data yet" otherwise. Inputs are a :class:`~lead_assets.reports.data.ReportData`
and the sprint config (for the targets).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from lead_assets.reports.data import ReportData, ratio

DRY_SHARE = 0.5  # a role or metro "ran dry" below half the average of its peers


@dataclass(frozen=True)
class Recommendation:
    """One finding: a title, a sentence, and the figures it rests on."""

    key: str
    title: str
    text: str
    numbers: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def cheapest_source(data: ReportData, cfg: Any) -> Recommendation:
    """The source with the lowest cost per qualified lead."""
    priced = [s for s in data.by_source if s["cost_per_qualified"] is not None]
    limit = cfg.targets.max_cost_per_qualified_lead
    if not priced:
        return Recommendation("cheapest_source", "Cheapest qualified leads",
                              "Not enough data yet: no source has both spend and qualified leads.")
    best = min(priced, key=lambda s: s["cost_per_qualified"])
    verdict = "within" if best["cost_per_qualified"] <= limit else "above"
    others = [s for s in priced if s is not best]
    text = (f"{best['source']} gave the cheapest qualified leads: ${best['cost_per_qualified']:.2f} each "
            f"({best['qualified']:,} qualified for ${best['cost_usd']:,.2f}), {verdict} the ${limit:.2f} target.")
    if others:
        text += " Shift budget towards it: " + ", ".join(
            f"{s['source']} ${s['cost_per_qualified']:.2f}" for s in sorted(others, key=lambda s: s["cost_per_qualified"])
        ) + "."
    else:
        text += " It is the only priced source so far; add a second source to compare."
    return Recommendation("cheapest_source", "Cheapest qualified leads", text, {
        "source": best["source"], "cost_per_qualified": best["cost_per_qualified"],
        "qualified": best["qualified"], "cost_usd": best["cost_usd"], "target": limit,
        "others": {s["source"]: s["cost_per_qualified"] for s in others},
    })


def _ran_dry(rows: list[dict], name_key: str, what: str, key: str) -> Recommendation:
    targets = [r for r in rows if r.get("target")]
    total = sum(r["leads"] for r in targets)
    title = f"{what.capitalize()} that ran dry"
    if not targets or total == 0:
        return Recommendation(key, title, f"Not enough data yet: no lead in any target {what[:-1]}.")
    mean = total / len(targets)
    dry = sorted((r for r in targets if r["leads"] < DRY_SHARE * mean), key=lambda r: r["leads"])
    numbers = {"average": mean, "dry": {r[name_key]: r["leads"] for r in dry}}
    if not dry:
        return Recommendation(key, title, f"None: every target {what[:-1]} yielded at least half the average "
                                          f"of {mean:,.0f} leads.", numbers)
    listed = ", ".join(f"{r[name_key]} ({r['leads']:,})" for r in dry)
    return Recommendation(key, title, f"{listed} yielded under half the average of {mean:,.0f} leads per "
                                      f"{what[:-1]}: widen their search (aliases, nearby metros) or add a "
                                      f"source that covers them.", numbers)


def dry_titles(data: ReportData, cfg: Any) -> Recommendation:
    """Target roles with under half the average number of leads."""
    return _ran_dry(data.by_role, "role", "titles", "dry_titles")


def dry_metros(data: ReportData, cfg: Any) -> Recommendation:
    """Target metros with under half the average number of leads."""
    return _ran_dry(data.by_metro, "metro", "metros", "dry_metros")


def enrichment_payoff(data: ReportData, cfg: Any) -> Recommendation:
    """Which enrichment step paid off: cost per value found (enrichment ledger), else per purchase."""
    if data.enrichment_steps:
        return _enrichment_ledger_payoff(data, cfg)
    return _purchase_payoff(data, cfg)


def _enrichment_ledger_payoff(data: ReportData, cfg: Any) -> Recommendation:
    # Yardstick: one found value should cost less than the whole budget of a qualified lead.
    limit = cfg.targets.max_cost_per_qualified_lead
    lines, numbers = [], {}
    for s in data.enrichment_steps:
        name = f"{s['provider']} {s['field']}"
        paid_off = s["found"] > 0 and (s["cost_per_found"] is None or s["cost_per_found"] <= limit)
        cost = "free" if not s["cost_usd"] else f"${s['cost_usd']:,.2f}"
        per = f", ${s['cost_per_found']:.2f} per find" if s["cost_per_found"] is not None else ""
        lines.append(f"{name}: {s['found']:,} of {s['lookups']:,} found ({s['found_share'] or 0:.0%}) for {cost}{per}"
                     + (": paid off." if paid_off else ": did not pay off."))
        numbers[name] = {"lookups": s["lookups"], "found": s["found"], "cost_usd": s["cost_usd"],
                         "cost_per_found": s["cost_per_found"], "paid_off": paid_off}
    found = [s for s in data.enrichment_steps if s["found"]]
    if found:
        best = min(found, key=lambda s: (s["cost_per_found"] or 0.0, -s["found"]))
        lines.insert(0, f"Best value: {best['provider']} for {best['field']}.")
    return Recommendation("enrichment_payoff", "Enrichment steps that paid off", " ".join(lines), numbers)


def _purchase_payoff(data: ReportData, cfg: Any) -> Recommendation:
    if not data.paid_steps:
        return Recommendation("enrichment_payoff", "Paid steps that paid off",
                              "Not enough data yet: no paid vendor call recorded.")
    limit = cfg.targets.max_cost_per_qualified_lead
    sources = {s["source"]: s for s in data.by_source}
    lines, numbers = [], {}
    for step in data.paid_steps:
        src = sources.get(step["vendor"])
        name = f"{step['vendor']} {step['endpoint']}"
        if src is None:
            lines.append(f"{name}: ${step['cost_usd']:,.2f} with no lead-level outcome recorded yet.")
            numbers[name] = {"cost_usd": step["cost_usd"]}
            continue
        emails = round((src["email_share"] or 0) * src["leads"])
        per_qualified = ratio(step["cost_usd"], src["qualified"])
        per_email = ratio(step["cost_usd"], emails)
        paid_off = per_qualified is not None and per_qualified <= limit
        lines.append(
            f"{name}: ${step['cost_usd']:,.2f} for {src['qualified']:,} qualified leads"
            + (f" (${per_qualified:.2f} each)" if per_qualified is not None else "")
            + f" and {emails:,} emails" + (f" (${per_email:.2f} each)" if per_email is not None else "")
            + (": paid off." if paid_off else f": did not pay off against ${limit:.2f} per qualified lead.")
        )
        numbers[name] = {"cost_usd": step["cost_usd"], "qualified": src["qualified"], "emails": emails,
                         "cost_per_qualified": per_qualified, "cost_per_email": per_email, "paid_off": paid_off}
    return Recommendation("enrichment_payoff", "Paid steps that paid off", " ".join(lines), numbers)


_GAP_ADVICE = {
    "email_availability": ("leads with a deliverable email", "run an email finder + verifier on the leads "
                                                             "without one"),
    "company_completeness": ("leads with complete company data", "enrich company website, industry and size"),
    "validation_rate": ("leads with every required field valid", "re-collect or enrich the missing "
                                                                  "required fields"),
}


def target_gaps(data: ReportData, cfg: Any) -> list[Recommendation]:
    """For each share target that is missed: how many leads short, and the step that closes the gap."""
    out = []
    unique = data.metrics.get("unique") or 0
    for row in data.targets:
        advice = _GAP_ADVICE.get(row["name"])
        if advice is None or row["met"] is not False or not unique:
            continue
        short = math.ceil(row["target"] * unique - row["value"] * unique)
        what, step = advice
        out.append(Recommendation(
            f"gap_{row['name']}", f"{row['label']} below target",
            f"{row['value']:.1%} against {row['target']:.0%}: {short:,} more {what} needed; {step}.",
            {"value": row["value"], "target": row["target"], "short_by": short, "unique": unique},
        ))
    return out


def quarantine_hotspot(data: ReportData, cfg: Any) -> Recommendation | None:
    """The leading quarantine reason, when quarantine is a noticeable share of what came in."""
    quarantined = data.metrics.get("quarantined") or 0
    seen = quarantined + (data.metrics.get("collected") or 0)
    share = ratio(quarantined, seen)
    if not data.quarantine_reasons or share is None or share < 0.05:
        return None
    top = data.quarantine_reasons[0]
    return Recommendation(
        "quarantine", "Records lost to quarantine",
        f"{quarantined:,} of {seen:,} vendor records ({share:.1%}) were quarantined; the main reason "
        f"({top['count']:,}) is: {top['reason']}.",
        {"quarantined": quarantined, "seen": seen, "share": share, "top_reason": top["reason"],
         "top_count": top["count"]},
    )


def recommend(data: ReportData, cfg: Any) -> list[Recommendation]:
    """Every recommendation the data supports, in report order."""
    out = [cheapest_source(data, cfg), dry_titles(data, cfg), dry_metros(data, cfg), enrichment_payoff(data, cfg)]
    out += target_gaps(data, cfg)
    hotspot = quarantine_hotspot(data, cfg)
    if hotspot is not None:
        out.append(hotspot)
    return out
