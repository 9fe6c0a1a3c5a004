"""Hourly and final sprint reports: numbers from the store, charts, Jinja2 templates, recommendations.

* :func:`~lead_assets.reports.render.render_hourly` -> ``HourlyReport(subject, text, png, data)``;
* :func:`~lead_assets.reports.render.render_final` -> ``FinalReport(html_path, md_path, summary, ...)``.

Both read the store only (never a vendor) and send through ``lead_assets.clients.notify.Notifier``.
"""

from lead_assets.reports.render import FinalReport, HourlyReport, render_final, render_hourly

__all__ = ["FinalReport", "HourlyReport", "render_final", "render_hourly"]
