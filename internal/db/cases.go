package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/sightline/sightline/internal/cases"
)

// Cases is the cases.Store of a DB.
func (d *DB) Cases() cases.Store { return caseStore{d} }

type caseStore struct{ d *DB }

var _ cases.Store = caseStore{}

func (s caseStore) Create(ctx context.Context, c cases.Case, complaint []byte) (cases.Case, error) {
	tx, done, err := s.d.writeTx(ctx)
	if err != nil {
		return c, err
	}
	defer done()
	if err := tx.serialize(ctx, "case numbers"); err != nil {
		return c, fmt.Errorf("db: %w", err)
	}
	year := strconv.Itoa(c.ReceivedAt.Year())
	var last sql.NullInt64
	if err := tx.queryRow(ctx, `SELECT MAX(CAST(substr(number, 6) AS INTEGER)) FROM cases WHERE number LIKE ?`, year+"-%").Scan(&last); err != nil {
		return c, fmt.Errorf("db: %w", err)
	}
	c.Number = fmt.Sprintf("%s-%06d", year, last.Int64+1)
	exec := func(q string, args ...any) error {
		if _, err := tx.exec(ctx, q, args...); err != nil {
			return fmt.Errorf("db: %w", err)
		}
		return nil
	}
	if err := exec(`INSERT INTO cases (id, number, origin, status, unit, created_by, received_at, deadline, target, token_digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Number, string(c.Origin), string(c.Status), c.Unit, c.CreatedBy, c.ReceivedAt.UTC(), c.Deadline.UTC(), c.Target.UTC(), c.TokenDigest); err != nil {
		return c, err
	}
	for i, h := range c.History {
		if err := exec(`INSERT INTO case_history (case_id, seq, status, at, actor) VALUES (?, ?, ?, ?, ?)`, c.ID, i, string(h.Status), h.At.UTC(), h.By); err != nil {
			return c, err
		}
	}
	for _, u := range c.Investigators {
		if err := exec(`INSERT INTO case_investigators (case_id, user_id) VALUES (?, ?)`, c.ID, u); err != nil {
			return c, err
		}
	}
	for _, e := range c.Evidence {
		if err := exec(`INSERT INTO case_evidence (case_id, evidence_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, c.ID, e); err != nil {
			return c, err
		}
	}
	for _, i := range c.Incidents {
		if err := exec(`INSERT INTO case_incidents (case_id, incident_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, c.ID, i); err != nil {
			return c, err
		}
	}
	if complaint != nil {
		if err := exec(`INSERT INTO complaints (case_id, document) VALUES (?, ?)`, c.ID, string(complaint)); err != nil {
			return c, err
		}
	}
	return c, tx.Commit()
}

func (s caseStore) Get(ctx context.Context, id string) (cases.Case, error) {
	var c cases.Case
	var paused sql.NullTime
	var pausedS int64
	err := s.d.queryRow(ctx, `SELECT id, number, origin, status, closed_as, unit, created_by, received_at, deadline, target, paused_at, paused_s, token_digest
		FROM cases WHERE id = ?`, id).Scan(&c.ID, &c.Number, &c.Origin, &c.Status, &c.ClosedAs, &c.Unit, &c.CreatedBy, &c.ReceivedAt, &c.Deadline, &c.Target,
		&paused, &pausedS, &c.TokenDigest)
	if errors.Is(err, sql.ErrNoRows) {
		return c, cases.ErrNotFound
	}
	if err != nil {
		return c, fmt.Errorf("db: %w", err)
	}
	c.ReceivedAt, c.Deadline, c.Target, c.Paused = c.ReceivedAt.UTC(), c.Deadline.UTC(), c.Target.UTC(), time.Duration(pausedS)*time.Second
	if paused.Valid {
		at := paused.Time.UTC()
		c.PausedAt = &at
	}
	f := Facts(s)
	for _, l := range []struct {
		to *[]string
		q  string
	}{
		{&c.Investigators, `SELECT user_id FROM case_investigators WHERE case_id = ? ORDER BY user_id`},
		{&c.Evidence, `SELECT evidence_id FROM case_evidence WHERE case_id = ? ORDER BY evidence_id`},
		{&c.Incidents, `SELECT incident_id FROM case_incidents WHERE case_id = ? ORDER BY incident_id`},
	} {
		if *l.to, err = f.strings(ctx, l.q, id); err != nil {
			return c, err
		}
		if *l.to == nil {
			*l.to = []string{}
		}
	}
	if c.History, err = collect(each(ctx, s.d, func(row scanner) (cases.Change, error) {
		var ch cases.Change
		err := row.Scan(&ch.Status, &ch.At, &ch.By)
		ch.At = ch.At.UTC()
		return ch, err
	}, `SELECT status, at, actor FROM case_history WHERE case_id = ? ORDER BY seq`, id)); err != nil {
		return c, err
	}
	if c.Allegations, err = collect(each(ctx, s.d, func(row scanner) (cases.Allegation, error) {
		var a cases.Allegation
		err := row.Scan(&a.ID, &a.Officer, &a.Category, &a.Policy, &a.AddedAt)
		a.AddedAt = a.AddedAt.UTC()
		return a, err
	}, `SELECT id, officer, category, policy, added_at FROM allegations WHERE case_id = ? ORDER BY added_at, id`, id)); err != nil {
		return c, err
	}
	if c.Notes, err = collect(each(ctx, s.d, func(row scanner) (cases.Note, error) {
		var n cases.Note
		err := row.Scan(&n.Text, &n.By, &n.At)
		n.At = n.At.UTC()
		return n, err
	}, `SELECT text, actor, at FROM case_notes WHERE case_id = ? ORDER BY seq`, id)); err != nil {
		return c, err
	}
	if c.Documents, err = collect(each(ctx, s.d, func(row scanner) (cases.Document, error) {
		var d cases.Document
		err := row.Scan(&d.SHA256, &d.Name, &d.Size, &d.MIME, &d.By, &d.At)
		d.At = d.At.UTC()
		return d, err
	}, `SELECT sha256, name, size, mime, actor, at FROM case_documents WHERE case_id = ? ORDER BY at, sha256`, id)); err != nil {
		return c, err
	}
	for i := range c.Allegations {
		a := &c.Allegations[i]
		for _, st := range []cases.Stage{cases.Recommended, cases.Final} {
			var d cases.Decision
			err := s.d.queryRow(ctx, `SELECT finding, basis, actor, at FROM findings WHERE allegation_id = ? AND stage = ? ORDER BY seq DESC LIMIT 1`,
				a.ID, string(st)).Scan(&d.Finding, &d.Basis, &d.By, &d.At)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return c, fmt.Errorf("db: %w", err)
			}
			d.At = d.At.UTC()
			if st == cases.Recommended {
				a.Recommended = &d
			} else {
				a.Final = &d
			}
		}
	}
	return c, nil
}

func (s caseStore) List(ctx context.Context, userID, unit string, unassigned bool) ([]cases.Case, error) {
	ids, err := Facts(s).strings(ctx, `SELECT id FROM cases WHERE id IN (SELECT case_id FROM case_investigators WHERE user_id = ?)
		OR (unit <> '' AND unit = ?)
		OR (? AND id NOT IN (SELECT case_id FROM case_investigators))
		ORDER BY status IN ('closed', 'administratively-closed'), deadline, id LIMIT 500`, userID, unit, unassigned)
	if err != nil {
		return nil, err
	}
	out := []cases.Case{}
	for _, id := range ids {
		c, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func (s caseStore) SetStatus(ctx context.Context, id string, ch cases.Change, closedAs string) error {
	tx, done, err := s.d.writeTx(ctx)
	if err != nil {
		return err
	}
	defer done()
	if err := tx.serialize(ctx, "case history "+id); err != nil {
		return fmt.Errorf("db: %w", err)
	}
	var seq int64
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM case_history WHERE case_id = ?`, id).Scan(&seq); err != nil {
		return fmt.Errorf("db: %w", err)
	}
	if _, err := tx.exec(ctx, `UPDATE cases SET status = ?, closed_as = ? WHERE id = ?`, string(ch.Status), closedAs, id); err != nil {
		return fmt.Errorf("db: %w", err)
	}
	if _, err := tx.exec(ctx, `INSERT INTO case_history (case_id, seq, status, at, actor) VALUES (?, ?, ?, ?, ?)`,
		id, seq, string(ch.Status), ch.At.UTC(), ch.By); err != nil {
		return fmt.Errorf("db: %w", err)
	}
	return tx.Commit()
}

func (s caseStore) AddInvestigator(ctx context.Context, id, userID string) error {
	_, err := s.d.exec(ctx, `INSERT INTO case_investigators (case_id, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, id, userID)
	return err
}

func (s caseStore) AddAllegation(ctx context.Context, id string, a cases.Allegation) error {
	_, err := s.d.exec(ctx, `INSERT INTO allegations (id, case_id, officer, category, policy, added_at) VALUES (?, ?, ?, ?, ?, ?)`,
		a.ID, id, a.Officer, string(a.Category), a.Policy, a.AddedAt.UTC())
	return err
}

func (s caseStore) AddFinding(ctx context.Context, allegationID string, stage cases.Stage, d cases.Decision) error {
	return s.d.numbered(ctx, "findings "+allegationID, `INSERT INTO findings (allegation_id, stage, seq, finding, basis, actor, at)
		VALUES (?, ?, (SELECT COUNT(*) FROM findings WHERE allegation_id = ? AND stage = ?), ?, ?, ?, ?)`,
		allegationID, string(stage), allegationID, string(stage), string(d.Finding), d.Basis, d.By, d.At.UTC())
}

func (s caseStore) AddEvidence(ctx context.Context, id, evidenceID string) error {
	_, err := s.d.exec(ctx, `INSERT INTO case_evidence (case_id, evidence_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, id, evidenceID)
	return err
}

func (s caseStore) AddIncident(ctx context.Context, id, incidentID string) error {
	_, err := s.d.exec(ctx, `INSERT INTO case_incidents (case_id, incident_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, id, incidentID)
	return err
}

func (s caseStore) SetPause(ctx context.Context, id string, pausedAt *time.Time, paused time.Duration) error {
	var at any
	if pausedAt != nil {
		at = pausedAt.UTC()
	}
	_, err := s.d.exec(ctx, `UPDATE cases SET paused_at = ?, paused_s = ? WHERE id = ?`, at, int64(paused.Seconds()), id)
	return err
}

func (s caseStore) Complaint(ctx context.Context, id string) ([]byte, error) {
	var doc string
	err := s.d.queryRow(ctx, `SELECT document FROM complaints WHERE case_id = ?`, id).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, cases.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	return []byte(doc), nil
}

func (s caseStore) MailTo(ctx context.Context, id, email string) error {
	_, err := s.d.exec(ctx, `INSERT INTO case_mail (case_id, email) VALUES (?, ?) ON CONFLICT (case_id) DO UPDATE SET email = excluded.email`, id, email)
	return err
}

func (s caseStore) Mailing(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	for kv, err := range each(ctx, s.d, func(row scanner) ([2]string, error) {
		var kv [2]string
		return kv, row.Scan(&kv[0], &kv[1])
	}, `SELECT case_id, email FROM case_mail ORDER BY case_id`) {
		if err != nil {
			return nil, err
		}
		out[kv[0]] = kv[1]
	}
	return out, nil
}

func (s caseStore) Sent(ctx context.Context, id string) (map[string]bool, error) {
	keys, err := Facts(s).strings(ctx, `SELECT notice FROM case_mail_sent WHERE case_id = ?`, id)
	out := map[string]bool{}
	for _, k := range keys {
		out[k] = true
	}
	return out, err
}

func (s caseStore) MarkSent(ctx context.Context, id, notice string, at time.Time) error {
	_, err := s.d.exec(ctx, `INSERT INTO case_mail_sent (case_id, notice, sent_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, id, notice, at.UTC())
	return err
}

func (s caseStore) Allegations(ctx context.Context, officer string, since time.Time) (int, error) {
	var n int
	err := s.d.queryRow(ctx, `SELECT COUNT(*) FROM allegations WHERE officer = ? AND added_at >= ?`, officer, since.UTC()).Scan(&n)
	return n, err
}

func (s caseStore) Flag(ctx context.Context, officer string, at, since time.Time, count int) (bool, error) {
	res, err := s.d.exec(ctx, `INSERT INTO officer_flags (officer, flagged_at, count) SELECT ?, ?, ?
		WHERE NOT EXISTS (SELECT 1 FROM officer_flags WHERE officer = ? AND flagged_at >= ?)`, officer, at.UTC(), count, officer, since.UTC())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

func (s caseStore) Flags(ctx context.Context, since time.Time) ([]cases.Flag, error) {
	out := []cases.Flag{}
	for f, err := range each(ctx, s.d, func(row scanner) (cases.Flag, error) {
		var f cases.Flag
		err := row.Scan(&f.Officer, &f.At, &f.Count)
		f.At = f.At.UTC()
		return f, err
	}, `SELECT officer, flagged_at, count FROM officer_flags WHERE flagged_at >= ? ORDER BY flagged_at DESC`, since.UTC()) {
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

func (s caseStore) Public(ctx context.Context) ([]cases.PublicRow, error) {
	out := []cases.PublicRow{}
	for r, err := range each(ctx, s.d, func(row scanner) (cases.PublicRow, error) {
		var r cases.PublicRow
		err := row.Scan(&r.CaseNumber, &r.Received, &r.Closed, &r.Category, &r.Finding, &r.Unit)
		r.Received, r.Closed = r.Received.UTC(), r.Closed.UTC()
		return r, err
	}, `SELECT c.number, c.received_at, h.at, a.category,
			COALESCE((SELECT f.finding FROM findings f WHERE f.allegation_id = a.id AND f.stage = 'final' ORDER BY f.seq DESC LIMIT 1), ''),
			c.unit
		FROM allegations a JOIN cases c ON c.id = a.case_id
		JOIN case_history h ON h.case_id = c.id AND h.seq = (SELECT MAX(seq) FROM case_history WHERE case_id = c.id AND status = 'closed')
		WHERE c.status = 'closed' ORDER BY c.number, a.added_at, a.id`) {
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// CaseIDs lists every case, for the audit.
func (d *DB) CaseIDs(ctx context.Context) ([]string, error) {
	return Facts{d}.strings(ctx, `SELECT id FROM cases ORDER BY received_at, id`)
}

func (s caseStore) AddNote(ctx context.Context, id string, n cases.Note) error {
	return s.d.numbered(ctx, "case notes "+id, `INSERT INTO case_notes (case_id, seq, text, actor, at)
		VALUES (?, (SELECT COUNT(*) FROM case_notes WHERE case_id = ?), ?, ?, ?)`, id, id, n.Text, n.By, n.At.UTC())
}

func (s caseStore) AddDocument(ctx context.Context, id string, d cases.Document) error {
	_, err := s.d.exec(ctx, `INSERT INTO case_documents (case_id, sha256, name, size, mime, actor, at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`, id, d.SHA256, d.Name, d.Size, d.MIME, d.By, d.At.UTC())
	return err
}

// CaseDocuments lists the SHA-256 of every case document, for the audit.
func (d *DB) CaseDocuments(ctx context.Context) ([]string, error) {
	return Facts{d}.strings(ctx, `SELECT DISTINCT sha256 FROM case_documents ORDER BY sha256`)
}
