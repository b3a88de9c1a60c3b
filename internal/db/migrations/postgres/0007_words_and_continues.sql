-- The words of custody events (reasons, titles, badges), sealed with a
-- nonce; the public log names each document by its SHA-256 only.
CREATE TABLE event_words (
    sha256   TEXT PRIMARY KEY,
    document TEXT NOT NULL
);

ALTER TABLE custody ADD COLUMN words_sha256 TEXT NOT NULL DEFAULT '';

-- Sealed words are never changed or removed.
CREATE FUNCTION event_words_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'event words are immutable' USING ERRCODE = 'restrict_violation';
    RETURN OLD;
END $$;
CREATE TRIGGER event_words_no_update BEFORE UPDATE ON event_words FOR EACH ROW EXECUTE FUNCTION event_words_immutable();
CREATE TRIGGER event_words_no_delete BEFORE DELETE ON event_words FOR EACH ROW EXECUTE FUNCTION event_words_immutable();

-- The partial item a recording's later part continues, when a phone came
-- back after its stream was kept as partial evidence.
ALTER TABLE evidence ADD COLUMN continues TEXT NOT NULL DEFAULT '';

-- The TOTP secret a setup link's page issued: setup enrols this one, never
-- one the form sends.
ALTER TABLE users ADD COLUMN setup_totp TEXT NOT NULL DEFAULT '';

-- How far the custody index is known to hold every event of the log: at
-- start-up the entries after it are indexed again (a crash between an
-- append and its index row leaves no gap for good).
CREATE TABLE custody_reconciled (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    through BIGINT NOT NULL
);
