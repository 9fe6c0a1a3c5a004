"""Slack notifier: post messages and upload files (the v2 way) without ever raising into the caller.

Built on ``slack_sdk.WebClient``. slack-sdk joins its ``base_url`` and the method name with
``urljoin``, so the base must end in ``/api/``: ``SLACK_BASE_URL`` is the host part
(``https://slack.com``, or the sandbox's ``.../slack``) and ``/api/`` is appended here.

Retries: 429 (after ``Retry-After``), 5xx and connection errors are retried while a small
per-operation budget lasts (attempts and seconds); a ``Retry-After`` longer than what is left of
the budget gives up at once, because an alert must never hold up a run. Whatever happens, the
caller gets a :class:`SendResult`; failures are logged (never the token).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from http.client import RemoteDisconnected
from typing import Any
from urllib.error import HTTPError, URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.handler import RetryHandler

from lead_assets.clients.retry import SERVER_ERRORS, Budget, exponential_backoff, retry_after_seconds

log = logging.getLogger("lead_assets.notify.slack")

DEFAULT_BASE_URL = "https://slack.com"


@dataclass
class SendResult:
    """What happened on one channel (slack, email or log); shared by every notifier."""

    channel: str
    ok: bool
    detail: str = ""
    attempts: int = 0
    ids: dict[str, Any] = field(default_factory=dict)  # e.g. ts, file_id, message_id

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for run metadata or a sensor's log)."""
        return asdict(self)


def api_base_url(base_url: str | None) -> str:
    """``SLACK_BASE_URL`` as slack-sdk needs it: ending in ``/api/`` exactly once."""
    base = (base_url or DEFAULT_BASE_URL).rstrip("/")
    if base.endswith("/api"):
        base = base[: -len("/api")]
    return base + "/api/"


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters (&, <, >)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _BudgetRetryHandler(RetryHandler):
    """slack-sdk retry hook: 429/5xx/connection errors, while the current operation's budget lasts."""

    def __init__(self, owner: SlackNotifier):
        super().__init__(max_retry_count=1_000_000)  # the budget decides, not a fixed count
        self.owner = owner

    def _wait(self, state, response, error) -> float | None:
        if response is not None:
            if response.status_code == 429:
                retry_after = retry_after_seconds(response.headers)
                return 1.0 if retry_after is None else retry_after
            if response.status_code in SERVER_ERRORS:
                return self.owner.backoff(state.current_attempt)
            return None
        if isinstance(error, (URLError, ConnectionError, RemoteDisconnected, TimeoutError)) and not isinstance(
            error, HTTPError
        ):
            return self.owner.backoff(state.current_attempt)
        return None

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:
        budget = self.owner._budget
        wait = self._wait(state, response, error)
        if budget is None or wait is None or not budget.allows(wait):
            return False
        state.custom_values = {**(state.custom_values or {}), "wait": wait}
        return True

    def prepare_for_next_attempt(self, *, state, request, response=None, error=None) -> None:
        wait = (state.custom_values or {}).get("wait", 0.0)
        state.next_attempt_requested = True
        self.owner._budget.start_attempt()
        self.owner.sleep(wait)
        state.increment_current_attempt()


class SlackNotifier:
    """Posts to one channel. ``post`` and ``upload`` return a SendResult and never raise."""

    def __init__(
        self,
        token: str,
        channel: str,
        base_url: str | None = None,
        *,
        timeout: int = 10,
        max_attempts: int = 4,
        retry_budget_seconds: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.channel = channel
        self.base_url = api_base_url(base_url)
        self.max_attempts = max_attempts
        self.retry_budget_seconds = retry_budget_seconds
        self.sleep = sleep
        self.clock = clock
        self._token = token
        self._budget: Budget | None = None
        self._known_channel_id: str | None = None
        self._op_lock = threading.Lock()  # the budget belongs to one operation at a time
        self.client = WebClient(
            token=token,
            base_url=self.base_url,
            timeout=timeout,
            retry_handlers=[_BudgetRetryHandler(self)],
        )

    def __repr__(self) -> str:  # never the token
        return f"SlackNotifier(channel={self.channel!r}, base_url={self.base_url!r})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs: Any) -> SlackNotifier | None:
        """A notifier from SLACK_BOT_TOKEN, SLACK_CHANNEL and SLACK_BASE_URL; None when not configured."""
        env = os.environ if env is None else env
        token, channel = env.get("SLACK_BOT_TOKEN"), env.get("SLACK_CHANNEL")
        if not token or not channel:
            return None
        return cls(token, channel, env.get("SLACK_BASE_URL") or None, **kwargs)

    def backoff(self, attempt: int) -> float:
        """Seconds before retry number ``attempt + 1`` of a 5xx or a dropped connection."""
        return exponential_backoff(attempt + 1, 0.5, cap=8.0)

    # -- operations -------------------------------------------------------------------------

    def post(self, text: str, blocks: list[dict] | None = None, thread_ts: str | None = None) -> SendResult:
        """chat.postMessage to the channel; ``text`` is the notification fallback when blocks are given."""

        def call() -> dict[str, Any]:
            resp = self.client.chat_postMessage(channel=self.channel, text=text, blocks=blocks, thread_ts=thread_ts)
            return {"ts": resp.get("ts"), "channel_id": resp.get("channel")}

        return self._run("chat.postMessage", call)

    def upload(
        self,
        content: bytes,
        filename: str,
        title: str | None = None,
        initial_comment: str | None = None,
        thread_ts: str | None = None,
    ) -> SendResult:
        """files_upload_v2 (getUploadURLExternal, upload, completeUploadExternal) shared to the channel."""

        def call() -> dict[str, Any]:
            resp = self.client.files_upload_v2(
                content=content,
                filename=filename,
                title=title or filename,
                channel=self._channel_id(),
                initial_comment=initial_comment,
                thread_ts=thread_ts,
            )
            file = resp.get("file") or {}
            return {"file_id": file.get("id"), "title": file.get("title")}

        return self._run("files_upload_v2", call)

    def _channel_id(self) -> str:
        # completeUploadExternal shares to a channel *id*; chat.postMessage answers with the id of
        # the channel it posted to, so after one post a SLACK_CHANNEL given by name works too.
        return self._known_channel_id or self.channel

    # -- plumbing ---------------------------------------------------------------------------

    def _run(self, what: str, call: Callable[[], dict[str, Any]]) -> SendResult:
        """Run one SDK operation inside a retry budget; log and return failures."""
        with self._op_lock:
            self._budget = budget = Budget(self.max_attempts, self.retry_budget_seconds, self.clock)
            try:
                while True:
                    budget.start_attempt()
                    try:
                        ids = call()
                        if ids.get("channel_id"):
                            self._known_channel_id = ids["channel_id"]
                        return SendResult("slack", True, f"{what} ok", budget.used, ids)
                    except SlackApiError as exc:
                        # The retry handler already spent the budget on 429/5xx; an app error
                        # (invalid_auth, channel_not_found ...) is not worth retrying.
                        code = exc.response.get("error") if exc.response is not None else None
                        status = getattr(exc.response, "status_code", None)
                        return self._failed(what, f"{code or 'error'} (HTTP {status})", budget.used)
                    except (SlackRequestError, URLError, ConnectionError, RemoteDisconnected, TimeoutError) as exc:
                        # The upload step of files_upload_v2 bypasses the SDK's retry handlers,
                        # and handlers give up on errors they do not know: retry the whole step here.
                        wait = self.backoff(budget.used - 1)
                        if not budget.allows(wait):
                            return self._failed(what, self._describe(exc), budget.used)
                        log.info("Slack %s failed (%s); retrying in %.1fs", what, self._describe(exc), wait)
                        self.sleep(wait)
                    except Exception as exc:  # never raise into a run or a sensor
                        return self._failed(what, f"unexpected {type(exc).__name__}: {self._describe(exc)}",
                                            budget.used)
            finally:
                self._budget = None

    def _describe(self, exc: BaseException) -> str:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return self._scrub(text)[:300]

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def _failed(self, what: str, detail: str, attempts: int) -> SendResult:
        detail = self._scrub(detail)
        log.warning("Slack %s to %s failed after %d attempt(s): %s", what, self.channel, attempts, detail)
        return SendResult("slack", False, detail, attempts)
