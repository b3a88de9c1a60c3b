// Package mariadbtest runs a throwaway MariaDB server for tests: Debian's
// mariadb-server (scripts/deps.sh test installs it), its data in a
// temporary folder, listening on a free loopback port, without binary log
// or fsync (a test's data need not survive a power cut). It is what a
// shared custody log sequences its entries in (tessera's storage/aws
// driver, ledger.Shared). As root the server runs as the mysql user.
//
// A test process's tests share one server, started by the first New; each
// call makes a database of its own. A watchdog stops the server and
// removes its folder once the process is gone.
package mariadbtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // the "mysql" driver
)

var (
	once     sync.Once
	addr     string
	startErr error
	made     atomic.Int64
)

// New returns the DSN (go-sql-driver/mysql form, as --log-db takes it) of
// a new, empty database on the test process's server, started on first
// use. It fails the test if MariaDB is not installed.
func New(t testing.TB) string {
	t.Helper()
	dsn, err := NewDatabase(t.Context())
	if err != nil {
		t.Fatalf("mariadbtest: %v", err)
	}
	return dsn
}

// NewDatabase is New for programs that are not tests (benchmarks, make
// cluster's helper); the server stops when the process is gone.
func NewDatabase(ctx context.Context) (string, error) {
	once.Do(func() { addr, startErr = start() })
	if startErr != nil {
		return "", startErr
	}
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), made.Add(1))
	admin, err := sql.Open("mysql", "root@tcp("+addr+")/")
	if err != nil {
		return "", err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	return "root@tcp(" + addr + ")/" + name, nil
}

// program finds a MariaDB program: on the PATH, else in Debian's sbin.
func program(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
		if p := filepath.Join(dir, name); isExec(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s is not installed: run `make test`, which installs it (Debian's mariadb-server)", name)
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode()&0o111 != 0
}

func start() (string, error) {
	install, err := program("mariadb-install-db")
	if err != nil {
		return "", err
	}
	server, err := program("mariadbd")
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "mariadbtest-")
	if err != nil {
		return "", err
	}
	data := filepath.Join(dir, "data")
	userArgs := []string{}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("mysql")
		if err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("running as root, MariaDB needs the mysql user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
		userArgs = []string{"--user=mysql"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, install, append([]string{"--no-defaults", "--datadir=" + data,
		"--auth-root-authentication-method=normal", "--skip-test-db"}, userArgs...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("mariadb-install-db: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	a := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	srv := exec.Command(server, append([]string{"--no-defaults", "--datadir=" + data, "--port=" + strconv.Itoa(port),
		"--bind-address=127.0.0.1", "--socket=" + filepath.Join(dir, "sock"), "--skip-log-bin",
		"--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0", "--max-connections=500",
		"--log-error=" + filepath.Join(dir, "error.log")}, userArgs...)...)
	srv.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := srv.Start(); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	// Should this process die (a test run killed at its deadline), a
	// watchdog stops the server and removes its folder.
	watch := exec.Command("/bin/sh", "-c", `while [ -d /proc/$0 ]; do sleep 1; done; kill -9 $1; sleep 1; rm -rf "$2"`,
		strconv.Itoa(os.Getpid()), strconv.Itoa(srv.Process.Pid), dir)
	watch.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := watch.Start(); err != nil {
		srv.Process.Kill()
		return "", err
	}
	go watch.Wait()
	// Ready once it answers.
	db, err := sql.Open("mysql", "root@tcp("+a+")/")
	if err != nil {
		return "", err
	}
	defer db.Close()
	for {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		err := db.PingContext(pctx)
		pcancel()
		if err == nil {
			return a, nil
		}
		select {
		case e := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			return "", fmt.Errorf("mariadbd exited: %v\n%s", e, log)
		case <-ctx.Done():
			srv.Process.Kill()
			return "", errors.Join(errors.New("mariadbd did not answer within 3 minutes"), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freePort asks the kernel for a loopback port no one listens on.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
