"""Report charts as PNG bytes (matplotlib, Agg canvas, no pyplot global state).

Each function takes a :class:`~lead_assets.reports.data.ReportData` and returns PNG bytes; with no
data the chart still renders, saying "none yet". Vendor-supplied labels (metros, sources) are drawn
with mathtext off, so a ``$`` in a vendor string cannot break a chart.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import matplotlib

# The Agg canvas is used directly (no pyplot), so headless workers never pick a GUI backend.
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from lead_assets.reports.data import ReportData
from lead_assets.store.lead_store import to_utc

SIZE = (8.0, 3.6)
DPI = 100
COLORS = {"records": "#1f77b4", "leads": "#2ca02c", "target": "#d62728", "qualified": "#ff7f0e"}


def _render(draw: Callable[[Any], None], size: tuple[float, float] = SIZE) -> bytes:
    with matplotlib.rc_context({"text.parse_math": False, "font.size": 9}):
        fig = Figure(figsize=size, dpi=DPI)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        draw(ax)
        fig.tight_layout()
        buf = io.BytesIO()
        # No timestamp/software metadata: the same data gives the same bytes.
        fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _none_yet(ax: Any, title: str) -> None:
    ax.set_title(title)
    ax.text(0.5, 0.5, "none yet", ha="center", va="center", fontsize=14, color="#777777",
            transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def progress_png(data: ReportData, target_collected: int, sprint_hours: float) -> bytes:
    """Records collected and unique leads over time, against the pace that reaches the target."""
    title = f"Progress: target {target_collected:,} records in {sprint_hours:g} h"

    def draw(ax: Any) -> None:
        if not data.timeline:
            _none_yet(ax, title)
            return
        buckets = [datetime.fromisoformat(p["minute"]) for p in data.timeline]
        end = max(buckets[-1], to_utc(data.generated_at) or buckets[-1])
        started = min(to_utc(data.sprint.get("started_at")) or buckets[0], buckets[0])
        # Each minute's running total is reached by the end of that minute: plot it there, from 0.
        times = [started] + [min(b + timedelta(minutes=1), end) for b in buckets]
        ax.plot(times, [0] + [p["records_total"] for p in data.timeline], color=COLORS["records"],
                label="records collected")
        ax.plot(times, [0] + [p["leads_total"] for p in data.timeline], color=COLORS["leads"],
                label="unique leads")
        # The pace line: where the sprint should be at each moment to finish on target.
        pace = [target_collected * min((t - started).total_seconds() / 3600 / sprint_hours, 1.0)
                for t in (started, end)]
        ax.plot([started, end], pace, linestyle="--", color=COLORS["target"], label="target pace")
        ax.set_title(title)
        ax.set_ylabel("count")
        ax.legend(loc="upper left")
        ax.grid(alpha=0.3)
        ax.figure.autofmt_xdate()

    return _render(draw)


def quality_png(data: ReportData, target_score: float) -> bytes:
    """Leads per quality band, with the target average marked."""
    title = f"Quality score distribution (target average {target_score:g})"

    def draw(ax: Any) -> None:
        if not any(b["leads"] for b in data.quality_bands):
            _none_yet(ax, title)
            return
        ax.bar([b["band"] for b in data.quality_bands], [b["leads"] for b in data.quality_bands],
               color=COLORS["leads"])
        avg = data.metrics.get("avg_quality_score")
        if avg is not None:
            ax.axvline(avg / 10 - 0.5, color=COLORS["records"], label=f"average {avg:.1f}")
        ax.axvline(target_score / 10 - 0.5, color=COLORS["target"], linestyle="--", label=f"target {target_score:g}")
        ax.set_title(title)
        ax.set_xlabel("quality score")
        ax.set_ylabel("leads")
        ax.legend(loc="upper left")

    return _render(draw)


def sources_png(data: ReportData) -> bytes:
    """Leads and qualified leads per source, with the cost per qualified lead above each."""
    title = "Leads by source"

    def draw(ax: Any) -> None:
        rows = [s for s in data.by_source if s["leads"]]
        if not rows:
            _none_yet(ax, title)
            return
        xs = list(range(len(rows)))
        ax.bar([x - 0.2 for x in xs], [s["leads"] for s in rows], width=0.4, color=COLORS["leads"], label="leads")
        ax.bar([x + 0.2 for x in xs], [s["qualified"] for s in rows], width=0.4, color=COLORS["qualified"],
               label="qualified")
        for x, s in zip(xs, rows, strict=True):
            cpq = s["cost_per_qualified"]
            label = "cost/qualified: none yet" if cpq is None else f"${cpq:.2f}/qualified"
            ax.annotate(label, (x, s["leads"]), ha="center", va="bottom", fontsize=8)
        ax.set_xticks(xs, [str(s["source"]) for s in rows])
        ax.set_xlim(-1, len(rows))  # a lone source should not fill the whole width
        ax.set_title(title)
        ax.set_ylabel("leads")
        ax.legend(loc="upper right")

    return _render(draw)


def breakdown_png(rows: list[dict], name_key: str, title: str) -> bytes:
    """Horizontal bars of leads per role or metro (targets only), fewest at the top."""

    def draw(ax: Any) -> None:
        shown = [r for r in rows if r.get("target")]
        if not shown or not any(r["leads"] for r in shown):
            _none_yet(ax, title)
            return
        shown = sorted(shown, key=lambda r: r["leads"], reverse=True)
        ax.barh([str(r[name_key])[:40] for r in shown], [r["leads"] for r in shown], color=COLORS["records"])
        ax.set_title(title)
        ax.set_xlabel("leads")

    return _render(draw, (8.0, 0.35 * max(len(rows), 4) + 1.0))
