package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

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
	var (
		r       redact.Redaction
		doc     []byte
		version int
	)
	if err := row.Scan(&version, &doc); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return r, redact.ErrNotFound
		}
		return r, fmt.Errorf("db: %w", err)
	}
	if err := json.Unmarshal(doc, &r); err != nil {
		return r, fmt.Errorf("db: redaction: %w", err)
	}
	r.Version = version
	return r, nil
}

func (s redactionStore) Get(ctx context.Context, id string) (redact.Redaction, error) {
	return scanRedaction(s.d.queryRow(ctx, `SELECT version, doc FROM redactions WHERE id = ?`, id))
}

func (s redactionStore) Update(ctx context.Context, r redact.Redaction, version int) error {
	r.Version = version + 1
	doc, err := json.Marshal(r)
	if err != nil {
		return err
	}
	res, err := s.d.exec(ctx, `UPDATE redactions SET status = ?, version = ?, doc = ? WHERE id = ? AND version = ?`,
		string(r.Status), version+1, doc, r.ID, version)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		if _, err := s.Get(ctx, r.ID); err != nil {
			return err
		}
		return redact.ErrConflict
	}
	return nil
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
	if _, err := tx.ExecContext(ctx, s.d.rebind(`DELETE FROM redaction_thumbs WHERE redaction_id = ?`), id); err != nil {
		return err
	}
	for track, jpeg := range thumbs {
		if _, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO redaction_thumbs (redaction_id, track, jpeg) VALUES (?, ?, ?)`), id, track, jpeg); err != nil {
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
