package pgtest_test

import (
	"database/sql"
	"testing"

	"github.com/sightline/sightline/internal/db/pgtest"
)

// Each New is a database of its own on one server; without TestMain the
// watchdog stops the server after the process.
func TestNewDatabases(t *testing.T) {
	a, b := pgtest.New(t), pgtest.New(t)
	if a == b {
		t.Fatalf("two tests share database %s", a)
	}
	for _, dsn := range []string{a, b} {
		d, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.ExecContext(t.Context(), `CREATE TABLE t (x INTEGER)`); err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
		d.Close()
	}
}
