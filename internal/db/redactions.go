package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/sightline/sightline/internal/redact"
)

// Redactions is the redact.Store of a DB.
func (d *DB) Redactions() redact.Store { return redactionStore{d} }

type redactionStore struct{ d *DB }

var _ redact.Store = redactionStore{}

func (s redactionStore) Create(ctx context.Context, r redact.Redaction) error {
	doc, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = s.d.exec(ctx, `INSERT INTO redactions (id, evidence_id, status, version, created_at, doc) VALUES (?, ?, ?, ?, ?, ?)`,
		r.ID, r.Evidence, string(r.Status), r.Version, r.Created.UTC(), doc)
	return err
}

func scanRedaction(row scanner) (redact.Redaction, error) {
	return scanDoc(row, redact.ErrNotFound, func(r *redact.Redaction, v int) { r.Version = v })
}

func (s redactionStore) Get(ctx context.Context, id string) (redact.Redaction, error) {
	return scanRedaction(s.d.queryRow(ctx, `SELECT version, doc FROM redactions WHERE id = ?`, id))
}

func (s redactionStore) Update(ctx context.Context, r redact.Redaction, version int) error {
	r.Version = version + 1
	return updateDoc(ctx, s.d, "redactions", r.ID, string(r.Status), version, r,
		func() error { _, err := s.Get(ctx, r.ID); return err }, redact.ErrConflict)
}

func (s redactionStore) ForEvidence(ctx context.Context, evidenceID string) ([]redact.Redaction, error) {
	return collect(each(ctx, s.d, scanRedaction, `SELECT version, doc FROM redactions WHERE evidence_id = ? ORDER BY created_at, id`, evidenceID))
}

func (s redactionStore) Rendered(ctx context.Context) ([]redact.Redaction, error) {
	return collect(each(ctx, s.d, scanRedaction, `SELECT version, doc FROM redactions WHERE status IN ('rendered', 'released') ORDER BY created_at, id`))
}

func (s redactionStore) PutThumbs(ctx context.Context, id string, thumbs map[int][]byte) error {
	tx, done, err := s.d.writeTx(ctx)
	if err != nil {
		return err
	}
	defer done()
	if _, err := tx.exec(ctx, `DELETE FROM redaction_thumbs WHERE redaction_id = ?`, id); err != nil {
		return err
	}
	for track, jpeg := range thumbs {
		if _, err := tx.exec(ctx, `INSERT INTO redaction_thumbs (redaction_id, track, jpeg) VALUES (?, ?, ?)`, id, track, jpeg); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (s redactionStore) Thumb(ctx context.Context, id string, track int) ([]byte, error) {
	var b []byte
	err := s.d.queryRow(ctx, `SELECT jpeg FROM redaction_thumbs WHERE redaction_id = ? AND track = ?`, id, track).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, redact.ErrNotFound
	}
	return b, err
}
