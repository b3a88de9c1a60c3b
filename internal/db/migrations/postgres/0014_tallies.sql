-- What the server's limits count (failed token guesses and sign-ins per
-- address, wrong share codes per supervisor, what callers without an
-- account make the server store): one row per counted act, kept for the
-- limit's window. In the database, not in a server's memory, so that
-- every server sharing it sees the same counts and a restart forgets
-- none.
CREATE TABLE tallies (
	rule TEXT NOT NULL,
	key TEXT NOT NULL,
	at TIMESTAMP NOT NULL
);
CREATE INDEX tallies_by_key ON tallies (rule, key, at);
CREATE INDEX tallies_by_time ON tallies (at);
