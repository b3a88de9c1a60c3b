package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/sightline/sightline/internal/jobs"
)

// Jobs is the durable job queue of a DB.
func (d *DB) Jobs() jobs.Store { return jobStore{d} }

type jobStore struct{ d *DB }

var _ jobs.Store = jobStore{}

func (s jobStore) Enqueue(ctx context.Context, kind, subject string, at time.Time) error {
	_, err := s.d.exec(ctx, `INSERT INTO jobs (kind, subject, state, run_after, created_at, updated_at) VALUES (?, ?, 'queued', ?, ?, ?)
		ON CONFLICT DO NOTHING`, kind, subject, at.UTC(), at.UTC(), at.UTC())
	return err
}

func (s jobStore) Claim(ctx context.Context, kinds []string, now time.Time) (jobs.Job, bool, error) {
	if len(kinds) == 0 {
		return jobs.Job{}, false, nil
	}
	args := []any{now.UTC()}
	for _, k := range kinds {
		args = append(args, k)
	}
	tx, done, err := s.d.writeTx(ctx)
	if err != nil {
		return jobs.Job{}, false, err
	}
	defer done()
	// On PostgreSQL several servers claim at once: a row another has
	// locked is skipped, not waited for (SQLite has one writer).
	j, err := scanJob(tx.queryRow(ctx, `SELECT `+jobColumns+` FROM jobs
		WHERE state = 'queued' AND run_after <= ? AND kind IN (?`+strings.Repeat(", ?", len(kinds)-1)+`)
		ORDER BY run_after, id LIMIT 1`+s.d.skipLocked(), args...))
	if errors.Is(err, sql.ErrNoRows) {
		return j, false, nil
	}
	if err != nil {
		return j, false, err
	}
	if _, err := tx.exec(ctx, `UPDATE jobs SET state = 'running', attempts = attempts + 1, updated_at = ? WHERE id = ?`,
		now.UTC(), j.ID); err != nil {
		return j, false, err
	}
	j.State, j.Attempts = jobs.Running, j.Attempts+1
	return j, true, tx.Commit()
}

func (s jobStore) Finish(ctx context.Context, id int64, now time.Time) error {
	_, err := s.d.exec(ctx, `UPDATE jobs SET state = 'done', last_error = '', updated_at = ? WHERE id = ?`, now.UTC(), id)
	return err
}

func (s jobStore) Fail(ctx context.Context, id int64, now time.Time, msg string) error {
	_, err := s.d.exec(ctx, `UPDATE jobs SET state = 'failed', last_error = ?, updated_at = ? WHERE id = ?`, msg, now.UTC(), id)
	return err
}

func (s jobStore) Retry(ctx context.Context, id int64, at time.Time, msg string) error {
	tx, done, err := s.d.writeTx(ctx)
	if err != nil {
		return err
	}
	defer done()
	// A run of the same job asked for meanwhile waits already: it does
	// the work, this one goes.
	if _, err := tx.exec(ctx, `DELETE FROM jobs WHERE id = ? AND EXISTS (SELECT 1 FROM jobs w
		WHERE w.state = 'queued' AND w.kind = jobs.kind AND w.subject = jobs.subject)`, id); err != nil {
		return err
	}
	if _, err := tx.exec(ctx, `UPDATE jobs SET state = 'queued', run_after = ?, last_error = ?, updated_at = ? WHERE id = ?`,
		at.UTC(), msg, at.UTC(), id); err != nil {
		return err
	}
	return tx.Commit()
}

func (s jobStore) Requeue(ctx context.Context, now time.Time) (int, error) {
	tx, done, err := s.d.writeTx(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	if _, err := tx.exec(ctx, `DELETE FROM jobs WHERE state = 'running' AND EXISTS (SELECT 1 FROM jobs w
		WHERE w.state = 'queued' AND w.kind = jobs.kind AND w.subject = jobs.subject)`); err != nil {
		return 0, err
	}
	res, err := tx.exec(ctx, `UPDATE jobs SET state = 'queued', run_after = ?, updated_at = ? WHERE state = 'running'`, now.UTC(), now.UTC())
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), tx.Commit()
}

func (s jobStore) Latest(ctx context.Context, kind, subject string) (jobs.Job, bool, error) {
	j, err := scanJob(s.d.queryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE subject = ? AND kind = ? ORDER BY id DESC LIMIT 1`, subject, kind))
	if errors.Is(err, sql.ErrNoRows) {
		return j, false, nil
	}
	return j, err == nil, err
}

func (s jobStore) Counts(ctx context.Context) (map[jobs.State]int, error) {
	rows, err := s.d.query(ctx, `SELECT state, COUNT(*) FROM jobs GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	defer rows.Close()
	out := map[jobs.State]int{}
	for rows.Next() {
		var st jobs.State
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("db: %w", err)
		}
		out[st] = n
	}
	return out, rows.Err()
}

const jobColumns = `id, kind, subject, state, attempts, last_error`

func scanJob(row scanner) (jobs.Job, error) {
	var j jobs.Job
	err := row.Scan(&j.ID, &j.Kind, &j.Subject, &j.State, &j.Attempts, &j.LastError)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		err = fmt.Errorf("db: %w", err)
	}
	return j, err
}

// EvidenceWithoutJob lists the items that never had a job of kind, oldest
// first: at start-up the server queues what a crash kept it from queuing.
func (d *DB) EvidenceWithoutJob(ctx context.Context, kind string) iter.Seq2[string, error] {
	return each(ctx, d, func(row scanner) (string, error) {
		var id string
		return id, row.Scan(&id)
	}, `SELECT id FROM evidence WHERE id NOT IN (SELECT subject FROM jobs WHERE kind = ?) ORDER BY received_at, id`, kind)
}
