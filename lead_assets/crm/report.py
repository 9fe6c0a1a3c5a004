"""What one CRM sync run did: `SyncReport`, and `CrmSyncError` for a run that stopped."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from lead_assets.clients.errors import VendorError
from lead_assets.core.crm_mapping import MappingReport


class CrmSyncError(RuntimeError):
    """A CRM sync that stopped (mapping invalid, credentials refused, CRM unavailable)."""


@dataclass
class SyncReport:
    """What one run did; every lead in scope is in exactly one of the counted buckets."""

    crm: str | None
    run_id: str | None = None
    status: str = "ok"  # ok | disabled | mapping_invalid | stopped | deferred (a daily limit: resume_at)
    message: str = ""
    retryable: bool = False  # stopped by an outage a later attempt may not meet (not credentials, not limits)
    resume_at: str | None = None  # deferred: when the CRM's daily allowance comes back (ISO, UTC)
    considered: int = 0
    sent: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected_permanent: int = 0  # newly rejected this run, reported now
    rejected_fixable: int = 0  # retried on the next run
    held: int = 0  # rejected for a permanent reason earlier, unchanged since: not resent
    gave_up: int = 0  # fixable rejections out of attempts: now permanent, reported now
    skipped: dict[str, int] = field(default_factory=dict)
    pending: int = 0  # not resolved because the run stopped: resent next run
    truncated: int = 0
    requests: int = 0
    batches: int = 0
    batch_splits: int = 0
    jobs: int = 0
    token_refreshes: int = 0
    rate_limit_wait_s: float = 0.0
    duration_s: float = 0.0
    max_lag_s: float | None = None
    mapping: MappingReport | None = None
    rejections: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True unless the run stopped (a disabled sync is not a failure)."""
        return self.status in ("ok", "disabled")

    @property
    def rejected(self) -> int:
        """Rejections recorded by this run."""
        return self.rejected_permanent + self.rejected_fixable + self.gave_up

    @property
    def accounted(self) -> int:
        """Leads placed in a bucket: equals `considered` unless something was lost."""
        return (
            self.created
            + self.updated
            + self.unchanged
            + self.rejected
            + self.held
            + sum(self.skipped.values())
            + self.pending
        )

    def as_metadata(self) -> dict[str, Any]:
        """Flat JSON-ready numbers for the asset's metadata and the status command."""
        data = asdict(self)
        data.pop("mapping")
        data["rejections"] = self.rejections[:10]
        data["rejected"] = self.rejected
        data["accounted"] = self.accounted
        data["mapping_problems"] = list(self.mapping.problems) if self.mapping else []
        return data

    def raise_for_status(self) -> None:
        """Raise `CrmSyncError` with the report's message when the run stopped."""
        if not self.ok:
            raise CrmSyncError(f"CRM sync {self.status}: {self.message}")



def short(exc: BaseException, limit: int = 300) -> str:
    """An error's message for a report, without the vendor prefix, at most `limit` characters."""
    text = str(exc)
    if isinstance(exc, VendorError) and text.startswith(f"{exc.vendor}: "):
        text = text[len(exc.vendor) + 2 :]
    return text[:limit]
