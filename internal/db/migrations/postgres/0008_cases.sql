-- Complaints and internal reviews (package cases). A case holds
-- allegations against officers, each with a recommended and a final
-- finding; its investigators, evidence and incidents; the history of its
-- status. A complaint's words (narrative, place, officers described,
-- contact) stay here, in complaints; the custody log names them by hash.
-- The custody index also finds events by case.

CREATE TABLE cases (
    id           TEXT PRIMARY KEY,
    number       TEXT NOT NULL UNIQUE,      -- 2026-000123
    origin       TEXT NOT NULL,             -- complaint, referral, staff
    status       TEXT NOT NULL,
    closed_as    TEXT NOT NULL DEFAULT '',  -- why administratively closed
    unit         TEXT NOT NULL DEFAULT '',
    created_by   TEXT NOT NULL,             -- an actor id
    received_at  TIMESTAMP NOT NULL,
    deadline     TIMESTAMP NOT NULL,        -- the limit, before pauses
    target       TIMESTAMP NOT NULL,
    paused_at    TIMESTAMP,                 -- NULL unless paused now
    paused_s     BIGINT NOT NULL DEFAULT 0, -- seconds paused before, added to both
    token_digest TEXT NOT NULL DEFAULT ''   -- the complainant's capability
);
CREATE INDEX cases_status ON cases (status, received_at);

CREATE TABLE case_history (
    case_id TEXT NOT NULL REFERENCES cases (id),
    seq     INTEGER NOT NULL,
    status  TEXT NOT NULL,
    at      TIMESTAMP NOT NULL,
    actor   TEXT NOT NULL,
    PRIMARY KEY (case_id, seq)
);

CREATE TABLE case_investigators (
    case_id TEXT NOT NULL REFERENCES cases (id),
    user_id TEXT NOT NULL,
    PRIMARY KEY (case_id, user_id)
);
CREATE INDEX case_investigators_user ON case_investigators (user_id);

CREATE TABLE case_evidence (
    case_id     TEXT NOT NULL REFERENCES cases (id),
    evidence_id TEXT NOT NULL,
    PRIMARY KEY (case_id, evidence_id)
);
CREATE INDEX case_evidence_item ON case_evidence (evidence_id);

CREATE TABLE case_incidents (
    case_id     TEXT NOT NULL REFERENCES cases (id),
    incident_id TEXT NOT NULL,
    PRIMARY KEY (case_id, incident_id)
);
CREATE INDEX case_incidents_incident ON case_incidents (incident_id);

CREATE TABLE allegations (
    id        TEXT PRIMARY KEY,
    case_id   TEXT NOT NULL REFERENCES cases (id),
    officer   TEXT NOT NULL,               -- a badge, or "unidentified"
    category  TEXT NOT NULL,
    policy    TEXT NOT NULL DEFAULT '',
    added_at  TIMESTAMP NOT NULL
);
CREATE INDEX allegations_case ON allegations (case_id);
CREATE INDEX allegations_officer ON allegations (officer, added_at);

-- One row per finding recorded: a recommended and a final one per
-- allegation; a reopened case may record them again, the latest counts.
CREATE TABLE findings (
    allegation_id TEXT NOT NULL REFERENCES allegations (id),
    stage         TEXT NOT NULL,           -- recommended, final
    seq           INTEGER NOT NULL,
    finding       TEXT NOT NULL,
    basis         TEXT NOT NULL,
    actor         TEXT NOT NULL,
    at            TIMESTAMP NOT NULL,
    PRIMARY KEY (allegation_id, stage, seq)
);

CREATE TABLE complaints (
    case_id  TEXT PRIMARY KEY REFERENCES cases (id),
    document TEXT NOT NULL                 -- the complaint as filed (JSON)
);

ALTER TABLE custody ADD COLUMN case_id TEXT NOT NULL DEFAULT '';
CREATE INDEX custody_case ON custody (case_id, log_index);

-- Where a complainant asked to be told of their case by email, and the
-- notices already sent (a notice is its kind and time).
CREATE TABLE case_mail (
    case_id TEXT PRIMARY KEY REFERENCES cases (id),
    email   TEXT NOT NULL
);
CREATE TABLE case_mail_sent (
    case_id TEXT NOT NULL REFERENCES cases (id),
    notice  TEXT NOT NULL,
    sent_at TIMESTAMP NOT NULL,
    PRIMARY KEY (case_id, notice)
);

-- Early intervention: an officer flagged for many allegations in a
-- window (--alert-allegations, --alert-window), once per window.
CREATE TABLE officer_flags (
    officer    TEXT NOT NULL,
    flagged_at TIMESTAMP NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (officer, flagged_at)
);

-- A case's notes (words: here only) and documents (blobs, by SHA-256).
CREATE TABLE case_notes (
    case_id TEXT NOT NULL REFERENCES cases (id),
    seq     INTEGER NOT NULL,
    text    TEXT NOT NULL,
    actor   TEXT NOT NULL,
    at      TIMESTAMP NOT NULL,
    PRIMARY KEY (case_id, seq)
);
CREATE TABLE case_documents (
    case_id TEXT NOT NULL REFERENCES cases (id),
    sha256  TEXT NOT NULL,
    name    TEXT NOT NULL,
    size    BIGINT NOT NULL,
    mime    TEXT NOT NULL,
    actor   TEXT NOT NULL,
    at      TIMESTAMP NOT NULL,
    PRIMARY KEY (case_id, sha256)
);
