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
	doc BYTEA NOT NULL,
	UNIQUE (incident_id, number)
);
CREATE FUNCTION releases_published_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'published' THEN
        RAISE EXCEPTION 'a published release cannot be changed; publish a new version' USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER releases_published_kept BEFORE UPDATE ON releases FOR EACH ROW EXECUTE FUNCTION releases_published_kept();
CREATE FUNCTION releases_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a release cannot be deleted' USING ERRCODE = 'restrict_violation';
    RETURN OLD;
END $$;
CREATE TRIGGER releases_kept BEFORE DELETE ON releases FOR EACH ROW EXECUTE FUNCTION releases_kept();
