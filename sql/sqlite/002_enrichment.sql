-- 002_enrichment (SQLite): the enrichment ledger, field provenance and the cost ledger.
--
-- Same names as sql/postgresql/002_enrichment.sql. Timestamps are fixed-width ISO-8601 UTC
-- text ('YYYY-MM-DDTHH:MM:SS.ffffff+00:00'), so comparing them as text orders them in time.

CREATE TABLE IF NOT EXISTS enrichment_ledger (
    lead_id              TEXT NOT NULL REFERENCES leads (lead_id) ON DELETE CASCADE,
    provider             TEXT NOT NULL,
    field                TEXT NOT NULL,
    outcome              TEXT NOT NULL CHECK (outcome IN ('found', 'not_found', 'failed', 'unverifiable')),
    value                TEXT,
    confidence           DOUBLE PRECISION,
    verification_status  TEXT,
    lookup_key           TEXT,
    cost_usd             DOUBLE PRECISION NOT NULL DEFAULT 0,
    looked_up_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    expires_at           TEXT NOT NULL,
    run_id               TEXT,
    partition_key        TEXT,
    PRIMARY KEY (lead_id, provider, field)
);
CREATE INDEX IF NOT EXISTS enrichment_ledger_lookup_idx ON enrichment_ledger (provider, field, lookup_key);

CREATE TABLE IF NOT EXISTS field_provenance (
    lead_id              TEXT NOT NULL REFERENCES leads (lead_id) ON DELETE CASCADE,
    field                TEXT NOT NULL,
    provider             TEXT NOT NULL,
    value                TEXT,
    cost_usd             DOUBLE PRECISION NOT NULL DEFAULT 0,
    verification_status  TEXT,
    supplied_at          TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    run_id               TEXT,
    PRIMARY KEY (lead_id, field)
);

CREATE TABLE IF NOT EXISTS cost_ledger (
    cost_id         INTEGER PRIMARY KEY,
    vendor          TEXT NOT NULL,
    endpoint        TEXT NOT NULL,
    units           DOUBLE PRECISION NOT NULL,
    unit_price_usd  DOUBLE PRECISION NOT NULL,
    cost_usd        DOUBLE PRECISION NOT NULL,
    run_id          TEXT,
    partition_key   TEXT,
    lead_id         TEXT,
    called_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now'))
);
CREATE INDEX IF NOT EXISTS cost_ledger_called_at_idx ON cost_ledger (called_at);
CREATE INDEX IF NOT EXISTS cost_ledger_run_idx ON cost_ledger (run_id);
