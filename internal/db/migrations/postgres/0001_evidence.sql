-- Evidence items: one row per submission, never updated.
CREATE TABLE evidence (
    id              TEXT PRIMARY KEY,
    upload_digest   TEXT NOT NULL UNIQUE,
    token_digest    TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    size            BIGINT NOT NULL,
    filename        TEXT NOT NULL,
    source          TEXT NOT NULL,
    device          TEXT NOT NULL,
    officer         TEXT NOT NULL,
    note            TEXT NOT NULL,
    received_at     TIMESTAMP NOT NULL,
    media_type      TEXT NOT NULL,
    mime_type       TEXT NOT NULL,
    container       TEXT NOT NULL,
    duration_s      DOUBLE PRECISION,
    video_codec     TEXT,
    video_width     INTEGER,
    video_height    INTEGER,
    video_fps       DOUBLE PRECISION,
    audio_codec     TEXT,
    audio_rate      INTEGER,
    audio_channels  INTEGER,
    captured_at     TIMESTAMP,
    lat             DOUBLE PRECISION,
    lon             DOUBLE PRECISION,
    alt             DOUBLE PRECISION,
    camera_make     TEXT,
    camera_model    TEXT,
    camera_software TEXT,
    media_error     TEXT NOT NULL
);

CREATE INDEX evidence_sha256 ON evidence (sha256);
CREATE INDEX evidence_captured_at ON evidence (captured_at);
