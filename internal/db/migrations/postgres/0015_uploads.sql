-- Uploads in progress when several servers continue them (ingest's
-- shared spool): each upload's state (offset, the SHA-256 state, the
-- parts of its bytes kept in the bucket) as the ingest package writes it,
-- replaced whole under the upload's lock. One server alone keeps them in
-- files in its data folder instead.
CREATE TABLE uploads (
	id TEXT PRIMARY KEY,
	state TEXT NOT NULL,
	updated_at TIMESTAMP NOT NULL
);
