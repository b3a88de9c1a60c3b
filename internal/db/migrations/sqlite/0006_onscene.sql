-- Recordings streamed from the capture page, and on-scene review.

-- A recording whose container states no duration or index (a browser's
-- MediaRecorder WebM), and one finalized after its sender fell silent.
ALTER TABLE evidence ADD COLUMN unindexed BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE evidence ADD COLUMN partial BOOLEAN NOT NULL DEFAULT FALSE;

-- The SHA-256 an event names (a partial event's running hash), so that the
-- person who filmed sees what each one proves.
ALTER TABLE custody ADD COLUMN sha256 TEXT NOT NULL DEFAULT '';

-- Short codes a civilian reads to a supervisor: each lets one supervisor
-- see one item. Only the code's digest is kept.
CREATE TABLE share_codes (
    code_digest TEXT PRIMARY KEY,
    evidence_id TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL,
    claimed_by  TEXT REFERENCES users (id),
    claimed_at  TIMESTAMP
);
CREATE INDEX share_codes_evidence ON share_codes (evidence_id);

-- On-scene reviews. The document is the review as signed off (canonical
-- JSON); the custody log's "reviewed" event carries its SHA-256. A review
-- is never changed: a correction is a new review naming it. Only the two
-- facts learned after the row is written may be set, once each: where the
-- log holds its event, and the incident a referral opened.
CREATE TABLE reviews (
    id          TEXT PRIMARY KEY,
    evidence_id TEXT NOT NULL,
    author      TEXT NOT NULL REFERENCES users (id),
    created_at  TIMESTAMP NOT NULL,
    corrects    TEXT REFERENCES reviews (id),
    document    TEXT NOT NULL,
    log_from    BIGINT NOT NULL,
    log_index   BIGINT,
    incident_id TEXT
);
CREATE INDEX reviews_evidence ON reviews (evidence_id, created_at);

CREATE TRIGGER reviews_unchanged BEFORE UPDATE ON reviews
WHEN NEW.id IS NOT OLD.id OR NEW.evidence_id IS NOT OLD.evidence_id OR NEW.author IS NOT OLD.author
  OR NEW.created_at IS NOT OLD.created_at OR NEW.corrects IS NOT OLD.corrects OR NEW.document IS NOT OLD.document
  OR NEW.log_from IS NOT OLD.log_from
  OR (OLD.log_index IS NOT NULL AND NEW.log_index IS NOT OLD.log_index)
  OR (OLD.incident_id IS NOT NULL AND NEW.incident_id IS NOT OLD.incident_id)
BEGIN
    SELECT RAISE(ABORT, 'a review cannot be changed; submit a correction');
END;

CREATE TRIGGER reviews_kept BEFORE DELETE ON reviews
BEGIN
    SELECT RAISE(ABORT, 'a review cannot be deleted; submit a correction');
END;
