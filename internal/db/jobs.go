package db

import (
	"cmp"
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

func (s jobStore) Claim(ctx context.Context, kinds []string, owner string, now, until time.Time) (jobs.Job, bool, error) {
	if len(kinds) == 0 {
		return jobs.Job{}, false, nil
	}
	args := []any{now.UTC(), now.UTC()}
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
	var st jobs.State
	var prev string
	row := tx.queryRow(ctx, `SELECT `+jobColumns+`, owner FROM jobs
		WHERE (state = 'queued' AND run_after <= ? OR state = 'running' AND lease_until < ?)
		AND kind IN (?`+strings.Repeat(", ?", len(kinds)-1)+`)
		ORDER BY run_after, id LIMIT 1`+s.d.skipLocked(), args...)
	var j jobs.Job
	err = row.Scan(&j.ID, &j.Kind, &j.Subject, &st, &j.Attempts, &j.LastError, &prev)
	if errors.Is(err, sql.ErrNoRows) {
		return j, false, nil
	}
	if err != nil {
		return j, false, fmt.Errorf("db: %w", err)
	}
	if st == jobs.Running {
		j.TakenFrom = cmp.Or(prev, "?")
	}
	if _, err := tx.exec(ctx, `UPDATE jobs SET state = 'running', attempts = attempts + 1, owner = ?, lease_until = ?, updated_at = ? WHERE id = ?`,
		owner, until.UTC(), now.UTC(), j.ID); err != nil {
		return j, false, err
	}
	j.State, j.Attempts = jobs.Running, j.Attempts+1
	return j, true, tx.Commit()
}

// held ends a statement on a running job: it applies only while owner
// holds it.
const held = ` AND state = 'running' AND owner = ?`

// lost turns a statement that changed no row into jobs.ErrLost.
func lost(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return jobs.ErrLost
	}
	return nil
}

func (s jobStore) Renew(ctx context.Context, id int64, owner string, until time.Time) error {
	return lost(s.d.exec(ctx, `UPDATE jobs SET lease_until = ? WHERE id = ?`+held, until.UTC(), id, owner))
}

func (s jobStore) Finish(ctx context.Context, id int64, owner string, now time.Time) error {
	return lost(s.d.exec(ctx, `UPDATE jobs SET state = 'done', last_error = '', lease_until = NULL, updated_at = ? WHERE id = ?`+held, now.UTC(), id, owner))
}

func (s jobStore) Fail(ctx context.Context, id int64, owner string, now time.Time, msg string) error {
	return lost(s.d.exec(ctx, `UPDATE jobs SET state = 'failed', last_error = ?, lease_until = NULL, updated_at = ? WHERE id = ?`+held, msg, now.UTC(), id, owner))
}

func (s jobStore) Retry(ctx context.Context, id int64, owner string, at time.Time, msg string) error {
	return s.again(ctx, id, owner, at, `last_error = ?`, msg)
}

func (s jobStore) Release(ctx context.Context, id int64, owner string, now time.Time) error {
	return s.again(ctx, id, owner, now, `attempts = attempts - 1`)
}

// again queues owner's running job id again for at, with set (and its
// arguments) applied too.
func (s jobStore) again(ctx context.Context, id int64, owner string, at time.Time, set string, args ...any) error {
	tx, done, err := s.d.writeTx(ctx)
	if err != nil {
		return err
	}
	defer done()
	// A run of the same job asked for meanwhile waits already: it does
	// the work, this one goes.
	res, err := tx.exec(ctx, `DELETE FROM jobs WHERE id = ?`+held+` AND EXISTS (SELECT 1 FROM jobs w
		WHERE w.state = 'queued' AND w.kind = jobs.kind AND w.subject = jobs.subject)`, id, owner)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		args = append(args, at.UTC(), at.UTC(), id, owner)
		if err := lost(tx.exec(ctx, `UPDATE jobs SET state = 'queued', `+set+`, run_after = ?, owner = '', lease_until = NULL, updated_at = ?
			WHERE id = ?`+held, args...)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (s jobStore) Requeue(ctx context.Context, owner string, now time.Time) (int, error) {
	tx, done, err := s.d.writeTx(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	mine := ` state = 'running' AND owner IN ('', ?)`
	if _, err := tx.exec(ctx, `DELETE FROM jobs WHERE`+mine+` AND EXISTS (SELECT 1 FROM jobs w
		WHERE w.state = 'queued' AND w.kind = jobs.kind AND w.subject = jobs.subject)`, owner); err != nil {
		return 0, err
	}
	res, err := tx.exec(ctx, `UPDATE jobs SET state = 'queued', run_after = ?, owner = '', lease_until = NULL, updated_at = ? WHERE`+mine, now.UTC(), now.UTC(), owner)
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
