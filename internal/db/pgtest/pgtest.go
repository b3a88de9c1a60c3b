// Package pgtest runs a throwaway PostgreSQL server for tests: Debian's
// postgresql binaries (scripts/deps.sh test installs them), initdb into a
// temporary folder, the server listening only on a Unix socket there,
// without fsync (a test's data need not survive a power cut). As root it
// runs them as the postgres user, for initdb refuses root.
//
// A test process's tests share one server, started by the first New; each
// test gets a database of its own. TestMain may call Main, which stops the
// server after the tests; otherwise a watchdog stops it once the process
// is gone.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
)

// server is the running PostgreSQL of this test process.
type server struct {
	dir, data, socket string
	bin               string
	cred              *syscall.Credential
}

var (
	once     sync.Once
	running  *server
	startErr error
	made     atomic.Int64
)

// Main runs a package's tests and then stops the server, if they
// started one. Use it as TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if err := Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
	}
	return code
}

// New returns the URL of a new, empty database on the test process's
// server, started on first use. It fails the test if PostgreSQL is not
// installed.
func New(t testing.TB) string {
	t.Helper()
	dsn, err := NewDatabase(t.Context())
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// NewDatabase is New for programs that are not tests (benchmarks); Stop
// stops the server.
func NewDatabase(ctx context.Context) (string, error) {
	once.Do(func() { running, startErr = start() })
	if startErr != nil {
		return "", startErr
	}
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), made.Add(1))
	admin, err := sql.Open("pgx", running.url("postgres"))
	if err != nil {
		return "", err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	return running.url(name), nil
}

// Stop stops the server, if one was started.
func Stop() error {
	if running == nil {
		return nil
	}
	return running.stop()
}

// URL of database name on the server: over its socket, as postgres.
func (s *server) url(name string) string {
	q := url.Values{"host": {s.socket}, "sslmode": {"disable"}}
	return (&url.URL{Scheme: "postgres", User: url.User("postgres"), Path: "/" + name, RawQuery: q.Encode()}).String()
}

// bindir finds the PostgreSQL programs: on the PATH, else Debian's
// newest /usr/lib/postgresql/N/bin.
func bindir() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return va - vb
	})
	for _, d := range slices.Backward(dirs) {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL is not installed: run `make test`, which installs it (Debian's postgresql)")
}

func start() (*server, error) {
	bin, err := bindir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	s := &server{dir: dir, data: filepath.Join(dir, "data"), socket: dir, bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root, PostgreSQL needs the postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	if err := s.run("initdb", "-D", s.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	opts := fmt.Sprintf("-k %s -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", dir)
	if err := s.run("pg_ctl", "-D", s.data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "120", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%w\n%s", err, log)
	}
	// Should this process die without stopping it (a test run killed at
	// its deadline), a watchdog stops the server and removes its folder.
	watch := exec.Command("/bin/sh", "-c", `while [ -d /proc/$0 ]; do sleep 1; done; "$1" -D "$2" -m immediate -w stop; rm -rf "$3"`,
		strconv.Itoa(os.Getpid()), filepath.Join(bin, "pg_ctl"), s.data, dir)
	watch.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setpgid: true}
	if err := watch.Start(); err != nil {
		s.stop()
		return nil, err
	}
	go watch.Wait()
	return s, nil
}

func (s *server) stop() error {
	err := s.run("pg_ctl", "-D", s.data, "-m", "immediate", "-w", "stop")
	return errors.Join(err, os.RemoveAll(s.dir))
}

// run runs a PostgreSQL program, as postgres when this process is root.
func (s *server) run(name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v\n%s", name, err, out)
	}
	return nil
}
