package integration

import (
	"crypto/rand"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/sightline/sightline/internal/ledger/witnesstest"
	"github.com/sightline/sightline/internal/media/mediatest"
)

// A server with a 2-of-3 witness policy over three real witness
// processes: an upload's receipt carries two cosignatures and `sightline
// verify --policy` checks it offline with the policy alone. With one
// witness down uploads and receipts go on; with two down the upload is
// still acknowledged (evidence stored, logged) but its receipt waits:
// the CLI says so, /readyz says why; once they are back, the upload run
// again fetches a witnessed receipt.
func TestWitnessedServer(t *testing.T) {
	data := t.TempDir()
	const origin = "witnessed.sightline.test/log"
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(data, 0o755)
	os.WriteFile(filepath.Join(data, "log.key"), []byte(skey), 0o600)
	ws := []*witnesstest.Witness{
		witnesstest.Litewitness(t, "lite1.test", origin, vkey),
		witnesstest.Litewitness(t, "lite2.test", origin, vkey),
		witnesstest.Omniwitness(t, "omni.test", origin, vkey),
	}
	policy := filepath.Join(t.TempDir(), "policy.txt")
	os.WriteFile(policy, witnesstest.Policy(vkey, 2, ws...), 0o644)
	srv := startServer(t, data, 0, "--witness-policy", policy, "--checkpoint-interval", "500ms")

	dir := t.TempDir()
	verified := func(file string) string {
		t.Helper()
		out, errOut, err := sightline(t, "verify", file, "--policy", policy)
		if err != nil || !strings.HasPrefix(out, "OK: ") || !strings.Contains(out, "witnessed: cosigned by ") {
			t.Fatalf("verify --policy %s: %v %q %q", filepath.Base(file), err, out, errOut)
		}
		return out
	}
	verified(cliUpload(t, srv.URL, dir, "first.mp4", "1"))
	ws[0].Stop()
	if out := verified(cliUpload(t, srv.URL, dir, "second.mp4", "2")); strings.Contains(out, "lite1.test") {
		t.Errorf("a witness that is down cosigned: %q", out)
	}
	ready(t, srv.URL, http.StatusOK, "witnessed")

	ws[1].Stop()
	third := filepath.Join(dir, "third.mp4")
	copyFile(t, mediatest.Clip(t, "third.mp4", "3"), third)
	state := t.TempDir()
	out, errOut, err := sightline(t, "upload", "--server", srv.URL, "--source", "phone", "--state-dir", state, third)
	if err == nil || !strings.Contains(out+errOut, "witnesses have not cosigned") {
		t.Fatalf("an upload with the quorum down: %v %q %q", err, out, errOut)
	}
	if _, err := os.Stat(third + ".sightline.json"); err != nil {
		t.Errorf("the upload's record was not kept while its receipt waits: %v", err)
	}
	ready(t, srv.URL, http.StatusServiceUnavailable, "the witness quorum has not cosigned")

	ws[0].Start()
	ws[1].Start()
	if out, errOut, err := sightline(t, "upload", "--server", srv.URL, "--source", "phone", "--state-dir", state, third); err != nil {
		t.Fatalf("the upload run again after the outage: %v %q %q", err, out, errOut)
	}
	verified(third)
	ready(t, srv.URL, http.StatusOK, "witnessed")
}

// ready checks /readyz answers status with text in its body.
func ready(t *testing.T, url string, status int, text string) {
	t.Helper()
	resp, err := http.Get(url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status || !strings.Contains(string(b), text) {
		t.Errorf("/readyz: %d %q, want %d saying %q", resp.StatusCode, b, status, text)
	}
}
