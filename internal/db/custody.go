package db

import (
	"context"
	"fmt"

	"github.com/sightline/sightline/internal/evidence"
)

// Custody is the evidence.CustodyIndex of a DB.
func (d *DB) Custody() evidence.CustodyIndex { return custodyIndex{d} }

type custodyIndex struct{ d *DB }

var _ evidence.CustodyIndex = custodyIndex{}

func (c custodyIndex) Add(ctx context.Context, index uint64, e evidence.Event) error {
	_, err := c.d.exec(ctx, `INSERT INTO custody (log_index, evidence_id, type, actor, at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (log_index) DO NOTHING`, int64(index), e.Evidence.ID, string(e.Type), e.Actor, e.At)
	return err
}

func (c custodyIndex) Events(ctx context.Context, evidenceID string) ([]evidence.LoggedEvent, error) {
	rows, err := c.d.query(ctx, `SELECT log_index, type, actor, at FROM custody WHERE evidence_id = ? ORDER BY log_index`, evidenceID)
	if err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	defer rows.Close()
	var out []evidence.LoggedEvent
	for rows.Next() {
		var le evidence.LoggedEvent
		var idx int64
		if err := rows.Scan(&idx, &le.Type, &le.Actor, &le.At); err != nil {
			return nil, fmt.Errorf("db: %w", err)
		}
		le.Index = uint64(idx)
		out = append(out, le)
	}
	return out, rows.Err()
}
