-- 001_init (PostgreSQL): the lead store's tables.
--
-- Applied once, in a transaction holding an advisory lock, by
-- lead_assets.store.database.apply_migrations, which records the version in
-- schema_version. Every statement is IF NOT EXISTS anyway so a hand re-run is harmless.
-- Column names of `leads` are lead_assets.core.lead_schema.LEAD_COLUMNS.

CREATE TABLE IF NOT EXISTS schema_version (
    version     INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    checksum    TEXT NOT NULL,
    applied_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per person. The caller pre-merges the best values; LeadStore.upsert_leads
-- applies the per-column merge rules.
CREATE TABLE IF NOT EXISTS leads (
    lead_id              TEXT PRIMARY KEY,
    full_name            TEXT,
    linkedin_url         TEXT UNIQUE,
    job_title            TEXT,
    company_name         TEXT,
    location_city        TEXT,
    location_state       TEXT,
    location_country     TEXT,
    email                TEXT,
    phone                TEXT,
    company_website      TEXT,
    company_industry     TEXT,
    company_size         INTEGER,
    profile_picture_url  TEXT,
    data_source          TEXT,
    data_collected_date  TIMESTAMPTZ,
    data_quality_score   SMALLINT CHECK (data_quality_score BETWEEN 0 AND 100),
    is_qualified         BOOLEAN NOT NULL DEFAULT false,
    email_verified       BOOLEAN NOT NULL DEFAULT false,
    crm_synced           BOOLEAN NOT NULL DEFAULT false,
    crm_sync_date        TIMESTAMPTZ,
    first_name           TEXT,
    last_name            TEXT,
    target_role          TEXT,
    email_status         TEXT,
    needs_enrichment     BOOLEAN NOT NULL DEFAULT false,
    validation_errors    TEXT NOT NULL DEFAULT '',
    first_partition_key  TEXT,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS leads_email_idx ON leads (email);
-- sprint_metrics(since=...) filters on it.
CREATE INDEX IF NOT EXISTS leads_created_at_idx ON leads (created_at);

-- Vendor responses exactly as received, so a replay re-reads instead of paying again.
CREATE TABLE IF NOT EXISTS raw_landings (
    landing_id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source         TEXT NOT NULL,
    partition_key  TEXT NOT NULL,
    request_kind   TEXT NOT NULL,
    request_key    TEXT NOT NULL,
    http_status    INTEGER,
    payload        TEXT NOT NULL,
    fetched_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    run_id         TEXT,
    UNIQUE (source, partition_key, request_kind, request_key)
);

-- Landings are evidence: refuse in-place edits (deleting a row, e.g. for erasure, stays possible).
CREATE OR REPLACE FUNCTION raw_landings_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'raw_landings rows are immutable (landing_id %)', OLD.landing_id;
END;
$$;
DROP TRIGGER IF EXISTS raw_landings_no_update ON raw_landings;
CREATE TRIGGER raw_landings_no_update BEFORE UPDATE ON raw_landings
    FOR EACH ROW EXECUTE FUNCTION raw_landings_immutable();

-- Which vendor record became which lead, and how it was matched.
CREATE TABLE IF NOT EXISTS lead_sources (
    source            TEXT NOT NULL,
    vendor_person_id  TEXT NOT NULL,
    lead_id           TEXT NOT NULL REFERENCES leads (lead_id) ON DELETE CASCADE,
    partition_key     TEXT,
    match_method      TEXT NOT NULL DEFAULT 'new',
    first_seen_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (source, vendor_person_id)
);
CREATE INDEX IF NOT EXISTS lead_sources_lead_id_idx ON lead_sources (lead_id);
CREATE INDEX IF NOT EXISTS lead_sources_first_seen_idx ON lead_sources (first_seen_at);

-- System of record of the dedup index (Redis is a cache of it). Keys are registered
-- before their lead is stored, hence no foreign key to leads.
CREATE TABLE IF NOT EXISTS dedup_keys (
    key         TEXT PRIMARY KEY,
    lead_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS dedup_keys_lead_id_idx ON dedup_keys (lead_id);

-- Records that failed validation; record_hash makes a replay add nothing.
CREATE TABLE IF NOT EXISTS quarantine (
    quarantine_id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source            TEXT NOT NULL,
    partition_key     TEXT NOT NULL,
    vendor_person_id  TEXT,
    reason            TEXT NOT NULL,
    payload           TEXT NOT NULL,
    record_hash       TEXT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (source, partition_key, record_hash)
);

-- Search-space slices of a vendor's people search and how far each was paged.
CREATE TABLE IF NOT EXISTS search_slices (
    source         TEXT NOT NULL,
    slice_key      TEXT NOT NULL,
    hour_key       TEXT NOT NULL,
    query          TEXT NOT NULL,
    total_entries  INTEGER,
    pages_total    INTEGER,
    pages_done     INTEGER NOT NULL DEFAULT 0,
    status         TEXT NOT NULL DEFAULT 'pending',
    coverage       DOUBLE PRECISION,
    parent_key     TEXT,
    error          TEXT,
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (source, slice_key)
);
CREATE INDEX IF NOT EXISTS search_slices_hour_idx ON search_slices (source, hour_key);

-- One row per vendor API call (after retries): cost and error accounting.
CREATE TABLE IF NOT EXISTS vendor_calls (
    call_id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    vendor         TEXT NOT NULL,
    endpoint       TEXT NOT NULL,
    partition_key  TEXT,
    run_id         TEXT,
    status_code    INTEGER,
    attempts       INTEGER NOT NULL DEFAULT 1,
    outcome        TEXT NOT NULL,
    error          TEXT,
    credits        DOUBLE PRECISION NOT NULL DEFAULT 0,
    duration_ms    INTEGER,
    called_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS vendor_calls_called_at_idx ON vendor_calls (called_at);
