// Package integration tests the built sightline binary end to end: real
// processes killed with SIGKILL, real tus clients, real ffmpeg and SQLite.
package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/client"
	"github.com/sightline/sightline/internal/media/mediatest"
	"github.com/sightline/sightline/internal/server/servertest"
)

// bin is the sightline binary built for this test run.
var bin string

// repoRoot is the module's root folder.
var repoRoot string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sightline-integration-")
	if err != nil {
		panic(err)
	}
	wd, _ := os.Getwd()
	repoRoot = filepath.Dir(wd)
	bin = filepath.Join(dir, "sightline")
	build := exec.Command("go", "build", "-o", bin, "./cmd/sightline")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building sightline: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// proc is a running `sightline serve`.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	URL  string
	logs *lockedBuffer
	done chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// startServer runs the binary on data and port and waits until it serves.
func startServer(t *testing.T, data string, port int, extra ...string) *proc {
	t.Helper()
	args := append([]string{"serve", "--data", data, "--listen", fmt.Sprintf("127.0.0.1:%d", port)}, stores(t, data)...)
	args = append(args, extra...)
	p := &proc{t: t, cmd: exec.Command(bin, args...), logs: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd.Stderr = p.logs
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, "sightline: serving on "); ok {
				ready <- strings.Fields(rest)[0]
			}
			p.logs.Write([]byte(line + "\n"))
		}
	}()
	go func() { p.cmd.Wait(); close(p.done) }()
	select {
	case p.URL = <-ready:
	case <-p.done:
		t.Fatalf("server exited before serving:\n%s", p.logs)
	case <-time.After(30 * time.Second):
		p.kill()
		t.Fatalf("server not ready after 30 s:\n%s", p.logs)
	}
	t.Cleanup(p.kill)
	return p
}

// stores are the flags naming the database and blob store of the
// installation on data when the tests run on other backends
// (servertest.Backends): none for the embedded default.
func stores(t *testing.T, data string) []string {
	return servertest.Backends(t, data).Flags()
}

// kill ends the server with SIGKILL: no shutdown, no flushing.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop shuts the server down as an operator does (SIGTERM), and waits
// for it to exit.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(2 * time.Minute):
		p.t.Errorf("the server did not stop in two minutes:\n%s", p.logs)
		p.kill()
	}
}

// logKey is the verifier key `sightline keys` prints for a data folder.
func logKey(t *testing.T, data string) string {
	t.Helper()
	out, errOut, err := sightline(t, "keys", "--data", data)
	if err != nil {
		t.Fatalf("keys: %v %s", err, errOut)
	}
	return strings.TrimSpace(out)
}

// cliUpload copies the test clip made from seed to dir/name and uploads it
// with `sightline upload`, which saves its receipt beside it.
func cliUpload(t *testing.T, server, dir, name, seed string) string {
	t.Helper()
	file := filepath.Join(dir, name)
	copyFile(t, mediatest.Clip(t, name, seed), file)
	if out, errOut, err := sightline(t, "upload", "--server", server, "--source", "phone", "--state-dir", t.TempDir(), file); err != nil {
		t.Fatalf("upload: %v\n%s%s", err, out, errOut)
	}
	return file
}

// readReceipt reads the receipt `sightline upload` saved beside file.
func readReceipt(t *testing.T, file string) client.Receipt {
	t.Helper()
	b, err := os.ReadFile(file + ".sightline.json")
	if err != nil {
		t.Fatal(err)
	}
	var rc client.Receipt
	if err := json.Unmarshal(b, &rc); err != nil {
		t.Fatal(err)
	}
	return rc
}

// bearer sends a request with a bearer token and returns the body of an
// answer with status want.
func bearer(method, url, token, body string, want int) ([]byte, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != want {
		err = fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	return b, err
}

// getJSON GETs url with a bearer token and decodes the JSON answer.
func getJSON(url, token string, v any) error {
	b, err := bearer("GET", url, token, "", http.StatusOK)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// shareWith shares a civilian's item with a staff member by name.
func shareWith(base, id, token, user string) error {
	_, err := bearer("POST", base+"/api/v1/evidence/"+id+"/shares", token, `{"user":"`+user+`"}`, http.StatusNoContent)
	return err
}
