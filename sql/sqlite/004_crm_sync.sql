-- 004_crm_sync (SQLite): same table as sql/postgresql/004_crm_sync.sql (see the states there).
-- Timestamps are fixed-width ISO-8601 UTC text, booleans 0/1.

CREATE TABLE IF NOT EXISTS crm_sync_state (
    lead_id       TEXT NOT NULL REFERENCES leads (lead_id) ON DELETE CASCADE,
    crm           TEXT NOT NULL,
    crm_id        TEXT,
    state         TEXT NOT NULL CHECK (state IN ('created', 'updated', 'rejected', 'skipped', 'pending')),
    reason        TEXT,
    permanent     BOOLEAN NOT NULL DEFAULT 0,
    attempts      INTEGER NOT NULL DEFAULT 0,
    content_hash  TEXT,
    synced_at     TEXT,
    updated_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    PRIMARY KEY (lead_id, crm)
);
CREATE INDEX IF NOT EXISTS crm_sync_state_state_idx ON crm_sync_state (crm, state);
