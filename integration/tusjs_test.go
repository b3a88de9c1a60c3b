package integration

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/client"
	"github.com/sightline/sightline/internal/media/mediatest"
)

// An unmodified tus client (tus-js-client under Node) uploads a file; the
// server is killed with SIGKILL part-way and restarted. The client resumes
// on its own from the offset the server kept, and the evidence's sha256 is
// sha256sum's.
func TestTusJSClientResumesAfterServerCrash(t *testing.T) {
	modules := filepath.Join(repoRoot, "web", "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "tus-js-client")); err != nil {
		t.Fatalf("tus-js-client is not installed in web/node_modules: run `make test` (or `make assets`)")
	}
	data := t.TempDir()
	port := freePort(t)
	srv := startServer(t, data, port)

	file := filepath.Join(t.TempDir(), "recording.wav")
	const size = 24 << 20
	if err := os.WriteFile(file, mediatest.NoiseWAV(size, 42), 0o644); err != nil {
		t.Fatal(err)
	}
	node := exec.Command("node", filepath.Join("testdata", "tus-upload.js"), srv.URL, file)
	node.Env = append(os.Environ(), "NODE_PATH="+modules)
	out, err := node.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	node.Stderr = os.Stderr
	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	defer node.Process.Kill()

	var (
		acceptedBeforeKill int64
		firstAfterKill     int64 = -1
		killed             bool
		uploadURL          string
	)
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 3 && f[0] == "accepted":
			n, _ := strconv.ParseInt(f[1], 10, 64)
			if !killed {
				acceptedBeforeKill = n
				if n >= size/3 {
					srv.kill()
					killed = true
					time.Sleep(300 * time.Millisecond) // the client retries against a dead server
					srv = startServer(t, data, port)
				}
			} else if firstAfterKill < 0 {
				firstAfterKill = n
			}
		case len(f) == 2 && f[0] == "done":
			uploadURL = f[1]
		case len(f) > 0 && f[0] == "error":
			t.Fatalf("tus-js-client: %s", sc.Text())
		}
	}
	if err := node.Wait(); err != nil {
		t.Fatalf("node: %v", err)
	}
	if !killed || uploadURL == "" {
		t.Fatalf("killed=%v, upload URL %q", killed, uploadURL)
	}
	// The client continued from where the server was, not from zero: the
	// first chunk acknowledged after the crash ends past what was
	// acknowledged before it.
	if firstAfterKill <= acceptedBeforeKill {
		t.Fatalf("after the crash the first acknowledged offset was %d, but %d were acknowledged before: the upload restarted", firstAfterKill, acceptedBeforeKill)
	}
	t.Logf("killed at %d of %d bytes; resumed, next acknowledged offset %d", acceptedBeforeKill, size, firstAfterKill)

	sum, err := exec.Command("sha256sum", file).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Fields(string(sum))[0]
	c := &client.Client{Server: srv.URL, HTTP: &http.Client{Timeout: 10 * time.Second}}
	r, err := c.UploadEvidence(t.Context(), uploadURL)
	if err != nil {
		t.Fatal(err)
	}
	if r.SHA256.String() != want || r.Size != size || r.MediaType != "audio" {
		t.Fatalf("evidence sha256 %s size %d type %s; sha256sum says %s of %d bytes", r.SHA256, r.Size, r.MediaType, want, size)
	}
}
