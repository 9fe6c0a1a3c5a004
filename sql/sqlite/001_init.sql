-- 001_init (SQLite): the lead store's tables, same names as sql/postgresql/001_init.sql.
--
-- Applied once inside BEGIN IMMEDIATE by lead_assets.store.database.apply_migrations.
-- Timestamps are ISO-8601 UTC text of one fixed width ('YYYY-MM-DDTHH:MM:SS.ffffff+00:00')
-- so that text comparison orders them; booleans are 0/1.

CREATE TABLE IF NOT EXISTS schema_version (
    version     INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    checksum    TEXT NOT NULL,
    applied_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now'))
);

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
    data_collected_date  TEXT,
    data_quality_score   SMALLINT CHECK (data_quality_score BETWEEN 0 AND 100),
    is_qualified         BOOLEAN NOT NULL DEFAULT 0,
    email_verified       BOOLEAN NOT NULL DEFAULT 0,
    crm_synced           BOOLEAN NOT NULL DEFAULT 0,
    crm_sync_date        TEXT,
    first_name           TEXT,
    last_name            TEXT,
    target_role          TEXT,
    email_status         TEXT,
    needs_enrichment     BOOLEAN NOT NULL DEFAULT 0,
    validation_errors    TEXT NOT NULL DEFAULT '',
    first_partition_key  TEXT,
    created_at           TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    updated_at           TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now'))
);
CREATE INDEX IF NOT EXISTS leads_email_idx ON leads (email);
CREATE INDEX IF NOT EXISTS leads_created_at_idx ON leads (created_at);

CREATE TABLE IF NOT EXISTS raw_landings (
    landing_id     INTEGER PRIMARY KEY,
    source         TEXT NOT NULL,
    partition_key  TEXT NOT NULL,
    request_kind   TEXT NOT NULL,
    request_key    TEXT NOT NULL,
    http_status    INTEGER,
    payload        TEXT NOT NULL,
    fetched_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    run_id         TEXT,
    UNIQUE (source, partition_key, request_kind, request_key)
);

-- Landings are evidence: refuse in-place edits (deleting a row stays possible).
CREATE TRIGGER IF NOT EXISTS raw_landings_no_update BEFORE UPDATE ON raw_landings
BEGIN
    SELECT RAISE(ABORT, 'raw_landings rows are immutable');
END;

CREATE TABLE IF NOT EXISTS lead_sources (
    source            TEXT NOT NULL,
    vendor_person_id  TEXT NOT NULL,
    lead_id           TEXT NOT NULL REFERENCES leads (lead_id) ON DELETE CASCADE,
    partition_key     TEXT,
    match_method      TEXT NOT NULL DEFAULT 'new',
    first_seen_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    PRIMARY KEY (source, vendor_person_id)
);
CREATE INDEX IF NOT EXISTS lead_sources_lead_id_idx ON lead_sources (lead_id);
CREATE INDEX IF NOT EXISTS lead_sources_first_seen_idx ON lead_sources (first_seen_at);

CREATE TABLE IF NOT EXISTS dedup_keys (
    key         TEXT PRIMARY KEY,
    lead_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now'))
);
CREATE INDEX IF NOT EXISTS dedup_keys_lead_id_idx ON dedup_keys (lead_id);

CREATE TABLE IF NOT EXISTS quarantine (
    quarantine_id     INTEGER PRIMARY KEY,
    source            TEXT NOT NULL,
    partition_key     TEXT NOT NULL,
    vendor_person_id  TEXT,
    reason            TEXT NOT NULL,
    payload           TEXT NOT NULL,
    record_hash       TEXT NOT NULL,
    created_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    UNIQUE (source, partition_key, record_hash)
);

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
    updated_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    PRIMARY KEY (source, slice_key)
);
CREATE INDEX IF NOT EXISTS search_slices_hour_idx ON search_slices (source, hour_key);

CREATE TABLE IF NOT EXISTS vendor_calls (
    call_id        INTEGER PRIMARY KEY,
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
    called_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now'))
);
CREATE INDEX IF NOT EXISTS vendor_calls_called_at_idx ON vendor_calls (called_at);
