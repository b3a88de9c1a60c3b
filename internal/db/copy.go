package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// CopyTo copies every record of d, a SQLite database, into dst, an empty
// PostgreSQL database at the same schema version, in one transaction: dst
// ends with all of them or, on an error, none. Rows keep their order, and
// the sequences that number new rows go on from the copied ones. It
// returns how many rows each table had.
func (d *DB) CopyTo(ctx context.Context, dst *DB) (map[string]int64, error) {
	if d.engine != "sqlite" || dst.engine != "postgres" {
		return nil, fmt.Errorf("db: records are copied from SQLite to PostgreSQL, not from %s to %s", d.engine, dst.engine)
	}
	from, err := d.Version(ctx)
	if err != nil {
		return nil, err
	}
	to, err := dst.Version(ctx)
	if err != nil {
		return nil, err
	}
	if from != to {
		return nil, fmt.Errorf("db: the source's schema is version %d, the destination's %d", from, to)
	}
	tables, err := dst.tablesInOrder(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := dst.sql.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	defer tx.Rollback()
	counts := map[string]int64{}
	for _, t := range tables {
		var n int64
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t).Scan(&n); err != nil {
			return nil, fmt.Errorf("db: %w", err)
		}
		if n > 0 {
			return nil, fmt.Errorf("db: the destination already holds records (%d in %s)", n, t)
		}
		if counts[t], err = d.copyTable(ctx, tx, t); err != nil {
			return nil, fmt.Errorf("db: copying %s: %w", t, err)
		}
	}
	// Identity columns and the clips' sequence go on from the copied rows.
	ids, err := tx.QueryContext(ctx, `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND is_identity = 'YES'`)
	if err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	var serial [][2]string
	for ids.Next() {
		var t, c string
		if err := ids.Scan(&t, &c); err != nil {
			ids.Close()
			return nil, fmt.Errorf("db: %w", err)
		}
		serial = append(serial, [2]string{t, c})
	}
	if err := errors.Join(ids.Err(), ids.Close()); err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	for _, s := range serial {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s', '%s'), COALESCE(MAX(%s), 0) + 1, false) FROM %s`,
			s[0], s[1], s[1], s[0])); err != nil {
			return nil, fmt.Errorf("db: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `SELECT setval('incident_clips_seq', COALESCE(MAX(seq), 0) + 1, false) FROM incident_clips`); err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	return counts, nil
}

// tablesInOrder lists a PostgreSQL database's tables, each after those its
// foreign keys name (schema_migrations left out: each side has its own).
func (d *DB) tablesInOrder(ctx context.Context) ([]string, error) {
	rows, err := d.query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations' ORDER BY table_name`)
	if err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	var all []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return nil, fmt.Errorf("db: %w", err)
		}
		all = append(all, t)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	refs := map[string][]string{}
	rows, err = d.query(ctx, `SELECT DISTINCT tc.table_name, ccu.table_name FROM information_schema.table_constraints tc
		JOIN information_schema.constraint_column_usage ccu ON tc.constraint_name = ccu.constraint_name AND tc.table_schema = ccu.table_schema
		WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = current_schema()`)
	if err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	for rows.Next() {
		var t, parent string
		if err := rows.Scan(&t, &parent); err != nil {
			rows.Close()
			return nil, fmt.Errorf("db: %w", err)
		}
		if t != parent {
			refs[t] = append(refs[t], parent)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("db: %w", err)
	}
	var order []string
	var visit func(t string, path []string) error
	visit = func(t string, path []string) error {
		if slices.Contains(order, t) {
			return nil
		}
		if slices.Contains(path, t) {
			return fmt.Errorf("db: foreign keys form a cycle through %s", t)
		}
		for _, p := range refs[t] {
			if err := visit(p, append(path, t)); err != nil {
				return err
			}
		}
		order = append(order, t)
		return nil
	}
	for _, t := range all {
		if err := visit(t, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// copyTable copies table t's rows from d into tx, in the order they were
// written (a correction after what it corrects), converting what SQLite
// keeps as integers and text into the destination's booleans and bytes.
func (d *DB) copyTable(ctx context.Context, tx *sql.Tx, t string) (int64, error) {
	types := map[string]string{}
	cols, err := tx.QueryContext(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1`, t)
	if err != nil {
		return 0, err
	}
	for cols.Next() {
		var c, ty string
		if err := cols.Scan(&c, &ty); err != nil {
			cols.Close()
			return 0, err
		}
		types[c] = ty
	}
	if err := errors.Join(cols.Err(), cols.Close()); err != nil {
		return 0, err
	}
	rows, err := d.sql.QueryContext(ctx, `SELECT * FROM `+t+` ORDER BY rowid`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	names, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	marks := make([]string, len(names))
	for i, c := range names {
		if _, ok := types[c]; !ok {
			return 0, fmt.Errorf("column %s is not in the destination", c)
		}
		marks[i] = fmt.Sprintf("$%d", i+1)
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO `+t+` (`+strings.Join(names, ", ")+`) VALUES (`+strings.Join(marks, ", ")+`)`)
	if err != nil {
		return 0, err
	}
	defer ins.Close()
	vals := make([]any, len(names))
	ptrs := make([]any, len(names))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var n int64
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		for i, c := range names {
			switch v := vals[i].(type) {
			case int64:
				if types[c] == "boolean" {
					vals[i] = v != 0
				}
			case string:
				if types[c] == "bytea" {
					vals[i] = []byte(v)
				}
			}
		}
		if _, err := ins.ExecContext(ctx, vals...); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}
