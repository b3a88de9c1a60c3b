// Package db keeps Sightline's records (evidence items now; custody, cases
// and accounts as they come) in a SQL database: SQLite by default,
// PostgreSQL when scaled out.
//
// The queries are written once, in the subset of SQL both engines share,
// with ? placeholders that the dialect rewrites where the engine needs
// another form. Schema changes are numbered migration files per engine
// (migrations/<engine>/NNNN_name.sql), applied in order, each in its own
// transaction, and recorded in schema_migrations.
package db

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
	_ "modernc.org/sqlite"             // the "sqlite" driver: pure Go, no cgo
)

//go:embed migrations
var migrations embed.FS

// DB is a Sightline database.
type DB struct {
	sql    *sql.DB
	engine string
	// writer is SQLite's one write turn, taken in the order asked. SQLite
	// lets one writer in at a time and has the others retry blindly until
	// busy_timeout, so under load some waited past it and failed
	// (SQLITE_BUSY, seen in make bench-load); queued here, every write
	// waits its turn and none fails for waiting.
	writer chan struct{}
	// dsn opened a PostgreSQL database; its locks (Locks) have a pool of
	// connections of their own, opened on first use.
	dsn       string
	locksOnce sync.Once
	lockPool  *sql.DB
	lockErr   error
}

// OpenSQLite opens or creates the SQLite database at path and brings its
// schema up to date. Commits are durable (WAL with synchronous=FULL), and
// transactions take the write lock at BEGIN so that concurrent writers wait
// for each other instead of failing.
func OpenSQLite(ctx context.Context, path string) (*DB, error) {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(ON)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	q.Set("_time_format", "sqlite")
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	// The database holds TOTP secrets and password hashes: only its owner
	// reads it. SQLite gives its -wal and -shm files the database's mode,
	// so the file is made (or, from an older version, set) 0600 first.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	err = f.Chmod(0o600)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	dsn := &url.URL{Scheme: "file", Path: abs, RawQuery: q.Encode()}
	conn, err := sql.Open("sqlite", dsn.String())
	if err != nil {
		return nil, err
	}
	d := &DB{sql: conn, engine: "sqlite", writer: make(chan struct{}, 1)}
	if err := d.migrate(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return d, nil
}

// Open opens the database named by where: a postgres:// (or
// postgresql://) URL is a PostgreSQL database, anything else the path of
// a SQLite file.
func Open(ctx context.Context, where string) (*DB, error) {
	if strings.HasPrefix(where, "postgres://") || strings.HasPrefix(where, "postgresql://") {
		return OpenPostgres(ctx, where)
	}
	return OpenSQLite(ctx, where)
}

// OpenPostgres opens the PostgreSQL database at dsn (postgres://… or a
// key=value string, as pgx reads it) and brings its schema up to date.
// Several servers may open one database at once: the migrations are
// applied under an advisory lock, by whichever comes first.
func OpenPostgres(ctx context.Context, dsn string) (*DB, error) {
	conn, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, err
	}
	conn.SetMaxOpenConns(32)
	conn.SetMaxIdleConns(8)
	if err := conn.PingContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("db: %w", err)
	}
	d := &DB{sql: conn, engine: "postgres", dsn: dsn}
	if err := d.migrate(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return d, nil
}

// Engine names the database engine: "sqlite" or "postgres".
func (d *DB) Engine() string { return d.engine }

// Ping checks the database answers.
func (d *DB) Ping(ctx context.Context) error { return d.sql.PingContext(ctx) }

// Close closes the database.
func (d *DB) Close() error {
	err := d.sql.Close()
	if d.lockPool != nil {
		err = errors.Join(err, d.lockPool.Close())
	}
	return err
}

// rebind turns the ? placeholders of a shared query into the engine's form.
func (d *DB) rebind(q string) string {
	if d.engine != "postgres" {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (d *DB) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	release, err := d.writeTurn(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return d.sql.ExecContext(ctx, d.rebind(q), stored(args)...)
}

// writeTurn waits for the write turn (on engines that need one) and
// returns the function that gives it back.
func (d *DB) writeTurn(ctx context.Context) (func(), error) {
	if d.writer == nil {
		return func() {}, nil
	}
	select {
	case d.writer <- struct{}{}:
		return func() { <-d.writer }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// txn is a write transaction: its statements are written as the
// database's (? placeholders, times as stored).
type txn struct {
	tx *sql.Tx
	d  *DB
}

func (t txn) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.d.rebind(q), stored(args)...)
}

func (t txn) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.d.rebind(q), stored(args)...)
}

func (t txn) Commit() error { return t.tx.Commit() }

// serialize makes the transactions that name key run one after another:
// those that count rows to number a new one. SQLite's one writer does
// that already; on PostgreSQL it is a lock held to the transaction's end.
func (t txn) serialize(ctx context.Context, key string) error {
	if t.d.engine != "postgres" {
		return nil
	}
	_, err := t.tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, key)
	return err
}

// numbered runs one statement that numbers its row by counting others,
// in a transaction serialized on key.
func (d *DB) numbered(ctx context.Context, key, q string, args ...any) error {
	tx, done, err := d.writeTx(ctx)
	if err != nil {
		return err
	}
	defer done()
	if err := tx.serialize(ctx, key); err != nil {
		return err
	}
	if _, err := tx.exec(ctx, q, args...); err != nil {
		return err
	}
	return tx.Commit()
}

// writeTx begins a write transaction in the write turn; done rolls it
// back unless it was committed, and gives the turn back.
func (d *DB) writeTx(ctx context.Context) (tx txn, done func(), err error) {
	release, err := d.writeTurn(ctx)
	if err != nil {
		return txn{}, nil, err
	}
	t, err := d.sql.BeginTx(ctx, nil)
	if err != nil {
		release()
		return txn{}, nil, err
	}
	return txn{t, d}, func() { t.Rollback(); release() }, nil
}

func (d *DB) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return d.sql.QueryContext(ctx, d.rebind(q), stored(args)...)
}

func (d *DB) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return d.sql.QueryRowContext(ctx, d.rebind(q), stored(args)...)
}

// skipLocked ends a SELECT that claims a row: on PostgreSQL it locks the
// row and skips rows others hold; SQLite's one writer needs nothing.
func (d *DB) skipLocked() string {
	if d.engine == "postgres" {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}

// stored turns arguments into what both engines store alike: times in
// UTC to the microsecond (PostgreSQL's precision).
func stored(args []any) []any {
	for i, a := range args {
		switch v := a.(type) {
		case time.Time:
			args[i] = v.UTC().Truncate(time.Microsecond)
		case *time.Time:
			if v != nil {
				args[i] = v.UTC().Truncate(time.Microsecond)
			}
		}
	}
	return args
}

// migrateLock is the PostgreSQL advisory lock key migrations hold.
const migrateLock = 0x5167_6874_6c69_6e65 // "Sightline"-ish

// migrate applies, in order, every migration of the engine not yet applied.
func (d *DB) migrate(ctx context.Context) error {
	if d.engine == "postgres" {
		// One connection holds the lock while the migrations run on others.
		c, err := d.sql.Conn(ctx)
		if err != nil {
			return fmt.Errorf("db: %w", err)
		}
		defer c.Close()
		if _, err := c.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, int64(migrateLock)); err != nil {
			return fmt.Errorf("db: migration lock: %w", err)
		}
		defer c.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrateLock))
	}
	if _, err := d.exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMP NOT NULL)`); err != nil {
		return fmt.Errorf("db: %w", err)
	}
	dir := path.Join("migrations", d.engine)
	ents, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return fmt.Errorf("db: %w", err)
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	for _, e := range ents {
		num, _, ok := strings.Cut(e.Name(), "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return fmt.Errorf("db: migration %s: name must be NNNN_name.sql", e.Name())
		}
		var applied int
		if err := d.queryRow(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, version).Scan(&applied); err != nil {
			return fmt.Errorf("db: %w", err)
		}
		if applied > 0 {
			continue
		}
		body, err := fs.ReadFile(migrations, path.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		tx, done, err := d.writeTx(ctx)
		if err != nil {
			return fmt.Errorf("db: %w", err)
		}
		if _, err := tx.tx.ExecContext(ctx, string(body)); err != nil {
			done()
			return fmt.Errorf("db: migration %s: %w", e.Name(), err)
		}
		if _, err := tx.exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			version, e.Name(), time.Now().UTC()); err != nil {
			done()
			return fmt.Errorf("db: %w", err)
		}
		err = tx.Commit()
		done()
		if err != nil {
			return fmt.Errorf("db: migration %s: %w", e.Name(), err)
		}
	}
	return nil
}

// Version returns the number of the newest applied migration.
func (d *DB) Version(ctx context.Context) (int, error) {
	var v sql.NullInt64
	err := d.queryRow(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v)
	return int(v.Int64), err
}

// each yields the rows of q, each read by scan.
// collect gathers what each yields: never nil, so that an empty list is
// [] in JSON.
func collect[T any](seq iter.Seq2[T, error]) ([]T, error) {
	out := []T{}
	for v, err := range seq {
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return slices.Clip(out), nil
}

func each[T any](ctx context.Context, d *DB, scan func(scanner) (T, error), q string, args ...any) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		rows, err := d.query(ctx, q, args...)
		if err != nil {
			yield(zero, err)
			return
		}
		defer rows.Close()
		for rows.Next() {
			if !yield(scan(rows)) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(zero, err)
		}
	}
}
