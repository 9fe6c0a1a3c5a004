-- 005_privacy (PostgreSQL): the suppression list and the erasure audit.
--
-- Neither table holds personal data. `suppression_list` keeps a sha256 of the normalised
-- identifier (lower-cased trimmed email, canonical LinkedIn URL, vendor key `vid:<source>:<id>`);
-- a suppressed company domain is not personal data and may be stored plain.
-- Suppressed people are never bought, stored, enriched or synced again (lead_assets.store.suppression).

CREATE TABLE IF NOT EXISTS suppression_list (
    kind        TEXT NOT NULL CHECK (kind IN ('email_sha256', 'linkedin_sha256', 'vendor_sha256', 'domain')),
    value_hash  TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, value_hash)
);

-- One row per erasure run (a retried request adds a row). `subject_hash` is the sha256 of the
-- normalised identifier the request named; `counts` is JSON {table or system: rows removed};
-- `crm_outcome` says what the CRM did (deleted / not_found_blocklisted / not_found / unsupported / failed / none).
CREATE TABLE IF NOT EXISTS erasure_audit (
    audit_id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id    TEXT NOT NULL,
    subject_kind  TEXT NOT NULL CHECK (subject_kind IN ('email', 'linkedin')),
    subject_hash  TEXT NOT NULL,
    leads_erased  INTEGER NOT NULL DEFAULT 0,
    counts        TEXT NOT NULL DEFAULT '{}',
    crm           TEXT,
    crm_outcome   TEXT,
    erased_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS erasure_audit_request_idx ON erasure_audit (request_id);
CREATE INDEX IF NOT EXISTS erasure_audit_subject_idx ON erasure_audit (subject_hash);
