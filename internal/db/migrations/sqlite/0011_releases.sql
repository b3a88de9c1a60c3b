-- Releases (package release): one row per version of an incident's
-- release, the record as a JSON document with the columns queries need.
-- version guards concurrent edits; (incident_id, number) makes each
-- version of an incident's release one row. A published release is never
-- changed and no release is deleted: a later one is a new version.
CREATE TABLE releases (
	id TEXT PRIMARY KEY,
	incident_id TEXT NOT NULL,
	number INTEGER NOT NULL,
	status TEXT NOT NULL,
	version INTEGER NOT NULL,
	created_at TIMESTAMP NOT NULL,
	doc BLOB NOT NULL,
	UNIQUE (incident_id, number)
);
CREATE TRIGGER releases_published_kept BEFORE UPDATE ON releases
WHEN OLD.status = 'published'
BEGIN
    SELECT RAISE(ABORT, 'a published release cannot be changed; publish a new version');
END;
CREATE TRIGGER releases_kept BEFORE DELETE ON releases
BEGIN
    SELECT RAISE(ABORT, 'a release cannot be deleted');
END;
