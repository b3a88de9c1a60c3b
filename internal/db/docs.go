package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// Redactions and releases are kept as JSON documents beside the columns
// their queries need, with a version that guards concurrent edits.

// scanDoc reads a row of (version, doc) into a T, setting its version;
// a missing row is notFound.
func scanDoc[T any](row scanner, notFound error, setVersion func(*T, int)) (T, error) {
	var (
		v       T
		doc     []byte
		version int
	)
	if err := row.Scan(&version, &doc); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return v, notFound
		}
		return v, fmt.Errorf("db: %w", err)
	}
	if err := json.Unmarshal(doc, &v); err != nil {
		return v, fmt.Errorf("db: %T: %w", v, err)
	}
	setVersion(&v, version)
	return v, nil
}

// updateDoc replaces the document of row id of table, with its status,
// if its version is still version. If no row changed, exists says
// whether the row is there (its error, if not); if it is, the version
// moved on: conflict.
func updateDoc(ctx context.Context, d *DB, table, id, status string, version int, v any, exists func() error, conflict error) error {
	doc, err := json.Marshal(v)
	if err != nil {
		return err
	}
	res, err := d.exec(ctx, `UPDATE `+table+` SET status = ?, version = ?, doc = ? WHERE id = ? AND version = ?`,
		status, version+1, doc, id, version)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		if err := exists(); err != nil {
			return err
		}
		return conflict
	}
	return nil
}
