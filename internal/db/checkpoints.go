package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/sightline/sightline/internal/ledger"
)

// Checkpoints keeps the checkpoint history of a custody log that several
// servers share.
func (d *DB) Checkpoints() ledger.HistoryStore { return checkpointStore{d} }

type checkpointStore struct{ d *DB }

// KeepCheckpoint implements ledger.HistoryStore: a size kept already, by
// this server or another, is left as it is.
func (s checkpointStore) KeepCheckpoint(ctx context.Context, size uint64, cp []byte, at time.Time) error {
	_, err := s.d.exec(ctx, `INSERT INTO log_checkpoints (size, checkpoint, kept_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		int64(size), string(cp), at.UTC().Format(time.RFC3339Nano))
	return err
}

// LastCheckpoint implements ledger.HistoryStore.
func (s checkpointStore) LastCheckpoint(ctx context.Context) (uint64, time.Time, error) {
	var size int64
	var at string
	err := s.d.queryRow(ctx, `SELECT size, kept_at FROM log_checkpoints ORDER BY size DESC LIMIT 1`).Scan(&size, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("db: %w", err)
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	return uint64(size), t, err
}

// Checkpoints implements ledger.HistoryStore.
func (s checkpointStore) Checkpoints(ctx context.Context) iter.Seq2[ledger.KeptNote, error] {
	return func(yield func(ledger.KeptNote, error) bool) {
		rows, err := s.d.query(ctx, `SELECT checkpoint, kept_at FROM log_checkpoints ORDER BY size`)
		if err != nil {
			yield(ledger.KeptNote{}, fmt.Errorf("db: %w", err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			var cp, at string
			if err := rows.Scan(&cp, &at); err != nil {
				yield(ledger.KeptNote{}, fmt.Errorf("db: %w", err))
				return
			}
			t, err := time.Parse(time.RFC3339Nano, at)
			if !yield(ledger.KeptNote{Note: []byte(cp), At: t}, err) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(ledger.KeptNote{}, fmt.Errorf("db: %w", err))
		}
	}
}
