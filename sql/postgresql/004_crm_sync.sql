-- 004_crm_sync (PostgreSQL): where each lead stands in each CRM.
--
-- One row per (lead, CRM). `state` is where the last run left the lead:
--   created / updated  the CRM confirmed it (crm_id, synced_at, content_hash of what it holds)
--   rejected           the CRM (or our pre-send checks) refused it: `reason`, and `permanent`
--                      says whether the next run retries it (bounded by `attempts`)
--   skipped            not sent on purpose: unqualified, suppressed or over budget (`reason`)
--   pending            selected for sending, outcome not known yet (a run died mid-call)
-- `content_hash` fingerprints the mapped payload last sent, so a re-run sends only what changed.
-- Rows follow their lead: erasing a lead erases its sync state.

CREATE TABLE IF NOT EXISTS crm_sync_state (
    lead_id       TEXT NOT NULL REFERENCES leads (lead_id) ON DELETE CASCADE,
    crm           TEXT NOT NULL,
    crm_id        TEXT,
    state         TEXT NOT NULL CHECK (state IN ('created', 'updated', 'rejected', 'skipped', 'pending')),
    reason        TEXT,
    permanent     BOOLEAN NOT NULL DEFAULT false,
    attempts      INTEGER NOT NULL DEFAULT 0,
    content_hash  TEXT,
    synced_at     TIMESTAMPTZ,
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (lead_id, crm)
);
CREATE INDEX IF NOT EXISTS crm_sync_state_state_idx ON crm_sync_state (crm, state);
