-- 005_privacy (SQLite): same tables as sql/postgresql/005_privacy.sql (see the notes there).
-- Timestamps are fixed-width ISO-8601 UTC text.

CREATE TABLE IF NOT EXISTS suppression_list (
    kind        TEXT NOT NULL CHECK (kind IN ('email_sha256', 'linkedin_sha256', 'vendor_sha256', 'domain')),
    value_hash  TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    PRIMARY KEY (kind, value_hash)
);

CREATE TABLE IF NOT EXISTS erasure_audit (
    audit_id      INTEGER PRIMARY KEY,
    request_id    TEXT NOT NULL,
    subject_kind  TEXT NOT NULL CHECK (subject_kind IN ('email', 'linkedin')),
    subject_hash  TEXT NOT NULL,
    leads_erased  INTEGER NOT NULL DEFAULT 0,
    counts        TEXT NOT NULL DEFAULT '{}',
    crm           TEXT,
    crm_outcome   TEXT,
    erased_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now'))
);
CREATE INDEX IF NOT EXISTS erasure_audit_request_idx ON erasure_audit (request_id);
CREATE INDEX IF NOT EXISTS erasure_audit_subject_idx ON erasure_audit (subject_hash);
