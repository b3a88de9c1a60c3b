package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/incident"
)

// Incidents is the incident.Store of a DB.
func (d *DB) Incidents() incident.Store { return incidentStore{d} }

type incidentStore struct{ d *DB }

var _ incident.Store = incidentStore{}

func (s incidentStore) Create(ctx context.Context, inc incident.Incident) error {
	tx, done, err := s.d.writeTx(ctx)
	if err != nil {
		return err
	}
	defer done()
	if _, err := tx.exec(ctx, `INSERT INTO incidents (id, title, unit, created_by, created_at) VALUES (?, ?, ?, ?, ?)`,
		inc.ID, inc.Title, inc.Unit, inc.CreatedBy, inc.CreatedAt.UTC()); err != nil {
		return fmt.Errorf("db: %w", err)
	}
	for _, u := range inc.Staff {
		if _, err := tx.exec(ctx, `INSERT INTO incident_staff (incident_id, user_id) VALUES (?, ?)`, inc.ID, u); err != nil {
			return fmt.Errorf("db: %w", err)
		}
	}
	return tx.Commit()
}

func (s incidentStore) Get(ctx context.Context, id string) (incident.Incident, error) {
	inc, err := scanIncident(s.d.queryRow(ctx, `SELECT id, title, unit, created_by, created_at, anchor FROM incidents WHERE id = ?`, id))
	if err != nil {
		return inc, err
	}
	f := Facts(s)
	if inc.Staff, err = f.strings(ctx, `SELECT user_id FROM incident_staff WHERE incident_id = ? ORDER BY user_id`, id); err != nil {
		return inc, err
	}
	inc.Officers, err = f.strings(ctx, `SELECT badge FROM incident_officers WHERE incident_id = ? ORDER BY badge`, id)
	return inc, err
}

func (s incidentStore) Mine(ctx context.Context, userID, unit string) ([]incident.Incident, error) {
	ids, err := Facts(s).strings(ctx, `SELECT id FROM incidents WHERE id IN (SELECT incident_id FROM incident_staff WHERE user_id = ?)
		OR (unit <> '' AND unit = ?) ORDER BY created_at DESC LIMIT 200`, userID, unit)
	if err != nil {
		return nil, err
	}
	out := []incident.Incident{}
	for _, id := range ids {
		inc, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, inc)
	}
	return out, nil
}

func scanIncident(row scanner) (incident.Incident, error) {
	var inc incident.Incident
	err := row.Scan(&inc.ID, &inc.Title, &inc.Unit, &inc.CreatedBy, &inc.CreatedAt, &inc.Anchor)
	if errors.Is(err, sql.ErrNoRows) {
		return inc, incident.ErrNotFound
	}
	if err != nil {
		return inc, fmt.Errorf("db: %w", err)
	}
	inc.CreatedAt = inc.CreatedAt.UTC()
	return inc, nil
}

func (s incidentStore) AddStaff(ctx context.Context, id, userID string) error {
	_, err := s.d.exec(ctx, `INSERT INTO incident_staff (incident_id, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, id, userID)
	return err
}

func (s incidentStore) AddOfficer(ctx context.Context, id, badge string) error {
	_, err := s.d.exec(ctx, `INSERT INTO incident_officers (incident_id, badge) VALUES (?, ?) ON CONFLICT DO NOTHING`, id, badge)
	return err
}

func (s incidentStore) SetAnchor(ctx context.Context, id, evidenceID string) error {
	_, err := s.d.exec(ctx, `UPDATE incidents SET anchor = ? WHERE id = ?`, evidenceID, id)
	return err
}

func (s incidentStore) AddClip(ctx context.Context, c incident.Clip) error {
	// The order clips were added in: SQLite's one writer may count, while
	// PostgreSQL's writers draw from a sequence.
	seq := `(SELECT COALESCE(MAX(seq), 0) + 1 FROM incident_clips)`
	if s.d.engine == "postgres" {
		seq = `nextval('incident_clips_seq')`
	}
	_, err := s.d.exec(ctx, `INSERT INTO incident_clips (incident_id, evidence_id, seq, added_by, added_at, status)
		VALUES (?, ?, `+seq+`, ?, ?, ?)`,
		c.Incident, c.Evidence, c.AddedBy, c.AddedAt.UTC(), string(c.Status))
	if err != nil && isUniqueViolation(err) {
		return incident.ErrExists
	}
	return err
}

func (s incidentStore) RemoveClip(ctx context.Context, id, evidenceID string) error {
	res, err := s.d.exec(ctx, `DELETE FROM incident_clips WHERE incident_id = ? AND evidence_id = ?`, id, evidenceID)
	if err != nil {
		return fmt.Errorf("db: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return incident.ErrNotFound
	}
	return nil
}

const clipColumns = `incident_id, evidence_id, added_by, added_at, offset_s, drift_ppm, method, confidence, status, detail, confirmed_by, confirmed_at`

func (s incidentStore) Clips(ctx context.Context, id string) ([]incident.Clip, error) {
	out := []incident.Clip{}
	for c, err := range each(ctx, s.d, scanClip, `SELECT `+clipColumns+` FROM incident_clips WHERE incident_id = ? ORDER BY seq`, id) {
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func scanClip(row scanner) (incident.Clip, error) {
	var c incident.Clip
	var confirmed sql.NullTime
	if err := row.Scan(&c.Incident, &c.Evidence, &c.AddedBy, &c.AddedAt, &c.Offset, &c.Drift, &c.Method, &c.Confidence,
		&c.Status, &c.Detail, &c.ConfirmedBy, &confirmed); err != nil {
		return c, fmt.Errorf("db: %w", err)
	}
	c.AddedAt = c.AddedAt.UTC()
	if confirmed.Valid {
		c.ConfirmedAt = confirmed.Time.UTC()
	}
	return c, nil
}

func (s incidentStore) SetPlace(ctx context.Context, c incident.Clip) error {
	_, err := s.d.exec(ctx, `UPDATE incident_clips SET offset_s = ?, drift_ppm = ?, method = ?, confidence = ?, status = ?, detail = ?,
		confirmed_by = ?, confirmed_at = ? WHERE incident_id = ? AND evidence_id = ?`,
		c.Offset, c.Drift, string(c.Method), c.Confidence, string(c.Status), c.Detail, c.ConfirmedBy, nullTime(c.ConfirmedAt), c.Incident, c.Evidence)
	return err
}

func (s incidentStore) Decide(ctx context.Context, id, evidenceID string, accepted bool, by string, at time.Time) error {
	_, err := s.d.exec(ctx, `INSERT INTO suggestions (incident_id, evidence_id, accepted, decided_by, decided_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (incident_id, evidence_id) DO UPDATE SET accepted = excluded.accepted, decided_by = excluded.decided_by, decided_at = excluded.decided_at`,
		id, evidenceID, accepted, by, at.UTC())
	return err
}

func (s incidentStore) Decided(ctx context.Context, id string) (map[string]bool, error) {
	out := map[string]bool{}
	type row struct {
		id       string
		accepted bool
	}
	for r, err := range each(ctx, s.d, func(sc scanner) (row, error) {
		var r row
		return r, sc.Scan(&r.id, &r.accepted)
	}, `SELECT evidence_id, accepted FROM suggestions WHERE incident_id = ?`, id) {
		if err != nil {
			return nil, fmt.Errorf("db: %w", err)
		}
		out[r.id] = r.accepted
	}
	return out, nil
}

func (s incidentStore) CapturedBetween(ctx context.Context, from, to time.Time) ([]evidence.Item, error) {
	var out []evidence.Item
	for it, err := range each(ctx, s.d, scanEvidence, `SELECT `+evidenceColumns+` FROM evidence
		WHERE captured_at IS NOT NULL AND captured_at >= ? AND captured_at <= ? ORDER BY captured_at, id LIMIT 1000`, from.UTC(), to.UTC()) {
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
}

func (s incidentStore) Containing(ctx context.Context, evidenceID string) ([]string, error) {
	return Facts(s).strings(ctx, `SELECT incident_id FROM incident_clips WHERE evidence_id = ? ORDER BY incident_id`, evidenceID)
}
