"""Fan-out of alerts and reports: Slack when configured, email when configured, the log always.

``Notifier.from_env()`` reads SLACK_BOT_TOKEN / SLACK_CHANNEL / SLACK_BASE_URL and SMTP_URL /
ALERT_EMAIL_TO / ALERT_EMAIL_FROM; a channel whose settings are missing is simply skipped (the
log says so once). Every method returns ``{channel: SendResult}`` and never raises, so a sensor
or a run can call it without a try/except and record the outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lead_assets.clients.email_notifier import EmailNotifier
from lead_assets.clients.slack_notifier import SendResult, SlackNotifier, escape_mrkdwn

log = logging.getLogger("lead_assets.alerts")

__all__ = ["Notifier", "SendResult"]


class Notifier:
    """Sends to every configured channel and always to the log."""

    def __init__(
        self,
        slack: SlackNotifier | None = None,
        email: EmailNotifier | None = None,
        logger: logging.Logger | None = None,
    ):
        self.slack = slack
        self.email = email
        self.log = logger or log
        missing = [name for name, channel in (("Slack", slack), ("email", email)) if channel is None]
        if missing:
            # Once per notifier, not per alert: the operator needs to know, not to be reminded.
            self.log.info(
                "%s not configured: alerts go to the log (README, 'Alerts and reports', says how to connect)",
                " and ".join(missing),
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs: Any) -> Notifier:
        """A notifier for whatever the environment configures (possibly just the log)."""
        return cls(SlackNotifier.from_env(env), EmailNotifier.from_env(env), **kwargs)

    @property
    def channels(self) -> list[str]:
        """The channels a message goes to, log included."""
        return [n for n, c in (("slack", self.slack), ("email", self.email)) if c is not None] + ["log"]

    # -- alerts -----------------------------------------------------------------------------

    def send_alert(self, alert: Any) -> dict[str, SendResult]:
        """One alert (an ``alert_rules.Alert``, or anything with ``headline``/``event``/``severity``)."""
        fired = getattr(alert, "event", "fired") == "fired"
        headline = str(getattr(alert, "headline", alert))
        level = logging.WARNING if fired else logging.INFO
        results = {"log": self._log(level, "alert %s", headline)}
        if self.slack is not None:
            icon = ":rotating_light:" if fired else ":white_check_mark:"
            results["slack"] = self.slack.post(f"{icon} {escape_mrkdwn(headline)}")
        if self.email is not None:
            results["email"] = self.email.send(f"[lead-sprint] {headline[:150]}", headline + "\n")
        return results

    def send_alerts(self, alerts: Iterable[Any]) -> list[dict[str, SendResult]]:
        """Each alert in turn; one result dict per alert."""
        return [self.send_alert(a) for a in alerts]

    # -- reports ----------------------------------------------------------------------------

    def send_report(
        self,
        text: str,
        *,
        subject: str,
        png: bytes | None = None,
        png_name: str = "chart.png",
        attachments: Iterable[Path | tuple[str, bytes, str]] = (),
        html: str | None = None,
    ) -> dict[str, SendResult]:
        """A report: ``text`` (Slack mrkdwn, already escaped) with an optional chart and files.

        Slack gets the message, then the chart (and each attachment) as v2 uploads into its thread;
        email gets one message with the text, the optional HTML body and the files attached.
        """
        files = []
        for item in attachments:
            try:
                files.append(_as_attachment(item))
            except OSError as exc:  # a missing report file must not stop the message itself
                self.log.warning("report attachment %s unreadable: %s", item, exc)
        results = {"log": self._log(logging.INFO, "report %s\n%s", subject, text)}
        if self.slack is not None:
            posted = self.slack.post(text)
            results["slack"] = posted
            uploads = ([(png_name, png, "image/png")] if png else []) + files
            for name, data, _ in uploads:
                if not posted.ok:
                    break
                up = self.slack.upload(data, name, title=f"{subject}: {name}", thread_ts=posted.ids.get("ts"))
                posted.ids.setdefault("files", []).append(up.ids.get("file_id"))
                if not up.ok:
                    results["slack"] = SendResult("slack", False, f"message posted, upload failed: {up.detail}",
                                                  posted.attempts + up.attempts, posted.ids)
                    break
        if self.email is not None:
            mail_files = ([(png_name, png, "image/png")] if png else []) + files
            results["email"] = self.email.send(f"[lead-sprint] {subject}", text, html, mail_files)
        return results

    def _log(self, level: int, fmt: str, *args: Any) -> SendResult:
        self.log.log(level, fmt, *args)
        return SendResult("log", True, "logged", 1)


def _as_attachment(item: Path | tuple[str, bytes, str]) -> tuple[str, bytes, str]:
    if isinstance(item, tuple):
        return item
    path = Path(item)
    mimetype = {".html": "text/html", ".md": "text/markdown", ".png": "image/png"}.get(
        path.suffix.lower(), "application/octet-stream"
    )
    return path.name, path.read_bytes(), mimetype
