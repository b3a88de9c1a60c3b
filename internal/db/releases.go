package db

import (
	"context"
	"encoding/json"

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
	return scanDoc(row, release.ErrNotFound, func(r *release.Release, v int) { r.Version = v })
}

func (s releaseStore) Get(ctx context.Context, id string) (release.Release, error) {
	return scanRelease(s.d.queryRow(ctx, `SELECT version, doc FROM releases WHERE id = ?`, id))
}

func (s releaseStore) Update(ctx context.Context, r release.Release, version int) error {
	return updateDoc(ctx, s.d, "releases", r.ID, string(r.Status), version, r,
		func() error { _, err := s.Get(ctx, r.ID); return err }, release.ErrConflict)
}

func (s releaseStore) OfIncident(ctx context.Context, incident string) ([]release.Release, error) {
	return collect(each(ctx, s.d, scanRelease, `SELECT version, doc FROM releases WHERE incident_id = ? ORDER BY number`, incident))
}

func (s releaseStore) Published(ctx context.Context) ([]release.Release, error) {
	return collect(each(ctx, s.d, scanRelease, `SELECT version, doc FROM releases WHERE status = 'published' ORDER BY incident_id, number`))
}

func (s releaseStore) All(ctx context.Context) ([]release.Release, error) {
	return collect(each(ctx, s.d, scanRelease, `SELECT version, doc FROM releases ORDER BY incident_id, number`))
}
