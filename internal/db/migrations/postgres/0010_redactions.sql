-- Redactions (package redact): one row each, the record as a JSON
-- document (its tracks, choices, changes and, once rendered, its
-- manifest), with the columns queries need. version guards concurrent
-- edits. The thumbnails of tracks are apart: the editor lists them, the
-- record never carries them.
CREATE TABLE redactions (
	id TEXT PRIMARY KEY,
	evidence_id TEXT NOT NULL,
	status TEXT NOT NULL,
	version INTEGER NOT NULL,
	created_at TIMESTAMP NOT NULL,
	doc BYTEA NOT NULL
);
CREATE INDEX redactions_by_evidence ON redactions (evidence_id, created_at);
CREATE INDEX redactions_by_status ON redactions (status);

CREATE TABLE redaction_thumbs (
	redaction_id TEXT NOT NULL,
	track INTEGER NOT NULL,
	jpeg BYTEA NOT NULL,
	PRIMARY KEY (redaction_id, track)
);
