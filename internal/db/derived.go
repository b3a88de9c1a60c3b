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

const derivedColumns = `evidence_id, kind, sha256, size, mime, created_at, log_index`

// Put records f, once.
func (s DerivedStore) Put(ctx context.Context, f derive.File) error {
	_, err := s.d.exec(ctx, `INSERT INTO derived (`+derivedColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		f.Parent, string(f.Kind), f.SHA256.String(), f.Size, f.MIME, f.CreatedAt.UTC(), int64(f.LogIndex))
	return err
}

// Get returns parent's file of kind.
func (s DerivedStore) Get(ctx context.Context, parent string, kind derive.Kind) (derive.File, error) {
	return scanDerived(s.d.queryRow(ctx, `SELECT `+derivedColumns+` FROM derived WHERE evidence_id = ? AND kind = ?`, parent, string(kind)))
}

// All lists every derived file, for the audit.
func (s DerivedStore) All(ctx context.Context) iter.Seq2[derive.File, error] {
	return each(ctx, s.d, scanDerived, `SELECT `+derivedColumns+` FROM derived ORDER BY log_index`)
}

func scanDerived(row scanner) (derive.File, error) {
	var f derive.File
	var ref string
	var idx int64
	err := row.Scan(&f.Parent, &f.Kind, &ref, &f.Size, &f.MIME, &f.CreatedAt, &idx)
	if errors.Is(err, sql.ErrNoRows) {
		return f, derive.ErrNotFound
	}
	if err != nil {
		return f, fmt.Errorf("db: %w", err)
	}
	f.LogIndex, f.CreatedAt = uint64(idx), f.CreatedAt.UTC()
	f.SHA256, err = blob.ParseRef(ref)
	return f, err
}
