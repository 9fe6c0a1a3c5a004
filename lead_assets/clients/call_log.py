"""The call log every vendor client keeps: one `CallRecord` per logical call, secrets redacted."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

SENSITIVE_PARAMS = ("api_key", "key", "token", "password", "secret")


@dataclass
class CallRecord:
    """One logical call (all its attempts), for the `vendor_calls` table and the metrics."""

    vendor: str
    endpoint: str
    status_code: int | None
    attempts: int
    outcome: str  # ok | retried_ok | failed
    error: str | None
    duration_ms: int
    credits: float = 0.0
    called_at: float = field(default_factory=time.time)
    polls: int = 0  # of `attempts`: asking again for an answer the vendor said was coming (not retries)

    def as_row(self, partition_key: str | None, run_id: str | None) -> dict:
        """The `vendor_calls` row of this call."""
        return {"vendor": self.vendor, "endpoint": self.endpoint, "partition_key": partition_key, "run_id": run_id,
                "status_code": self.status_code, "attempts": self.attempts, "polls": self.polls,
                "outcome": self.outcome, "error": self.error, "credits": self.credits,
                "duration_ms": self.duration_ms, "called_at": datetime.fromtimestamp(self.called_at, UTC)}


def merged_record(records: Sequence[CallRecord], path: str, failure: BaseException | None, polls: int) -> CallRecord:
    """One record for the attempts of one logical call (`polls` of them asked for a pending answer)."""
    attempts = sum(r.attempts for r in records)
    if failure is None:  # a 404 that answers the question is a success too
        outcome, error = ("ok" if attempts - polls == 1 else "retried_ok"), None
    else:
        outcome, error = "failed", redact(str(failure))[:300]
    return CallRecord(
        vendor=records[0].vendor,
        endpoint=path,
        status_code=records[-1].status_code,
        attempts=attempts,
        outcome=outcome,
        error=error,
        duration_ms=sum(r.duration_ms for r in records),
        called_at=records[0].called_at,
        polls=polls,
    )


_REDACTIONS = (
    re.compile(rf"(?<![A-Za-z0-9])((?:{'|'.join(SENSITIVE_PARAMS)})=)[^&\s'\"]+", re.IGNORECASE),
    re.compile(r"(\bauthorization['\"]?\s*[:=]\s*['\"]?(?:(?:bearer|basic|token)\s+)?)[^\s'\",}]+", re.IGNORECASE),
    re.compile(r"(\b(?:x-api-key|api-key|apikey)['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+", re.IGNORECASE),
    re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/\s@]+:)[^@\s/]+(?=@)", re.IGNORECASE),
)


def redact(text: str) -> str:
    """Remove secrets (query keys, Authorization / x-api-key headers, URL passwords) from a message."""
    for pattern in _REDACTIONS:
        text = pattern.sub(r"\1***", text)
    return text
