"""`Claims`: hold leads for one purpose so two processes do not do (and pay for) the same work."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from lead_assets.store.base import StoreBase

log = logging.getLogger(__name__)

# A session advisory lock per (purpose, lead id): 64 bits of md5(purpose | id).
_TRY_LOCK = "pg_try_advisory_lock(('x' || substr(md5(:purpose || '|' || id), 1, 16))::bit(64)::bigint)"


class Claims(StoreBase):
    """`claimed`: the part of `LeadStore` that hands out leads to one process at a time."""

    @contextmanager
    def claimed(self, lead_ids: Sequence[str], purpose: str) -> Iterator[list[str]]:
        """The leads among `lead_ids` this process holds for `purpose` until the block ends.

        PostgreSQL: session advisory locks, taken without waiting, so a lead another process
        holds for the same purpose is left out (that process does the work), and released
        when the block ends or the process dies. Several runs can then enrich at once
        without two of them paying for the same person. SQLite (one writer, the demo): all.
        """
        ids = list(dict.fromkeys(lead_ids))
        if self.dialect != "postgresql" or not ids:
            yield ids
            return
        with self.engine.connect() as conn:
            try:
                mine = conn.execute(text(f"SELECT id FROM unnest(CAST(:ids AS text[])) AS id WHERE {_TRY_LOCK}"),
                                    {"ids": ids, "purpose": purpose}).scalars().all()
                conn.commit()  # session locks outlive the transaction; nothing else is held
                yield list(mine)
            finally:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock_all()"))
                    conn.commit()
                except DBAPIError:  # the session is gone (a restart), and its locks with it
                    conn.invalidate()
                    log.warning("the database session holding %d ids for %r ended during the hold (a restart?): "
                                "another run may have done some of the same work meanwhile", len(ids), purpose)
