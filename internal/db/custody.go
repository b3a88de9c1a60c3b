package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sightline/sightline/internal/access"

	"github.com/sightline/sightline/internal/evidence"
)

// Custody is the custody index of a DB.
func (d *DB) Custody() evidence.ReconcilableIndex { return custodyIndex{d} }

type custodyIndex struct{ d *DB }

var _ evidence.ReconcilableIndex = custodyIndex{}

func (c custodyIndex) Reconciled(ctx context.Context) (uint64, error) {
	var n int64
	err := c.d.queryRow(ctx, `SELECT through FROM custody_reconciled WHERE id = 1`).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return uint64(n), err
}

func (c custodyIndex) SetReconciled(ctx context.Context, through uint64) error {
	_, err := c.d.exec(ctx, `INSERT INTO custody_reconciled (id, through) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET through = excluded.through`, int64(through))
	return err
}

// CustodyRows lists every event of the custody index in log order, for
// the audit to hold against the log.
func (d *DB) CustodyRows(ctx context.Context) ([]evidence.LoggedEvent, error) {
	return custodyIndex{d}.list(ctx, ``)
}

func (c custodyIndex) Add(ctx context.Context, index uint64, e evidence.Event) error {
	details, err := json.Marshal(e.Details)
	if err != nil {
		return err
	}
	var evidenceID, sha string
	if e.Evidence != nil {
		evidenceID, sha = e.Evidence.ID, e.Evidence.SHA256.String()
	}
	_, err = c.d.exec(ctx, `INSERT INTO custody (log_index, evidence_id, incident_id, case_id, type, actor, at, details, sha256, words_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (log_index) DO NOTHING`, int64(index), evidenceID, e.Incident, e.Case, string(e.Type), e.Actor, e.At, string(details), sha, e.Details[evidence.WordsKey])
	return err
}

func (c custodyIndex) AddWords(ctx context.Context, s evidence.Sealed) error {
	_, err := c.d.exec(ctx, `INSERT INTO event_words (sha256, document) VALUES (?, ?) ON CONFLICT (sha256) DO NOTHING`, s.SHA256, string(s.Document))
	return err
}

func (c custodyIndex) IncidentEvents(ctx context.Context, incidentID string) ([]evidence.LoggedEvent, error) {
	return c.list(ctx, `WHERE c.incident_id = ?`, incidentID)
}

func (c custodyIndex) CaseEvents(ctx context.Context, caseID string) ([]evidence.LoggedEvent, error) {
	return c.list(ctx, `WHERE c.case_id = ?`, caseID)
}

func (c custodyIndex) Events(ctx context.Context, evidenceID string) ([]evidence.LoggedEvent, error) {
	if evidenceID == "" {
		return nil, nil
	}
	return c.list(ctx, `WHERE c.evidence_id = ?`, evidenceID)
}

func (c custodyIndex) list(ctx context.Context, where string, args ...any) ([]evidence.LoggedEvent, error) {
	rows, err := c.d.query(ctx, `SELECT c.log_index, c.evidence_id, c.incident_id, c.case_id, c.type, c.actor, c.at, c.details, c.sha256, c.words_sha256, COALESCE(w.document, '')
		FROM custody c LEFT JOIN event_words w ON w.sha256 = c.words_sha256 `+where+` ORDER BY c.log_index`, args...)
	if err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	defer rows.Close()
	var out []evidence.LoggedEvent
	for rows.Next() {
		var le evidence.LoggedEvent
		var idx int64
		var details, wordsSum string
		if err := rows.Scan(&idx, &le.Evidence, &le.Incident, &le.Case, &le.Type, &le.Actor, &le.At, &details, &le.SHA256, &wordsSum, &le.Sealed); err != nil {
			return nil, fmt.Errorf("db: %w", err)
		}
		if err := json.Unmarshal([]byte(details), &le.Details); err != nil {
			return nil, fmt.Errorf("db: custody %d: %w", idx, err)
		}
		if wordsSum != "" {
			if le.Words, err = evidence.OpenSealed(wordsSum, []byte(le.Sealed)); err != nil {
				return nil, fmt.Errorf("db: custody %d: %w", idx, err)
			}
		}
		le.Index = uint64(idx)
		out = append(out, le)
	}
	return out, rows.Err()
}

// Facts is what the access table needs to know about items beyond their
// records: officers involved, and staff a civilian shared an item with.
func (d *DB) Facts() Facts { return Facts{d} }

// Facts keeps involvement and shares.
type Facts struct{ d *DB }

// Involved lists the badges recorded as involved in an item, those named
// in an incident the item is in, and those named in an allegation of a
// case that holds the item (or an incident it is in).
func (f Facts) Involved(ctx context.Context, evidenceID string) ([]string, error) {
	return f.strings(ctx, `SELECT badge FROM involved WHERE evidence_id = ?
		UNION SELECT o.badge FROM incident_officers o JOIN incident_clips c ON c.incident_id = o.incident_id WHERE c.evidence_id = ?
		UNION SELECT a.officer FROM allegations a WHERE a.case_id IN (`+casesOf+`)
		ORDER BY 1`, evidenceID, evidenceID, evidenceID, evidenceID)
}

// casesOf selects the cases that hold an item, directly or through an
// incident (two parameters: the item's id twice).
const casesOf = `SELECT case_id FROM case_evidence WHERE evidence_id = ?
	UNION SELECT ci.case_id FROM case_incidents ci JOIN incident_clips ic ON ic.incident_id = ci.incident_id WHERE ic.evidence_id = ?`

// OnCase reports whether a staff member is assigned to an incident the
// item is in, or investigates a case that holds it.
func (f Facts) OnCase(ctx context.Context, evidenceID, userID string) (bool, error) {
	ids, err := f.strings(ctx, `SELECT s.incident_id FROM incident_staff s JOIN incident_clips c ON c.incident_id = s.incident_id
		WHERE c.evidence_id = ? AND s.user_id = ?
		UNION SELECT case_id FROM case_investigators WHERE user_id = ? AND case_id IN (`+casesOf+`) LIMIT 1`, evidenceID, userID, userID, evidenceID, evidenceID)
	return len(ids) > 0, err
}

// SharedWith lists the staff ids an item was shared with.
func (f Facts) SharedWith(ctx context.Context, evidenceID string) ([]string, error) {
	return f.strings(ctx, `SELECT user_id FROM shares WHERE evidence_id = ? ORDER BY user_id`, evidenceID)
}

// AddInvolved records badge as involved in an item.
func (f Facts) AddInvolved(ctx context.Context, evidenceID, badge string) error {
	_, err := f.d.exec(ctx, `INSERT INTO involved (evidence_id, badge) VALUES (?, ?) ON CONFLICT DO NOTHING`, evidenceID, badge)
	return err
}

// AddShare records that an item's civilian shared it with a staff member.
func (f Facts) AddShare(ctx context.Context, evidenceID, userID string, at time.Time) error {
	_, err := f.d.exec(ctx, `INSERT INTO shares (evidence_id, user_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, evidenceID, userID, at.UTC())
	return err
}

// RemoveShare withdraws a share; it reports whether there was one.
func (f Facts) RemoveShare(ctx context.Context, evidenceID, userID string) (bool, error) {
	res, err := f.d.exec(ctx, `DELETE FROM shares WHERE evidence_id = ? AND user_id = ?`, evidenceID, userID)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// Recorded lists up to limit items recorded between from and to (by the
// file's own clock, else when they arrived), of source if not empty,
// newest first: candidates for a search, each still decided by the
// access table.
func (f Facts) Recorded(ctx context.Context, from, to time.Time, source string, limit int) ([]string, error) {
	return f.strings(ctx, `SELECT id FROM evidence WHERE COALESCE(captured_at, received_at) BETWEEN ? AND ?
		AND (? = '' OR source = ?) ORDER BY COALESCE(captured_at, received_at) DESC, id LIMIT ?`, from.UTC(), to.UTC(), source, source, limit)
}

// Visible lists the ids of items a staff member may be able to see, for
// their home page: their unit's, their camera's, and those shared with
// them, newest first. The access table still decides each one.
func (f Facts) Visible(ctx context.Context, unit, badge, userID string, limit int) ([]string, error) {
	return f.strings(ctx, `SELECT id FROM evidence WHERE (uploader_unit <> '' AND uploader_unit = ?)
		OR (uploader_badge <> '' AND uploader_badge = ?)
		OR id IN (SELECT evidence_id FROM shares WHERE user_id = ?)
		ORDER BY received_at DESC LIMIT ?`, unit, badge, userID, limit)
}

func (f Facts) strings(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := f.d.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("db: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

var _ access.Store = Facts{}
