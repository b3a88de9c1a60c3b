-- The SHA-512 of each stored blob, for the manifests of evidence
-- packages (BagIt asks for SHA-256 and SHA-512): computed once, after
-- intake, by a job, so that an export reads each file once.
CREATE TABLE blob_digests (
	sha256 TEXT PRIMARY KEY,
	sha512 TEXT NOT NULL CHECK (length(sha512) = 128)
);
