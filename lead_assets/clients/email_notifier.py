"""Email notifier over SMTP (``smtplib``), with the Slack notifier's contract: never raise.

Configured by ``SMTP_URL`` and ``ALERT_EMAIL_TO`` (comma-separated); ``ALERT_EMAIL_FROM`` is
optional. URL forms:

* ``smtp://user:pass@host:587``: plain SMTP, STARTTLS when the server offers it (``?starttls=0``
  turns it off, ``?starttls=1`` requires it);
* ``smtps://user:pass@host:465``: TLS from the first byte.

User and password are percent-decoded; without them no AUTH is attempted. Transient failures
(connection refused or dropped, 4xx replies) are retried within a small budget; 5xx replies
(bad credentials, refused recipients) are not. The password is never logged.
"""

from __future__ import annotations

import logging
import os
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from lead_assets.clients.retry import Budget, exponential_backoff
from lead_assets.clients.slack_notifier import SendResult

log = logging.getLogger("lead_assets.notify.email")

DEFAULT_PORTS = {"smtp": 25, "smtps": 465}


@dataclass(frozen=True)
class SmtpSettings:
    """A parsed SMTP_URL (``repr`` hides the password)."""

    host: str
    port: int
    tls: bool  # implicit TLS (smtps)
    starttls: str  # "auto" | "always" | "never"
    user: str | None = None
    password: str | None = None

    def __repr__(self) -> str:
        who = f"{self.user}:***@" if self.user else ""
        scheme = "smtps" if self.tls else "smtp"
        return f"SmtpSettings({scheme}://{who}{self.host}:{self.port})"

    @classmethod
    def from_url(cls, url: str) -> SmtpSettings:
        """Parse ``smtp[s]://[user[:pass]@]host[:port][?starttls=0|1]``; ValueError when malformed."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError("SMTP_URL must look like smtp://user:pass@host:port or smtps://...")
        flag = (parse_qs(parts.query).get("starttls") or ["auto"])[0].lower()
        starttls = {"1": "always", "true": "always", "0": "never", "false": "never"}.get(flag, "auto")
        return cls(
            host=parts.hostname,
            port=parts.port or DEFAULT_PORTS[scheme],
            tls=scheme == "smtps",
            starttls="never" if scheme == "smtps" else starttls,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


def _transient(exc: BaseException) -> bool:
    """Worth another attempt: the connection failed, or the server said "try again later" (4xx)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    return isinstance(exc, (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError))


class EmailNotifier:
    """Sends one email per call to ``to``; ``send`` returns a SendResult and never raises."""

    def __init__(
        self,
        smtp_url: str,
        to: Iterable[str],
        sender: str | None = None,
        *,
        timeout: float = 10.0,
        max_attempts: int = 3,
        retry_budget_seconds: float = 15.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.settings = SmtpSettings.from_url(smtp_url)
        self.to = [a.strip() for a in to if a and a.strip()]
        if not self.to:
            raise ValueError("ALERT_EMAIL_TO names no recipient")
        # gethostname, not getfqdn: no DNS lookup (which can hang) just to build a default address.
        self.sender = sender or f"lead-sprint@{socket.gethostname() or 'localhost'}"
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.retry_budget_seconds = retry_budget_seconds
        self.sleep = sleep
        self.clock = clock

    def __repr__(self) -> str:
        return f"EmailNotifier({self.settings!r}, to={self.to!r})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs: Any) -> EmailNotifier | None:
        """A notifier from SMTP_URL, ALERT_EMAIL_TO and ALERT_EMAIL_FROM; None when not configured."""
        env = os.environ if env is None else env
        url, to = env.get("SMTP_URL"), env.get("ALERT_EMAIL_TO")
        if not url or not to:
            return None
        try:
            return cls(url, to.split(","), env.get("ALERT_EMAIL_FROM") or None, **kwargs)
        except ValueError as exc:  # a typo in the settings must not take the sensor down
            log.warning("email alerts disabled: %s", exc)
            return None

    def build_message(
        self,
        subject: str,
        text: str,
        html: str | None = None,
        attachments: Iterable[tuple[str, bytes, str]] = (),
    ) -> EmailMessage:
        """A multipart message: text, optional HTML alternative, attachments (name, bytes, mime type)."""
        msg = EmailMessage()
        msg["Subject"] = " ".join(str(subject).split())  # no header injection through newlines
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        msg["Message-ID"] = make_msgid(domain="lead-sprint")
        msg.set_content(text)
        if html is not None:
            msg.add_alternative(html, subtype="html")
        for name, data, mimetype in attachments:
            maintype, _, subtype = mimetype.partition("/")
            msg.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream", filename=name)
        return msg

    def send(
        self,
        subject: str,
        text: str,
        html: str | None = None,
        attachments: Iterable[tuple[str, bytes, str]] = (),
    ) -> SendResult:
        """Send one email, retrying transient failures within the budget."""
        try:
            msg = self.build_message(subject, text, html, list(attachments))
        except Exception as exc:  # a bad attachment must not take the caller down either
            return self._failed(f"could not build the message: {type(exc).__name__}: {exc}", 0)
        budget = Budget(self.max_attempts, self.retry_budget_seconds, self.clock)
        while True:
            budget.start_attempt()
            try:
                self._deliver(msg)
                return SendResult("email", True, f"sent to {len(self.to)} recipient(s)", budget.used,
                                  {"message_id": msg["Message-ID"]})
            except Exception as exc:
                detail = self._describe(exc)
                wait = exponential_backoff(budget.used, 0.5, cap=5.0)
                if not _transient(exc) or not budget.allows(wait):
                    return self._failed(detail, budget.used)
                log.info("email send failed (%s); retrying in %.1fs", detail, wait)
                self.sleep(wait)

    def _deliver(self, msg: EmailMessage) -> None:
        s = self.settings
        if s.tls:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=self.timeout,
                                                  context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=self.timeout)
        with smtp:
            smtp.ehlo()
            if not s.tls and s.starttls != "never":
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                elif s.starttls == "always":
                    raise smtplib.SMTPNotSupportedError("the server does not offer STARTTLS")
            if s.user:
                smtp.login(s.user, s.password or "")
            smtp.send_message(msg, from_addr=self.sender, to_addrs=self.to)

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, smtplib.SMTPResponseException):
            message = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
            text = f"{type(exc).__name__} {exc.smtp_code} {message}"
        else:
            text = f"{type(exc).__name__}: {exc}"
        if self.settings.password:
            text = text.replace(self.settings.password, "***")
        return text.splitlines()[0][:300] if text else type(exc).__name__

    def _failed(self, detail: str, attempts: int) -> SendResult:
        log.warning("email to %s via %r failed after %d attempt(s): %s", ", ".join(self.to), self.settings,
                    attempts, detail)
        return SendResult("email", False, detail, attempts)
