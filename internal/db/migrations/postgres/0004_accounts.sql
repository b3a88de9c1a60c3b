-- Staff accounts, their sessions, device and API tokens; the details of
-- custody events (who, in which role, why, allowed or not) for the
-- custody view; officers recorded as involved in evidence; evidence a
-- civilian shared with a staff member; and who uploaded each item.

ALTER TABLE custody ADD COLUMN details TEXT NOT NULL DEFAULT '{}';

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    role           TEXT NOT NULL,
    unit           TEXT NOT NULL DEFAULT '',
    badge          TEXT NOT NULL DEFAULT '',
    created_at     TIMESTAMP NOT NULL,
    disabled       BOOLEAN NOT NULL DEFAULT FALSE,
    password_hash  TEXT NOT NULL DEFAULT '',
    totp_secret    TEXT NOT NULL DEFAULT '',
    totp_last_step BIGINT NOT NULL DEFAULT 0,
    failed_logins  INTEGER NOT NULL DEFAULT 0,
    locked_until   TIMESTAMP,
    setup_digest   TEXT UNIQUE,
    setup_expires  TIMESTAMP
);

CREATE TABLE sessions (
    digest     TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    csrf       TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_seen  TIMESTAMP NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    digest     TEXT NOT NULL UNIQUE,
    user_id    TEXT REFERENCES users (id),
    unit       TEXT NOT NULL DEFAULT '',
    device     TEXT NOT NULL DEFAULT '',
    badge      TEXT NOT NULL DEFAULT '',
    name       TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP,
    revoked_at TIMESTAMP
);

CREATE TABLE involved (
    evidence_id TEXT NOT NULL,
    badge       TEXT NOT NULL,
    PRIMARY KEY (evidence_id, badge)
);

CREATE TABLE shares (
    evidence_id TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id),
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (evidence_id, user_id)
);

ALTER TABLE evidence ADD COLUMN uploader_token TEXT NOT NULL DEFAULT '';
ALTER TABLE evidence ADD COLUMN uploader_unit TEXT NOT NULL DEFAULT '';
ALTER TABLE evidence ADD COLUMN uploader_device TEXT NOT NULL DEFAULT '';
ALTER TABLE evidence ADD COLUMN uploader_badge TEXT NOT NULL DEFAULT '';
CREATE INDEX evidence_unit ON evidence (uploader_unit);
CREATE INDEX evidence_badge ON evidence (uploader_badge);
