package db

import "database/sql"

// Raw is the database's own handle, for tests that go around the stores
// (the immutability rules hold against any statement).
func (d *DB) Raw() *sql.DB { return d.sql }
