"""Render the hourly report (Slack mrkdwn + a chart) and the final report (HTML + Markdown twin).

Three Jinja2 environments, one per output language, each escaping every ``{{ ... }}`` by default:

* HTML (``*.html.j2``): Jinja's autoescape;
* Markdown (``final.md.j2``): :func:`md_escape` on every expression (HTML specials become entities,
  Markdown specials get a backslash), so vendor text can neither inject HTML nor break a table;
* Slack mrkdwn (``hourly.md.j2``): :func:`escape_mrkdwn` (``&``, ``<``, ``>``), so vendor text
  cannot form links or ``<!channel>`` mentions.

Formatting filters turn None into "none yet", so an empty sprint renders instead of dividing by zero.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from lead_assets.clients.slack_notifier import escape_mrkdwn
from lead_assets.core.alert_rules import load_alert_rules
from lead_assets.reports import charts
from lead_assets.reports.data import ReportData, gather_report_data
from lead_assets.reports.recommendations import Recommendation, recommend
from lead_assets.store.lead_store import to_utc

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
NONE_YET = "none yet"
FINAL_STEM = "final-report"

# Characters that format inline Markdown (or break a table cell), and the HTML ones.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


class Raw(str):
    """Text a Markdown/Slack template may emit unescaped (our own file names, never vendor text)."""


def md_escape(value: Any) -> str:
    """Markdown-safe inline text: HTML entities for & < >, backslashes before formatting characters."""
    if isinstance(value, Raw):
        return value
    text = " ".join(str(value).splitlines())  # a newline would end a table row
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def _slack_finalize(value: Any) -> str:
    return value if isinstance(value, Raw) else escape_mrkdwn(" ".join(str(value).splitlines()))


# --------------------------------------------------------------------------------------------
# Formatting filters (shared by every environment).
# --------------------------------------------------------------------------------------------


def f_count(v: Any) -> str:
    """1,234 (a fractional unit count keeps one decimal) or none yet."""
    if v is None:
        return NONE_YET
    return f"{v:,.1f}" if isinstance(v, float) and not v.is_integer() else f"{int(v):,}"


def f_pct(v: Any) -> str:
    """12.3 % from a share in [0, 1]."""
    return NONE_YET if v is None else f"{100 * float(v):.1f} %"


def f_usd(v: Any) -> str:
    """$1,234.56."""
    return NONE_YET if v is None else f"${float(v):,.2f}"


def f_score(v: Any) -> str:
    """A quality score with one decimal."""
    return NONE_YET if v is None else f"{float(v):.1f}"


def f_hours(v: Any) -> str:
    """1.5 h."""
    return NONE_YET if v is None else f"{float(v):.1f} h"


def f_rate(v: Any) -> str:
    """812 leads/hour."""
    return NONE_YET if v is None else f"{float(v):,.0f} leads/hour"


def f_when(v: Any) -> str:
    """An ISO timestamp as 2026-11-27 05:00 UTC."""
    stamp = to_utc(v) if v else None
    return NONE_YET if stamp is None else stamp.strftime("%Y-%m-%d %H:%M UTC")


def f_value(v: Any, fmt: str) -> str:
    """A target row's value in its format."""
    return {"count": f_count, "pct": f_pct, "usd": f_usd, "score": f_score, "hours": f_hours}[fmt](v)


def f_met(v: Any) -> str:
    """met / missed / none yet."""
    return NONE_YET if v is None else ("met" if v else "missed")


def f_plain(v: Any) -> str:
    """A recommendation's number: floats to four significant digits, dicts and lists spelled out."""
    if v is None:
        return NONE_YET
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e6 else f"{v:,.0f}"
    if isinstance(v, dict):
        return ", ".join(f"{k}={f_plain(x)}" for k, x in v.items()) or "none"
    if isinstance(v, (list, tuple)):
        return ", ".join(f_plain(x) for x in v) or "none"
    return str(v)


FILTERS = {"count": f_count, "pct": f_pct, "usd": f_usd, "score": f_score, "hours": f_hours, "when": f_when,
           "rate": f_rate, "value": f_value, "met": f_met, "plain": f_plain}


def _env(**kwargs: Any) -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), undefined=StrictUndefined, trim_blocks=True,
                      lstrip_blocks=True, keep_trailing_newline=True, **kwargs)
    env.filters.update(FILTERS)
    return env


HTML_ENV = _env(autoescape=True)
MD_ENV = _env(autoescape=False, finalize=md_escape)
SLACK_ENV = _env(autoescape=False, finalize=_slack_finalize)


# --------------------------------------------------------------------------------------------
# Reports.
# --------------------------------------------------------------------------------------------


@dataclass
class HourlyReport:
    """The hourly message: Slack mrkdwn text, the progress chart, and the numbers behind both."""

    subject: str
    text: str
    png: bytes
    data: ReportData

    def send(self, notifier: Any) -> dict[str, Any]:
        """Post through a :class:`~lead_assets.clients.notify.Notifier` (never raises)."""
        return notifier.send_report(self.text, subject=self.subject, png=self.png, png_name="progress.png")


@dataclass
class FinalReport:
    """The final report's files, its headline numbers and a short Slack-ready summary."""

    html_path: Path
    md_path: Path
    summary: dict[str, Any]
    recommendations: list[Recommendation] = field(default_factory=list)
    text: str = ""

    def send(self, notifier: Any) -> dict[str, Any]:
        """Post the summary with the HTML report attached (never raises)."""
        return notifier.send_report(self.text, subject="final report", attachments=[self.html_path])


def summary_text(summary: dict[str, Any]) -> str:
    """A few Slack mrkdwn lines from the summary (numbers only: nothing to escape)."""
    s = summary
    lines = [
        "*Lead sprint: final report*",
        f"*Leads:* {f_count(s['collected'])} records, {f_count(s['unique'])} unique "
        f"(duplicates {f_pct(s['duplicate_rate'])}), {f_count(s['qualified'])} qualified",
        f"*Quality:* average {f_score(s['avg_quality_score'])}, email {f_pct(s['email_availability'])}, "
        f"company data {f_pct(s['company_completeness'])}",
        f"*Cost:* {f_usd(s['spend_usd'])} spent, {f_usd(s['cost_per_qualified_lead'])} per qualified lead",
        f"*Targets:* {s['targets_met']} met"
        + (f", missed: {', '.join(s['targets_missed'])}" if s["targets_missed"] else "")
        + (f", none yet: {', '.join(s['targets_pending'])}" if s["targets_pending"] else ""),
        "The full report (HTML, charts and recommendations) is attached.",
    ]
    return "\n".join(lines)


def render_hourly(store: Any, cfg: Any, now: datetime | None = None) -> HourlyReport:
    """The hourly report at ``now``: progress, rate, errors by vendor, quality, spend, projected finish."""
    now = to_utc(now) if now is not None else datetime.now(UTC)
    rules = load_alert_rules(cfg)
    data = gather_report_data(store, cfg, now, rules)
    text = SLACK_ENV.get_template("hourly.md.j2").render(d=data, cfg=cfg, rate_floor=rules.min_leads_per_hour)
    png = charts.progress_png(data, cfg.targets.collected, cfg.hours)
    return HourlyReport(f"hourly report {f_when(data.generated_at)}", text, png, data)


def _chart_set(data: ReportData, cfg: Any) -> dict[str, bytes]:
    return {
        "progress": charts.progress_png(data, cfg.targets.collected, cfg.hours),
        "quality": charts.quality_png(data, cfg.targets.avg_quality_score),
        "sources": charts.sources_png(data),
        "roles": charts.breakdown_png(data.by_role, "role", "Leads by target role"),
        "metros": charts.breakdown_png(data.by_metro, "metro", "Leads by target metro"),
    }


def summary_of(data: ReportData, recs: list[Recommendation]) -> dict[str, Any]:
    """The final report's headline numbers (JSON-able), e.g. for run metadata."""
    m = data.metrics
    return {
        "generated_at": data.generated_at,
        "collected": m["collected"],
        "unique": m["unique"],
        "duplicates": m["duplicates"],
        "duplicate_rate": m["duplicate_rate"],
        "qualified": m["qualified"],
        "quarantined": m["quarantined"],
        "avg_quality_score": m["avg_quality_score"],
        "email_availability": m["email_availability"],
        "company_completeness": m["company_completeness"],
        "validation_rate": m["validation_rate"],
        "spend_usd": data.spend["total_usd"],
        "spend_source": data.spend["source"],
        "cost_per_qualified_lead": data.spend["cost_per_qualified_lead"],
        "vendor_calls": m["vendor_calls"],
        "vendor_call_errors": m["vendor_call_errors"],
        "crm_synced": data.crm["synced"],
        "targets_met": sum(1 for t in data.targets if t["met"] is True),
        "targets_missed": [t["name"] for t in data.targets if t["met"] is False],
        "targets_pending": [t["name"] for t in data.targets if t["met"] is None],
        "recommendations": [r.key for r in recs],
    }


def render_final(store: Any, cfg: Any, out_dir: str | Path, now: datetime | None = None) -> FinalReport:
    """Write ``final-report.html`` (self-contained) and ``final-report.md`` (+ its PNGs) to ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = gather_report_data(store, cfg, now)
    recs = recommend(data, cfg)
    pngs = _chart_set(data, cfg)
    embedded = {name: base64.b64encode(png).decode("ascii") for name, png in pngs.items()}
    files = {}
    for name, png in pngs.items():
        path = out / f"{FINAL_STEM}-{name}.png"
        path.write_bytes(png)
        files[name] = Raw(path.name)
    context = {"d": data, "cfg": cfg, "recs": recs}
    html_path, md_path = out / f"{FINAL_STEM}.html", out / f"{FINAL_STEM}.md"
    html_path.write_text(HTML_ENV.get_template("final.html.j2").render(charts=embedded, **context), encoding="utf-8")
    md_path.write_text(MD_ENV.get_template("final.md.j2").render(charts=files, **context), encoding="utf-8")
    summary = summary_of(data, recs)
    return FinalReport(html_path, md_path, summary, recs, summary_text(summary))
