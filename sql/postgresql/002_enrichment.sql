-- 002_enrichment (PostgreSQL): the enrichment ledger, field provenance and the cost ledger.
--
-- Applied once by lead_assets.store.database.apply_migrations; IF NOT EXISTS throughout so a
-- hand re-run is harmless. Same names as sql/sqlite/002_enrichment.sql.

-- One row per (person, provider, field): the last lookup and what it found. Within expires_at
-- nobody is bought twice from the same provider, whatever the run, source or partition; a
-- lookup that found nothing is remembered too. Erasing a lead erases its ledger rows.
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
    looked_up_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at           TIMESTAMPTZ NOT NULL,
    run_id               TEXT,
    partition_key        TEXT,
    PRIMARY KEY (lead_id, provider, field)
);
-- Answers about a thing rather than a person (a company domain) are shared across leads.
CREATE INDEX IF NOT EXISTS enrichment_ledger_lookup_idx ON enrichment_ledger (provider, field, lookup_key);

-- Who supplied each filled lead field, when, at what cost, with what verification status.
CREATE TABLE IF NOT EXISTS field_provenance (
    lead_id              TEXT NOT NULL REFERENCES leads (lead_id) ON DELETE CASCADE,
    field                TEXT NOT NULL,
    provider             TEXT NOT NULL,
    value                TEXT,
    cost_usd             DOUBLE PRECISION NOT NULL DEFAULT 0,
    verification_status  TEXT,
    supplied_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    run_id               TEXT,
    PRIMARY KEY (lead_id, field)
);

-- Every paid call, priced from configuration. A money record: it outlives the lead it was for.
CREATE TABLE IF NOT EXISTS cost_ledger (
    cost_id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    vendor          TEXT NOT NULL,
    endpoint        TEXT NOT NULL,
    units           DOUBLE PRECISION NOT NULL,
    unit_price_usd  DOUBLE PRECISION NOT NULL,
    cost_usd        DOUBLE PRECISION NOT NULL,
    run_id          TEXT,
    partition_key   TEXT,
    lead_id         TEXT,
    called_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS cost_ledger_called_at_idx ON cost_ledger (called_at);
CREATE INDEX IF NOT EXISTS cost_ledger_run_idx ON cost_ledger (run_id);
