-- The custody log's checkpoint history (ledger.History) when several
-- servers share one log (tessera's storage/aws driver): each keeps the
-- checkpoints it sees here, one row per tree size, so that the audit finds
-- one history whichever server kept what. A log kept in a folder by one
-- server keeps its history in a file beside it instead.
CREATE TABLE log_checkpoints (
	size BIGINT PRIMARY KEY CHECK (size > 0),
	checkpoint TEXT NOT NULL,
	kept_at TEXT NOT NULL
);
