package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/court"
)

// Digests keeps the SHA-512 of blobs.
func (d *DB) Digests() court.DigestStore { return digestStore{d} }

type digestStore struct{ d *DB }

// SHA512 returns the blob's SHA-512 if it was kept.
func (s digestStore) SHA512(ctx context.Context, ref blob.Ref) (string, bool, error) {
	var sum string
	err := s.d.queryRow(ctx, `SELECT sha512 FROM blob_digests WHERE sha256 = ?`, ref.String()).Scan(&sum)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("db: %w", err)
	}
	return sum, true, nil
}

// PutSHA512 keeps a blob's SHA-512; keeping it again is a no-op.
func (s digestStore) PutSHA512(ctx context.Context, ref blob.Ref, sum string) error {
	_, err := s.d.exec(ctx, `INSERT INTO blob_digests (sha256, sha512) VALUES (?, ?) ON CONFLICT DO NOTHING`, ref.String(), sum)
	return err
}
