package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"

	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/derive"
)

// Derived records the files derived from originals.
func (d *DB) Derived() DerivedStore { return DerivedStore{d} }

// DerivedStore is the derive.Store of a DB.
type DerivedStore struct{ d *DB }

var _ derive.Store = DerivedStore{}

const derivedColumns = `evidence_id, kind, sha256, size, mime, created_at, log_from, log_index`

// Put records f, not yet logged, replacing an unlogged earlier attempt.
func (s DerivedStore) Put(ctx context.Context, f derive.File) error {
	_, err := s.d.exec(ctx, `INSERT INTO derived (`+derivedColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)
		ON CONFLICT (evidence_id, kind) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size, mime = excluded.mime,
		created_at = excluded.created_at, log_from = excluded.log_from WHERE derived.log_index IS NULL`,
		f.Parent, string(f.Kind), f.SHA256.String(), f.Size, f.MIME, f.CreatedAt.UTC(), int64(f.LogFrom))
	return err
}

// SetLogged records where f's event is in the log.
func (s DerivedStore) SetLogged(ctx context.Context, parent string, kind derive.Kind, index uint64) error {
	_, err := s.d.exec(ctx, `UPDATE derived SET log_index = ? WHERE evidence_id = ? AND kind = ?`, int64(index), parent, string(kind))
	return err
}

// Get returns parent's file of kind.
func (s DerivedStore) Get(ctx context.Context, parent string, kind derive.Kind) (derive.File, error) {
	return scanDerived(s.d.queryRow(ctx, `SELECT `+derivedColumns+` FROM derived WHERE evidence_id = ? AND kind = ?`, parent, string(kind)))
}

// Fingerprints lists every logged fingerprint file (lookup.Files).
func (s DerivedStore) Fingerprints(ctx context.Context) ([]derive.File, error) {
	var out []derive.File
	for f, err := range each(ctx, s.d, scanDerived, `SELECT `+derivedColumns+` FROM derived WHERE kind = ? AND log_index IS NOT NULL ORDER BY log_index`, string(derive.Fingerprint)) {
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// All lists every derived file, for the audit.
func (s DerivedStore) All(ctx context.Context) iter.Seq2[derive.File, error] {
	return each(ctx, s.d, scanDerived, `SELECT `+derivedColumns+` FROM derived ORDER BY log_index`)
}

func scanDerived(row scanner) (derive.File, error) {
	var f derive.File
	var ref string
	var from int64
	var idx sql.NullInt64
	err := row.Scan(&f.Parent, &f.Kind, &ref, &f.Size, &f.MIME, &f.CreatedAt, &from, &idx)
	if errors.Is(err, sql.ErrNoRows) {
		return f, derive.ErrNotFound
	}
	if err != nil {
		return f, fmt.Errorf("db: %w", err)
	}
	f.LogFrom, f.LogIndex, f.Logged, f.CreatedAt = uint64(from), uint64(idx.Int64), idx.Valid, f.CreatedAt.UTC()
	f.SHA256, err = blob.ParseRef(ref)
	return f, err
}
