package db

import (
	"context"
	"fmt"
	"time"
)

// Tallies counts what the server's limits count (web.Tally).
func (d *DB) Tallies() TallyStore { return TallyStore{d} }

// TallyStore keeps the counted acts of each limit, rule by rule.
type TallyStore struct{ d *DB }

// Count is how many times key was counted under rule since since.
func (s TallyStore) Count(ctx context.Context, rule, key string, since time.Time) (int, error) {
	var n int
	if err := s.d.queryRow(ctx, `SELECT COUNT(*) FROM tallies WHERE rule = ? AND key = ? AND at > ?`, rule, key, since.UTC()).Scan(&n); err != nil {
		return 0, fmt.Errorf("db: %w", err)
	}
	return n, nil
}

// Add counts key once more under rule at at, and forgets every count,
// of any rule, from before forget: no window is longer.
func (s TallyStore) Add(ctx context.Context, rule, key string, at, forget time.Time) error {
	if _, err := s.d.exec(ctx, `INSERT INTO tallies (rule, key, at) VALUES (?, ?, ?)`, rule, key, at.UTC()); err != nil {
		return fmt.Errorf("db: %w", err)
	}
	if _, err := s.d.exec(ctx, `DELETE FROM tallies WHERE at < ?`, forget.UTC()); err != nil {
		return fmt.Errorf("db: %w", err)
	}
	return nil
}
