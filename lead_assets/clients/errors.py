"""Errors a vendor call can end in, each saying what an operator should do."""

from __future__ import annotations


class VendorError(Exception):
    """A vendor call that did not produce a usable answer."""

    def __init__(self, vendor: str, message: str, *, status: int | None = None, attempts: int = 1):
        super().__init__(f"{vendor}: {message}")
        self.vendor = vendor
        self.status = status
        self.attempts = attempts


class VendorAuthError(VendorError):
    """401/403: the credentials are wrong or lack access. Stops that source; names the setting to fix."""


class VendorRequestError(VendorError):
    """400/422: the vendor rejected the request itself; retrying the same request cannot help."""


class VendorCallFailed(VendorError):
    """The retry budget was spent on 429s, 5xx, timeouts or malformed bodies."""


class RateLimitExhausted(VendorCallFailed):
    """The vendor's window will not reopen within the wait we allow inside a run."""


class UnreadablePaidResponse(VendorCallFailed):
    """A paid call answered 200 with a body we cannot read: the vendor has already charged.

    Retrying would buy the same people again, so the call is not retried; `text` keeps the
    body for the landing table and the people go to quarantine for an operator to review.
    """

    def __init__(self, vendor: str, message: str, *, text: str, status: int):
        super().__init__(vendor, message, status=status, attempts=1)
        self.text = text


class QuotaExhausted(VendorError):
    """The plan's credits are spent (Hunter 429): stop this provider for the run; the run goes on."""


class AnswerPending(VendorCallFailed):
    """The vendor kept saying "not ready" (Hunter 202/222, Clearbit 202) past the poll budget.

    Nothing was charged; asking again in a later run is safe.
    """
