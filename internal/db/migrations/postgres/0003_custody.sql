-- An index of the custody log by evidence: one row per logged event.
-- The log is the record; this table only makes "every event about this
-- item" a lookup, and the audit checks it against the log.
CREATE TABLE custody (
    log_index   BIGINT PRIMARY KEY,
    evidence_id TEXT NOT NULL,
    type        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    at          TEXT NOT NULL
);

CREATE INDEX custody_evidence ON custody (evidence_id, log_index);
