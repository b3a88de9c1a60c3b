package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sightline/sightline/internal/review"
)

// Reviews is the review.Store of a DB.
func (d *DB) Reviews() review.Store { return reviewStore{d} }

type reviewStore struct{ d *DB }

var _ review.Store = reviewStore{}

func (s reviewStore) AddCode(ctx context.Context, digest string, c review.Code) error {
	_, err := s.d.exec(ctx, `INSERT INTO share_codes (code_digest, evidence_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		digest, c.Evidence, c.CreatedAt.UTC(), c.ExpiresAt.UTC())
	if err != nil && isUniqueViolation(err) {
		return review.ErrExists
	}
	return err
}

func (s reviewStore) ClaimCode(ctx context.Context, digest, userID string, at time.Time) (review.Code, error) {
	// One statement: of two claims at once, one sets claimed_by and the
	// other finds it set.
	if _, err := s.d.exec(ctx, `UPDATE share_codes SET claimed_by = ?, claimed_at = ?
		WHERE code_digest = ? AND claimed_by IS NULL AND expires_at > ?`, userID, at.UTC(), digest, at.UTC()); err != nil {
		return review.Code{}, fmt.Errorf("db: %w", err)
	}
	var (
		c         review.Code
		claimedBy sql.NullString
		claimedAt sql.NullTime
	)
	err := s.d.queryRow(ctx, `SELECT evidence_id, created_at, expires_at, claimed_by, claimed_at FROM share_codes WHERE code_digest = ?`, digest).
		Scan(&c.Evidence, &c.CreatedAt, &c.ExpiresAt, &claimedBy, &claimedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return c, review.ErrNotFound
	}
	if err != nil {
		return c, fmt.Errorf("db: %w", err)
	}
	c.ClaimedBy, c.ClaimedAt = claimedBy.String, claimedAt.Time
	return c, nil
}

func (s reviewStore) AddReview(ctx context.Context, r review.Record) error {
	var corrects any
	if r.Corrects != "" {
		corrects = r.Corrects
	}
	at, err := time.Parse(time.RFC3339Nano, r.At)
	if err != nil {
		return err
	}
	_, err = s.d.exec(ctx, `INSERT INTO reviews (id, evidence_id, author, created_at, corrects, document, log_from) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Evidence, r.AuthorUserID(), at.UTC(), corrects, r.Document, int64(r.LogFrom))
	return err
}

func (s reviewStore) SetLogged(ctx context.Context, id string, index uint64) error {
	_, err := s.d.exec(ctx, `UPDATE reviews SET log_index = ? WHERE id = ?`, int64(index), id)
	return err
}

func (s reviewStore) SetIncident(ctx context.Context, id, incident string) error {
	_, err := s.d.exec(ctx, `UPDATE reviews SET incident_id = ? WHERE id = ?`, incident, id)
	return err
}

const reviewColumns = `document, log_from, log_index, incident_id`

func (s reviewStore) Get(ctx context.Context, id string) (review.Record, error) {
	return scanReview(s.d.queryRow(ctx, `SELECT `+reviewColumns+` FROM reviews WHERE id = ?`, id))
}

func (s reviewStore) ForEvidence(ctx context.Context, evidenceID string) ([]review.Record, error) {
	return collect(each(ctx, s.d, scanReview, `SELECT `+reviewColumns+` FROM reviews WHERE evidence_id = ? ORDER BY created_at, log_from, id`, evidenceID))
}

func (s reviewStore) Unlogged(ctx context.Context) ([]review.Record, error) {
	return collect(each(ctx, s.d, scanReview, `SELECT `+reviewColumns+` FROM reviews WHERE log_index IS NULL ORDER BY created_at, log_from, id`))
}

func scanReview(row scanner) (review.Record, error) {
	var (
		rec      review.Record
		from     int64
		index    sql.NullInt64
		incident sql.NullString
	)
	err := row.Scan(&rec.Document, &from, &index, &incident)
	if errors.Is(err, sql.ErrNoRows) {
		return rec, review.ErrNotFound
	}
	if err != nil {
		return rec, fmt.Errorf("db: %w", err)
	}
	if err := json.Unmarshal([]byte(rec.Document), &rec.Review); err != nil {
		return rec, fmt.Errorf("db: review document: %w", err)
	}
	rec.LogFrom, rec.Incident = uint64(from), incident.String
	if index.Valid {
		i := uint64(index.Int64)
		rec.LogIndex = &i
	}
	return rec, nil
}
