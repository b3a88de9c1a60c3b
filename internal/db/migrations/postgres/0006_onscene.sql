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

CREATE FUNCTION reviews_unchanged() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id IS DISTINCT FROM OLD.id OR NEW.evidence_id IS DISTINCT FROM OLD.evidence_id OR NEW.author IS DISTINCT FROM OLD.author
      OR NEW.created_at IS DISTINCT FROM OLD.created_at OR NEW.corrects IS DISTINCT FROM OLD.corrects OR NEW.document IS DISTINCT FROM OLD.document
      OR NEW.log_from IS DISTINCT FROM OLD.log_from
      OR (OLD.log_index IS NOT NULL AND NEW.log_index IS DISTINCT FROM OLD.log_index)
      OR (OLD.incident_id IS NOT NULL AND NEW.incident_id IS DISTINCT FROM OLD.incident_id) THEN
        RAISE EXCEPTION 'a review cannot be changed; submit a correction' USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER reviews_unchanged BEFORE UPDATE ON reviews FOR EACH ROW EXECUTE FUNCTION reviews_unchanged();

CREATE FUNCTION reviews_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a review cannot be deleted; submit a correction' USING ERRCODE = 'restrict_violation';
    RETURN OLD;
END $$;
CREATE TRIGGER reviews_kept BEFORE DELETE ON reviews FOR EACH ROW EXECUTE FUNCTION reviews_kept();
