"""`CrmProgress`: reads that join `leads` with `crm_sync_state`, which qualified leads a CRM has or lacks.

The writes of `crm_sync_state` live in `crm_sync_state.py` (module functions over a store);
these are the questions the exports and the status ask of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from lead_assets.store.base import StoreBase, reconnecting

_NEVER_SENT = (
    "SELECT ls.lead_id, ls.partition_key FROM leads l JOIN lead_sources ls ON ls.lead_id = l.lead_id "
    "WHERE l.is_qualified = :t AND NOT EXISTS "
    "(SELECT 1 FROM crm_sync_state s WHERE s.lead_id = l.lead_id AND s.crm = :crm)"
)
_SETTLED = "SELECT lead_id FROM crm_sync_state WHERE crm = :crm AND state <> 'pending' AND lead_id {in_clause}"
_SYNC_TIMES = (
    "SELECT l.created_at, s.synced_at, s.state FROM leads l LEFT JOIN crm_sync_state s ON s.lead_id = l.lead_id "
    "WHERE l.is_qualified = :t"
)


class CrmProgress(StoreBase):
    """Where qualified leads stand in the CRMs."""

    def never_sent_qualified(self, crm: str) -> pd.DataFrame:
        """Qualified leads with no sync state in `crm` yet: one row (lead_id, partition_key) per record of theirs."""
        return self.read_sql(_NEVER_SENT, {"t": True, "crm": crm})

    @reconnecting
    def settled_lead_ids(self, crm: str, lead_ids: Sequence[str]) -> set[str]:
        """The leads among `lead_ids` with an outcome in `crm` (a sync state other than pending)."""
        return {r["lead_id"] for r in self._read_in_chunks(_SETTLED, "ids", sorted(lead_ids), {"crm": crm})}

    def qualified_sync_times(self) -> pd.DataFrame:
        """Each qualified lead's created_at with each of its sync states (synced_at, state; NULL when none)."""
        return self.read_sql(_SYNC_TIMES, {"t": True})
