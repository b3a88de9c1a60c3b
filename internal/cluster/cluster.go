// Package cluster runs Sightline as replicas behind a load balancer on one
// machine, for `make cluster`, the cluster test and bench-cluster: a
// throwaway PostgreSQL (the records, the uploads in progress, the locks),
// MariaDB (the custody log's sequencing), an S3 server (versitygw: blobs,
// upload parts, the log's tiles), N `sightline serve` replicas sharing
// them, each with a data folder of its own, and HAProxy (Debian's) in
// round-robin in front, draining a replica whose /readyz fails.
package cluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sightline/sightline/internal/blob/s3test"
	"github.com/sightline/sightline/internal/db/pgtest"
	"github.com/sightline/sightline/internal/ledger"
	"github.com/sightline/sightline/internal/ledger/mariadbtest"
	"github.com/sightline/sightline/internal/server"
)

// Config says what to start.
type Config struct {
	// Binary is the sightline binary the replicas run.
	Binary string
	// Dir holds the replicas' data folders, the log's key and HAProxy's
	// configuration.
	Dir string
	// Replicas is how many (default 3).
	Replicas int
	// Args are more flags for every replica's serve.
	Args []string
	// Logs, if set, receives every replica's and HAProxy's output.
	Logs func(replica int, line string)
}

// Cluster is a running cluster.
type Cluster struct {
	cfg Config
	// URL is the load balancer's address: the one to use.
	URL string
	// Database, Blobs and LogDB are the shared stores, as the replicas'
	// --database, --blobs and --log-db; KeyFile the log's signing key.
	Database, Blobs, LogDB, KeyFile string
	replicas                        []*Replica
	haproxy                         *exec.Cmd
	hdone                           chan struct{}
}

// Replica is one `sightline serve`.
type Replica struct {
	N    int
	Data string
	Addr string // host:port it listens on
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts the stores, the replicas and HAProxy, and returns once
// HAProxy answers and every replica serves.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Replicas <= 0 {
		cfg.Replicas = 3
	}
	if _, err := exec.LookPath(haproxyPath()); err != nil {
		return nil, errors.New("haproxy is not installed: run `make test`, which installs it (Debian's haproxy)")
	}
	c := &Cluster{cfg: cfg, KeyFile: filepath.Join(cfg.Dir, "log.key")}
	var err error
	if c.Database, err = pgtest.NewDatabase(ctx); err != nil {
		return nil, fmt.Errorf("postgresql: %w", err)
	}
	if c.Blobs, err = s3test.NewBucket(ctx); err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	if c.LogDB, err = mariadbtest.NewDatabase(ctx); err != nil {
		return nil, fmt.Errorf("mariadb: %w", err)
	}
	if _, err := os.Stat(c.KeyFile); errors.Is(err, os.ErrNotExist) {
		if _, err := ledger.NewKeyFile(c.KeyFile, server.DefaultLogOrigin); err != nil {
			return nil, err
		}
	}
	lb, err := freeAddr()
	if err != nil {
		return nil, err
	}
	c.URL = "http://" + lb
	for i := range cfg.Replicas {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		c.replicas = append(c.replicas, &Replica{N: i, Data: filepath.Join(cfg.Dir, fmt.Sprintf("replica-%d", i)), Addr: addr})
	}
	// One replica first: it migrates the database; then the others.
	if err := c.Restart(ctx, 0); err != nil {
		c.Stop()
		return nil, err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(c.replicas))
	for i := 1; i < len(c.replicas); i++ {
		wg.Go(func() { errs[i] = c.Restart(ctx, i) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.Stop()
		return nil, err
	}
	if err := c.startHAProxy(ctx, lb); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// Replicas are the cluster's replicas.
func (c *Cluster) Replicas() []*Replica { return c.replicas }

// Flags are the shared stores as sightline's command line takes them
// (audit, admin).
func (c *Cluster) Flags() []string {
	return []string{"--database", c.Database, "--blobs", c.Blobs, "--log-db", c.LogDB, "--log-key", c.KeyFile}
}

// Restart starts replica i (again), on its data folder and address, and
// waits until it serves.
func (c *Cluster) Restart(ctx context.Context, i int) error {
	r := c.replicas[i]
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		select {
		case <-r.done:
		default:
			return fmt.Errorf("replica %d is running", i)
		}
	}
	args := append([]string{"serve", "--data", r.Data, "--listen", r.Addr, "--public-url", c.URL,
		"--trusted-proxy", "127.0.0.1"}, c.Flags()...)
	args = append(args, c.cfg.Args...)
	cmd := exec.Command(c.cfg.Binary, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	ready := make(chan struct{})
	var once sync.Once
	out := c.pipe(i, &cmd.Stdout, func(line string) {
		if strings.HasPrefix(line, "sightline: serving on ") {
			once.Do(func() { close(ready) })
		}
	})
	errOut := c.pipe(i, &cmd.Stderr, nil)
	if err := cmd.Start(); err != nil {
		return err
	}
	r.cmd, r.done = cmd, make(chan struct{})
	done := r.done
	go func() { cmd.Wait(); out.Close(); errOut.Close(); close(done) }()
	select {
	case <-ready:
		return nil
	case <-done:
		return fmt.Errorf("replica %d exited before serving", i)
	case <-ctx.Done():
		cmd.Process.Kill()
		return ctx.Err()
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		return fmt.Errorf("replica %d not serving after 2 minutes", i)
	}
}

// Kill ends replica i with SIGKILL: no shutdown, nothing flushed.
func (c *Cluster) Kill(i int) {
	r := c.replicas[i]
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
}

// Stop stops HAProxy and the replicas (SIGTERM, then SIGKILL after a
// minute). The stores stop when this process is gone.
func (c *Cluster) Stop() {
	if c.haproxy != nil {
		c.haproxy.Process.Signal(syscall.SIGTERM)
		<-c.hdone
	}
	var wg sync.WaitGroup
	for _, r := range c.replicas {
		wg.Go(func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.cmd == nil {
				return
			}
			r.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-r.done:
			case <-time.After(time.Minute):
				r.cmd.Process.Kill()
				<-r.done
			}
		})
	}
	wg.Wait()
}

// pipe sends a process's output, line by line, to the log and to see.
func (c *Cluster) pipe(i int, to *io.Writer, see func(string)) *os.File {
	r, w, err := os.Pipe()
	if err != nil {
		return nil
	}
	*to = w
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if see != nil {
				see(sc.Text())
			}
			if c.cfg.Logs != nil {
				c.cfg.Logs(i, sc.Text())
			}
		}
		r.Close()
	}()
	return w
}

// haproxyConfig balances round-robin over the replicas, with no sticky
// sessions, and takes a replica out while /readyz fails (or it does not
// answer), back once it passes twice.
func (c *Cluster) haproxyConfig(lb string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `global
	maxconn 4096
defaults
	mode http
	timeout connect 2s
	timeout client 10m
	timeout server 10m
	timeout http-request 1m
	option forwardfor
	option redispatch
	retries 2
frontend sightline
	bind %s
	default_backend replicas
backend replicas
	balance roundrobin
	option httpchk GET /readyz
	http-check expect status 200
	default-server inter 500ms fall 2 rise 2
`, lb)
	for _, r := range c.replicas {
		fmt.Fprintf(&b, "\tserver replica-%d %s check\n", r.N, r.Addr)
	}
	return b.Bytes()
}

func haproxyPath() string {
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p
	}
	return "/usr/sbin/haproxy"
}

func (c *Cluster) startHAProxy(ctx context.Context, lb string) error {
	conf := filepath.Join(c.cfg.Dir, "haproxy.cfg")
	if err := os.WriteFile(conf, c.haproxyConfig(lb), 0o644); err != nil {
		return err
	}
	cmd := exec.Command(haproxyPath(), "-f", conf, "-db")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := c.pipe(-1, &cmd.Stdout, nil)
	errOut := c.pipe(-1, &cmd.Stderr, nil)
	if err := cmd.Start(); err != nil {
		return err
	}
	c.haproxy, c.hdone = cmd, make(chan struct{})
	go func() { cmd.Wait(); out.Close(); errOut.Close(); close(c.hdone) }()
	// Ready once a request through it is answered by a replica.
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(c.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-c.hdone:
			return errors.New("haproxy exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no replica ready through haproxy after a minute: %v", err)
		}
	}
}

// freeAddr is a loopback address no one listens on.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}
