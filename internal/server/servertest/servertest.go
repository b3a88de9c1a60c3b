// Package servertest runs a complete Sightline server in process for tests,
// on a real data folder, SQLite file and ffmpeg, and speaks raw tus to it.
package servertest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/audit"
	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/blob/s3test"
	"github.com/sightline/sightline/internal/client"
	"github.com/sightline/sightline/internal/db/pgtest"
	"github.com/sightline/sightline/internal/detect/facetest"
	"github.com/sightline/sightline/internal/jobs"
	"github.com/sightline/sightline/internal/ledger"
	"github.com/sightline/sightline/internal/ledger/mariadbtest"
	"github.com/sightline/sightline/internal/server"
)

// Env is a running server and its data folder.
type Env struct {
	T    testing.TB
	URL  string
	Data string
	// Stores are where the server keeps what it does not keep in Data.
	Stores
	Server *server.Server
	Clock  *Clock
	http   *httptest.Server
	stop   func() // ends the background work started by RunJobs
}

// RunJobs runs the server's background work (media and alignment jobs)
// until Stop.
func (e *Env) RunJobs() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Server.Run(ctx); close(done) }()
	e.stop = func() { cancel(); <-done }
}

// WaitJob waits (up to three minutes) until the newest job of kind on subject
// has ended, and returns it.
func (e *Env) WaitJob(kind, subject string) jobs.Job {
	e.T.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		j, ok, err := e.Server.Jobs().Latest(context.Background(), kind, subject)
		if err != nil {
			e.T.Fatal(err)
		}
		if ok && (j.State == jobs.Done || j.State == jobs.Failed) {
			return j
		}
		if time.Now().After(deadline) {
			e.T.Fatalf("job %s of %s did not end in three minutes: %+v", kind, subject, j)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitIdle waits until every job asked for so far has ended (done or
// failed): a test that counts what jobs made waits for this, not for one
// job it happens to know of. Its deadline allows for a busy machine.
func (e *Env) WaitIdle() {
	e.T.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		n, err := e.Server.Jobs().Outstanding(context.Background())
		if err != nil {
			e.T.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.T.Fatalf("%d jobs still waiting or running after 5 minutes", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Clock is a settable clock for expiry tests.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// Start runs a server on a new data folder; change adjusts its config.
func Start(t testing.TB, change ...func(*server.Config)) *Env {
	t.Helper()
	return StartIn(t, t.TempDir(), change...)
}

// StartIn runs a server on an existing data folder, as after a restart.
func StartIn(t testing.TB, data string, change ...func(*server.Config)) *Env {
	t.Helper()
	clock := &Clock{t: time.Now()}
	cfg := server.Config{Data: data, Now: clock.Now}
	st := Backends(t, data)
	st.Config(t, &cfg)
	// The face detector scripts/models.sh installed at the module's root.
	if dir, err := facetest.Models(); err == nil {
		cfg.Models = dir
	}
	opened := cfg.Blobs
	for _, c := range change {
		c(&cfg)
	}
	if cfg.Blobs != opened {
		st.Blobs = ""
	}
	if cfg.SharedLog == nil {
		st.LogDB = ""
	}
	s, err := server.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	st.Database = cfg.Database
	e := &Env{T: t, URL: hs.URL, Data: data, Stores: st, Server: s, Clock: clock, http: hs}
	t.Cleanup(e.Stop)
	return e
}

// Stores are where a test server on data keeps its records, its blobs
// and its custody log, when not in data (see Backends).
type Stores struct {
	// Database is a postgres:// URL, Blobs an s3:// URL, LogDB the
	// MariaDB DSN of a shared log (tiles in the Blobs bucket): each
	// empty for the data folder's own.
	Database, Blobs, LogDB string
}

// Backends are the stores of a test server on data: the data folder's
// own, unless the tests run on other backends. SIGHTLINE_TEST_DATABASE=
// postgres gives each data folder a PostgreSQL database of its own
// (pgtest), SIGHTLINE_TEST_BLOBS=s3 a bucket of its own on a versitygw
// server (s3test), and SIGHTLINE_TEST_LOG=shared (with both) a custody
// log shared as replicas share it, sequenced in a MariaDB database
// (mariadbtest), its key made in data's log.key; the same ones after a
// restart.
func Backends(t testing.TB, data string) Stores {
	t.Helper()
	var st Stores
	if os.Getenv("SIGHTLINE_TEST_DATABASE") == "postgres" {
		st.Database = remember(t, filepath.Join(data, ".test-database"), pgtest.New)
	}
	if os.Getenv("SIGHTLINE_TEST_BLOBS") == "s3" {
		st.Blobs = remember(t, filepath.Join(data, ".test-blobs"), s3test.New)
	}
	if os.Getenv("SIGHTLINE_TEST_LOG") == "shared" {
		if st.Database == "" || st.Blobs == "" {
			t.Fatal("SIGHTLINE_TEST_LOG=shared needs SIGHTLINE_TEST_DATABASE=postgres and SIGHTLINE_TEST_BLOBS=s3")
		}
		st.LogDB = remember(t, filepath.Join(data, ".test-log-db"), mariadbtest.New)
		if _, err := os.Stat(server.KeyFile(data)); os.IsNotExist(err) {
			if _, err := ledger.NewKeyFile(server.KeyFile(data), server.DefaultLogOrigin); err != nil {
				t.Fatal(err)
			}
		}
	}
	return st
}

// Config puts the stores in cfg, opening the bucket and the shared log.
func (st Stores) Config(t testing.TB, cfg *server.Config) {
	t.Helper()
	cfg.Database = st.Database
	if st.Blobs != "" {
		b, err := server.OpenBlobs(t.Context(), cfg.Data, st.Blobs)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Blobs = b
	}
	if st.LogDB != "" {
		c, err := blob.ParseS3URL(st.Blobs)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.SharedLog, err = ledger.NewShared(t.Context(), c, st.LogDB); err != nil {
			t.Fatal(err)
		}
	}
}

// Flags are the stores as sightline's command line gives them.
func (st Stores) Flags() []string {
	var flags []string
	for _, f := range [][2]string{{"--database", st.Database}, {"--blobs", st.Blobs}, {"--log-db", st.LogDB}} {
		if f[1] != "" {
			flags = append(flags, f[0], f[1])
		}
	}
	return flags
}

// AuditPaths are the parts of the installation on data, its stores
// included, for audit.Run.
func (st Stores) AuditPaths(data string) audit.Paths {
	p := server.AuditPaths(data)
	p.DB = cmp.Or(st.Database, p.DB)
	p.Blobs = cmp.Or(st.Blobs, p.Blobs)
	if st.LogDB != "" {
		p.Log, p.History = st.Blobs, ""
	}
	return p
}

// remember returns the location kept in file, or makes one and keeps it.
func remember(t testing.TB, file string, make func(testing.TB) string) string {
	if b, err := os.ReadFile(file); err == nil {
		return string(b)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		t.Fatal(err)
	}
	where := make(t)
	if err := os.WriteFile(file, []byte(where), 0o600); err != nil {
		t.Fatal(err)
	}
	return where
}

// AuditPaths are the parts of the server's data, its stores included, for
// audit.Run.
func (e *Env) AuditPaths() audit.Paths { return e.Stores.AuditPaths(e.Data) }

// LoseBlob deletes blob ref behind the server's back, as a failing disk
// or a careless operator would.
func (e *Env) LoseBlob(ref blob.Ref) {
	e.T.Helper()
	var err error
	switch s := e.Server.Blobs().(type) {
	case *blob.Local:
		err = os.Remove(s.Path(ref))
	case *blob.S3:
		var c blob.S3Config
		if c, err = blob.ParseS3URL(e.Blobs); err == nil {
			_, err = s3test.Client().DeleteObject(e.T.Context(), &s3.DeleteObjectInput{Bucket: &c.Bucket, Key: aws.String(s.Key(ref))})
		}
	default:
		err = fmt.Errorf("cannot delete from a %T", s)
	}
	if err != nil {
		e.T.Fatal(err)
	}
}

// BlobFile returns a file holding blob ref's content, for a test that
// hands it to a tool: the blob's own file in a local store, else a copy
// removed after the test.
func (e *Env) BlobFile(ref blob.Ref) string {
	e.T.Helper()
	path, cleanup, err := blob.LocalPath(e.T.Context(), e.Server.Blobs(), ref, e.T.TempDir())
	if err != nil {
		e.T.Fatal(err)
	}
	e.T.Cleanup(cleanup)
	return path
}

// RawDB opens the server's database around the server, for tests that
// change it behind the server's back. The caller closes it.
func (e *Env) RawDB() *sql.DB {
	e.T.Helper()
	driver, dsn := "sqlite", e.AuditPaths().DB
	if e.Database != "" {
		driver = "pgx"
	}
	d, err := sql.Open(driver, dsn)
	if err != nil {
		e.T.Fatal(err)
	}
	return d
}

// Stop shuts the server down; it is safe to call twice.
func (e *Env) Stop() {
	if e.stop != nil {
		e.stop()
		e.stop = nil
	}
	if e.http != nil {
		e.http.CloseClientConnections()
		e.http.Close()
		e.Server.Close()
		e.http = nil
	}
}

// Client is a Sightline client of this server.
func (e *Env) Client() *client.Client { return &client.Client{Server: e.URL} }

// Do sends a tus request and returns the response with its body read.
func (e *Env) Do(method, url string, headers map[string]string, body []byte) (*http.Response, string) {
	e.T.Helper()
	if !strings.HasPrefix(url, "http") {
		url = e.URL + url
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		e.T.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// Create starts an upload and returns its URL; it fails the test unless the
// server answers 201.
func (e *Env) Create(size int64, meta map[string]string) string {
	e.T.Helper()
	resp, body := e.Do("POST", "/api/v1/uploads/", map[string]string{
		"Upload-Length": strconv.FormatInt(size, 10), "Upload-Metadata": client.EncodeMetadata(meta)}, nil)
	if resp.StatusCode != http.StatusCreated {
		e.T.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	return resp.Header.Get("Location")
}

// Patch sends one chunk and returns the response.
func (e *Env) Patch(url string, offset int64, chunk []byte, extra ...string) (*http.Response, string) {
	e.T.Helper()
	h := map[string]string{"Content-Type": "application/offset+octet-stream", "Upload-Offset": strconv.FormatInt(offset, 10)}
	for i := 0; i+1 < len(extra); i += 2 {
		h[extra[i]] = extra[i+1]
	}
	return e.Do("PATCH", url, h, chunk)
}

// Checksum is an Upload-Checksum header value for b.
func Checksum(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256 " + base64.StdEncoding.EncodeToString(s[:])
}

// Receipt fetches the evidence made from an upload; it fails the test
// unless the server answers 200.
func (e *Env) Receipt(uploadURL string) client.Receipt {
	e.T.Helper()
	resp, body := e.Do("GET", uploadURL+"/evidence", nil, nil)
	if resp.StatusCode != http.StatusOK {
		e.T.Fatalf("GET evidence: %d %s", resp.StatusCode, body)
	}
	var r client.Receipt
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		e.T.Fatal(err)
	}
	return r
}

// Contents summarises what the data folder holds: evidence records, blobs,
// and the files of uploads in progress.
type Contents struct {
	Evidence    int
	Blobs       int
	UploadFiles []string
}

// Contents reads the data folder's state.
func (e *Env) Contents() Contents {
	e.T.Helper()
	var c Contents
	for _, err := range e.Server.Evidence().All(e.T.Context()) {
		if err != nil {
			e.T.Fatal(err)
		}
		c.Evidence++
	}
	for _, err := range e.Server.Blobs().(blob.Lister).List(e.T.Context()) {
		if err != nil {
			e.T.Fatal(err)
		}
		c.Blobs++
	}
	spooled, err := e.Server.Ingest().Spooled(e.T.Context())
	if err != nil {
		e.T.Fatal(err)
	}
	c.UploadFiles = spooled
	for _, dir := range []string{"blobs/tmp", "spool"} {
		tmp, _ := os.ReadDir(filepath.Join(e.Data, dir))
		for _, ent := range tmp {
			c.UploadFiles = append(c.UploadFiles, dir+"/"+ent.Name())
		}
	}
	return c
}

// StaffToken creates a set-up account and returns a personal API token
// acting as it.
func (env *Env) StaffToken(name string, role account.Role, unit, badge string) string {
	t := env.T
	t.Helper()
	acc := env.Server.Accounts()
	u, link, err := acc.CreateUser(t.Context(), "test", account.User{Name: name, Role: role, Unit: unit, Badge: badge})
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := acc.BeginSetup(t.Context(), link)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := account.TOTPCode(secret, account.TOTPStep(env.Clock.Now()))
	if _, err := acc.CompleteSetup(t.Context(), link, "a long enough password", secret, code); err != nil {
		t.Fatal(err)
	}
	_, tok, err := acc.IssueToken(t.Context(), "test", account.Token{Kind: account.APIToken, UserID: u.ID})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Mail is a message Mailpit received.
type Mail struct {
	To      string
	Subject string
	Text    string
}

// Mailpit starts a real SMTP server (Mailpit, installed by `make test`)
// for one test and returns its SMTP address and a function that lists
// the messages it has received, oldest first.
func Mailpit(t testing.TB) (string, func() []Mail) {
	t.Helper()
	bin, err := exec.LookPath("mailpit")
	if err != nil {
		gopath, _ := exec.Command("go", "env", "GOPATH").Output()
		bin = filepath.Join(strings.TrimSpace(string(gopath)), "bin", "mailpit")
		if _, err := os.Stat(bin); err != nil {
			t.Fatal("mailpit is not installed: run `make test`, which installs it")
		}
	}
	free := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	web, smtp := free(), free()
	cmd := exec.Command(bin, "--listen", web, "--smtp", smtp, "--database", filepath.Join(t.TempDir(), "mailpit.db"), "--quiet")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	api := "http://" + web + "/api/v1/"
	getJSON := func(path string, v any) error {
		resp, err := http.Get(api + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("mailpit %s: %d", path, resp.StatusCode)
		}
		return json.NewDecoder(resp.Body).Decode(v)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		var v any
		if getJSON("messages", &v) == nil {
			if c, err := net.Dial("tcp", smtp); err == nil {
				c.Close()
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("mailpit did not start in a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return smtp, func() []Mail {
		var list struct {
			Messages []struct {
				ID      string
				Subject string
				To      []struct{ Address string }
			}
		}
		if err := getJSON("messages", &list); err != nil {
			t.Fatal(err)
		}
		var out []Mail
		for i := len(list.Messages) - 1; i >= 0; i-- { // newest first there
			m := list.Messages[i]
			var full struct{ Text string }
			if err := getJSON("message/"+m.ID, &full); err != nil {
				t.Fatal(err)
			}
			mail := Mail{Subject: m.Subject, Text: full.Text}
			if len(m.To) > 0 {
				mail.To = m.To[0].Address
			}
			out = append(out, mail)
		}
		return out
	}
}
