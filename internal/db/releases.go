package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sightline/sightline/internal/release"
)

// Releases is the release.Store of a DB.
func (d *DB) Releases() release.Store { return releaseStore{d} }

type releaseStore struct{ d *DB }

var _ release.Store = releaseStore{}

func (s releaseStore) Create(ctx context.Context, r release.Release) error {
	doc, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = s.d.exec(ctx, `INSERT INTO releases (id, incident_id, number, status, version, created_at, doc) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Incident, r.Number, string(r.Status), r.Version, r.Created.UTC(), doc)
	if err != nil && isUniqueViolation(err) {
		return release.ErrConflict
	}
	return err
}

func scanRelease(row scanner) (release.Release, error) {
	var (
		r       release.Release
		doc     []byte
		version int
	)
	if err := row.Scan(&version, &doc); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return r, release.ErrNotFound
		}
		return r, fmt.Errorf("db: %w", err)
	}
	if err := json.Unmarshal(doc, &r); err != nil {
		return r, fmt.Errorf("db: release: %w", err)
	}
	r.Version = version
	return r, nil
}

func (s releaseStore) Get(ctx context.Context, id string) (release.Release, error) {
	return scanRelease(s.d.queryRow(ctx, `SELECT version, doc FROM releases WHERE id = ?`, id))
}

func (s releaseStore) Update(ctx context.Context, r release.Release, version int) error {
	doc, err := json.Marshal(r)
	if err != nil {
		return err
	}
	res, err := s.d.exec(ctx, `UPDATE releases SET status = ?, version = ?, doc = ? WHERE id = ? AND version = ?`,
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
		return release.ErrConflict
	}
	return nil
}

func (s releaseStore) OfIncident(ctx context.Context, incident string) ([]release.Release, error) {
	return collect(each(ctx, s.d, scanRelease, `SELECT version, doc FROM releases WHERE incident_id = ? ORDER BY number`, incident))
}

func (s releaseStore) Published(ctx context.Context) ([]release.Release, error) {
	return collect(each(ctx, s.d, scanRelease, `SELECT version, doc FROM releases WHERE status = 'published' ORDER BY incident_id, number`))
}
