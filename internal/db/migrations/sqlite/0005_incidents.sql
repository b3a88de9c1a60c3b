-- Media jobs (a durable queue), the files derived from originals, and
-- incidents: their clips with offsets on the incident clock, the staff
-- assigned, the officers involved, and decided grouping suggestions. The
-- custody index also finds events by incident.

CREATE TABLE jobs (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    state      TEXT NOT NULL,            -- queued, running, done, failed
    attempts   INTEGER NOT NULL DEFAULT 0,
    run_after  TIMESTAMP NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- At most one waiting job per kind and subject: asking again while one
-- waits is a no-op; asking while one runs queues one more run.
CREATE UNIQUE INDEX jobs_waiting ON jobs (kind, subject) WHERE state = 'queued';
CREATE INDEX jobs_next ON jobs (state, run_after);
CREATE INDEX jobs_subject ON jobs (subject, kind, id);

CREATE TABLE derived (
    evidence_id TEXT NOT NULL,
    kind        TEXT NOT NULL,           -- poster, thumbnails, audio, review
    sha256      TEXT NOT NULL,
    size        BIGINT NOT NULL,
    mime        TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    log_from    BIGINT NOT NULL,         -- the log's next index before its event was first appended
    log_index   BIGINT,                  -- of its "derived" event; NULL until logged
    PRIMARY KEY (evidence_id, kind)
);

CREATE TABLE incidents (
    id         TEXT PRIMARY KEY,
    title      TEXT NOT NULL,
    unit       TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    anchor     TEXT NOT NULL DEFAULT ''  -- the clip whose clock the incident's is
);

CREATE TABLE incident_staff (
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    user_id     TEXT NOT NULL,
    PRIMARY KEY (incident_id, user_id)
);
CREATE INDEX incident_staff_user ON incident_staff (user_id);

CREATE TABLE incident_clips (
    incident_id  TEXT NOT NULL REFERENCES incidents (id),
    evidence_id  TEXT NOT NULL,
    seq          BIGINT NOT NULL,          -- the order clips were added in
    added_by     TEXT NOT NULL,
    added_at     TIMESTAMP NOT NULL,
    offset_s     DOUBLE PRECISION NOT NULL DEFAULT 0,
    drift_ppm    DOUBLE PRECISION NOT NULL DEFAULT 0,
    method       TEXT NOT NULL DEFAULT '',
    confidence   DOUBLE PRECISION NOT NULL DEFAULT 0,
    status       TEXT NOT NULL DEFAULT 'pending',
    detail       TEXT NOT NULL DEFAULT '',
    confirmed_by TEXT NOT NULL DEFAULT '',
    confirmed_at TIMESTAMP,
    PRIMARY KEY (incident_id, evidence_id)
);
CREATE INDEX incident_clips_evidence ON incident_clips (evidence_id);

CREATE TABLE incident_officers (
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    badge       TEXT NOT NULL,
    PRIMARY KEY (incident_id, badge)
);

CREATE TABLE suggestions (
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    evidence_id TEXT NOT NULL,
    accepted    BOOLEAN NOT NULL,
    decided_by  TEXT NOT NULL,
    decided_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (incident_id, evidence_id)
);

ALTER TABLE custody ADD COLUMN incident_id TEXT NOT NULL DEFAULT '';
CREATE INDEX custody_incident ON custody (incident_id, log_index);
