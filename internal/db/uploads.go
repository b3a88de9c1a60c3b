package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sightline/sightline/internal/ingest"
)

// Uploads keeps the states of uploads in progress that several servers
// continue (ingest.States).
func (d *DB) Uploads() ingest.States { return uploadStore{d} }

type uploadStore struct{ d *DB }

// Create implements ingest.States.
func (s uploadStore) Create(ctx context.Context, id string, state []byte) error {
	_, err := s.d.exec(ctx, `INSERT INTO uploads (id, state, updated_at) VALUES (?, ?, ?)`, id, string(state), time.Now().UTC())
	if isUniqueViolation(err) {
		return fmt.Errorf("db: upload %s: %w", id, ingest.ErrExists)
	}
	return err
}

// Get implements ingest.States.
func (s uploadStore) Get(ctx context.Context, id string) ([]byte, error) {
	var state string
	err := s.d.queryRow(ctx, `SELECT state FROM uploads WHERE id = ?`, id).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ingest.ErrNoUpload
	}
	if err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	return []byte(state), nil
}

// Put implements ingest.States.
func (s uploadStore) Put(ctx context.Context, id string, state []byte) error {
	res, err := s.d.exec(ctx, `UPDATE uploads SET state = ?, updated_at = ? WHERE id = ?`, string(state), time.Now().UTC(), id)
	if err != nil {
		return fmt.Errorf("db: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return ingest.ErrNoUpload
	}
	return err
}

// Delete implements ingest.States.
func (s uploadStore) Delete(ctx context.Context, id string) error {
	_, err := s.d.exec(ctx, `DELETE FROM uploads WHERE id = ?`, id)
	return err
}

// IDs implements ingest.States.
func (s uploadStore) IDs(ctx context.Context) ([]string, error) {
	rows, err := s.d.query(ctx, `SELECT id FROM uploads ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// Locks are locks every server on the database shares (ingest.Locks):
// PostgreSQL advisory locks, each held on a connection of its own, from a
// pool apart from the queries' so that servers holding many locks never
// starve their own queries. A server that dies loses its connections and
// so its locks. SQLite has one server: it has no use for them.
func (d *DB) Locks() (ingest.Locks, error) {
	if d.engine != "postgres" {
		return nil, errors.New("db: locks shared by several servers need PostgreSQL")
	}
	d.locksOnce.Do(func() {
		d.lockPool, d.lockErr = sql.Open("pgx", d.dsn)
		if d.lockErr == nil {
			d.lockPool.SetMaxOpenConns(maxLocks)
			d.lockPool.SetMaxIdleConns(8)
		}
	})
	return advisoryLocks{d.lockPool}, d.lockErr
}

// maxLocks bounds the locks one server holds at once (one connection
// each): beyond it, a lock waits for one to be released.
const maxLocks = 64

type advisoryLocks struct{ pool *sql.DB }

// lockKey is the advisory lock's number for a name.
func lockKey(name string) int64 {
	h := sha256.Sum256([]byte("sightline lock " + name))
	return int64(binary.BigEndian.Uint64(h[:8]))
}

// Lock implements ingest.Locks: it tries every 20 ms until ctx ends.
func (l advisoryLocks) Lock(ctx context.Context, name string) (func(), error) {
	for {
		unlock, ok, err := l.TryLock(ctx, name)
		if err != nil || ok {
			return unlock, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TryLock implements ingest.Locks.
func (l advisoryLocks) TryLock(ctx context.Context, name string) (func(), bool, error) {
	conn, err := l.pool.Conn(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("db: lock %s: %w", name, err)
	}
	key := lockKey(name)
	var ok bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil || !ok {
		conn.Close()
		if err != nil {
			return nil, false, fmt.Errorf("db: lock %s: %w", name, err)
		}
		return nil, false, nil
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, key); err != nil {
				// The connection cannot say: close it, which releases every
				// lock it holds, rather than return it to the pool locked.
				conn.Raw(func(any) error { return driver.ErrBadConn })
			}
			conn.Close()
		})
	}, true, nil
}
