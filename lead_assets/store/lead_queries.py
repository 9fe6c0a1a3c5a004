"""`LeadQueries`: read-only lookups of stored leads for matchers and forecasts (by company, website, status)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy import text

from lead_assets.core.lead_schema import LEAD_COLUMNS
from lead_assets.store.base import StoreBase, reconnecting
from lead_assets.store.values import normalize_frame


class LeadQueries(StoreBase):
    """Questions about the `leads` table that its writers do not need."""

    @reconnecting
    def qualified_count(self) -> int:
        """How many stored leads are qualified."""
        with self._read() as conn:
            return int(conn.execute(text("SELECT count(*) FROM leads WHERE is_qualified = :t"), {"t": True}).scalar_one())

    @reconnecting
    def leads_at_companies(self, company_names: Sequence[str], columns: Sequence[str]) -> pd.DataFrame:
        """`columns` of the stored leads whose company_name is one of `company_names` (ordered by lead_id)."""
        unknown = set(columns) - set(LEAD_COLUMNS)
        if unknown:
            raise ValueError(f"leads_at_companies: no lead columns {sorted(unknown)}")
        sql = f"SELECT {', '.join(columns)} FROM leads WHERE company_name {{in_clause}}"
        df = pd.DataFrame(self._read_in_chunks(sql, "names", list(company_names)), columns=list(columns))
        return normalize_frame(df.sort_values("lead_id", ignore_index=True) if "lead_id" in df.columns else df)

    @reconnecting
    def linkedin_leads_at_websites(self, websites: Sequence[str]) -> list[dict]:
        """full_name, company_website and linkedin_url of the leads with a LinkedIn URL at one of `websites`."""
        sql = ("SELECT full_name, company_website, linkedin_url FROM leads WHERE linkedin_url IS NOT NULL "
               "AND company_website {in_clause}")
        return [dict(r) for r in self._read_in_chunks(sql, "websites", list(websites))]
