// Package dbtest opens a database for a package's tests on the engine the
// test run asks for: SQLite in a temporary folder, or, when
// SIGHTLINE_TEST_DATABASE=postgres (make test's second pass), a new
// PostgreSQL database (pgtest).
package dbtest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sightline/sightline/internal/db"
	"github.com/sightline/sightline/internal/db/pgtest"
)

// Open opens a new, empty database, closed after the test.
func Open(t testing.TB) *db.DB {
	t.Helper()
	where := filepath.Join(t.TempDir(), "sightline.db")
	if os.Getenv("SIGHTLINE_TEST_DATABASE") == "postgres" {
		where = pgtest.New(t)
	}
	d, err := db.Open(t.Context(), where)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}
