package integration

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

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
	// The checkpoint the server serves, checked apart from the verify
	// package: the log's signature with golang.org/x/mod's note, each
	// cosignature by the C2SP tlog-cosignature rules with Ed25519 alone.
	resp, err := http.Get(srv.URL + "/log/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if n := cosignedBy(t, served, vkey, ws); n < 2 {
		t.Errorf("the served checkpoint carries %d valid cosignatures, want 2:\n%s", n, served)
	}
	resp, err = http.Get(srv.URL + "/e/anything")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "Independent witnesses (lite1.test, lite2.test, omni.test) cosign the log") {
		t.Errorf("the evidence page does not say the log is witnessed")
	}
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
	// The server's log says which witnesses failed it.
	if logs := srv.logs.String(); !strings.Contains(logs, "witness at") && !strings.Contains(logs, "failed to post to witness") {
		t.Errorf("the server's log does not say which witness failed:\n%s", logs)
	}
	resp, err = http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"\nsightline_log_witnesses 3\n", "\nsightline_log_stalled 1\n", "\nsightline_log_witnesses_cosigned 2\n"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, metrics)
		}
	}

	ws[0].Start()
	ws[1].Start()
	if out, errOut, err := sightline(t, "upload", "--server", srv.URL, "--source", "phone", "--state-dir", state, third); err != nil {
		t.Fatalf("the upload run again after the outage: %v %q %q", err, out, errOut)
	}
	verified(third)
	ready(t, srv.URL, http.StatusOK, "witnessed")

	// The operator's split view: a log of one entry it made up, signed
	// with the log's own key but cosigned by no witness. Its receipt is
	// sound by the key alone and fails with the policy.
	forgedFile := filepath.Join(t.TempDir(), "forged.mp4")
	os.WriteFile(forgedFile, []byte("not the footage"), 0o644)
	sum := sha256.Sum256([]byte("not the footage"))
	entry := fmt.Sprintf(`{"type":"received","evidence":{"id":"forged","sha256":"%x"},"actor":"x","at":"2026-12-02T00:00:00.000000Z","details":{"size":"15"}}`, sum)
	leaf := tlog.RecordHash([]byte(entry))
	signer, _ := note.NewSigner(skey)
	cp, err := note.Sign(&note.Note{Text: origin + "\n1\n" + base64.StdEncoding.EncodeToString(leaf[:]) + "\n"}, signer)
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := json.Marshal(map[string]any{"format": "sightline-receipt-v1", "sha256": fmt.Sprintf("%x", sum), "size": 15, "entry": entry,
		"index": 0, "inclusion_proof": []string{}, "checkpoint": string(cp), "origin": origin, "verifier_key": vkey})
	os.WriteFile(forgedFile+".receipt.json", forged, 0o644)
	if out, _, err := sightline(t, "verify", forgedFile, "--key", vkey); err != nil || !strings.HasPrefix(out, "OK") {
		t.Fatalf("the forged receipt should hold by the key alone: %v %q", err, out)
	}
	if out, _, err := sightline(t, "verify", forgedFile, "--policy", policy); err == nil || !strings.Contains(out, "witness quorum not met: group witnesses has 0 of the 2 it needs") {
		t.Errorf("the forged receipt with the policy: %v %q", err, out)
	}

	// The policy a verifier pins, from `sightline keys`, checks a receipt
	// on its own.
	pinned, errOut, err := sightline(t, "keys", "--data", data, "--witness-policy", policy)
	if err != nil || !strings.Contains(pinned, "log "+vkey+"\n") || strings.Count(pinned, "\nwitness ") != 3 {
		t.Fatalf("keys --witness-policy: %v %q %q", err, pinned, errOut)
	}
	pinnedFile := filepath.Join(t.TempDir(), "pinned.txt")
	os.WriteFile(pinnedFile, []byte(pinned), 0o644)
	if out, _, err := sightline(t, "verify", third, "--policy", pinnedFile); err != nil || !strings.Contains(out, "witnessed: cosigned by ") {
		t.Errorf("verify with the pinned policy: %v %q", err, out)
	}
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

// cosignedBy checks a served checkpoint without the verify package: the
// log's signature with x/mod's note, then each witness's cosignature line
// by the C2SP rules (key id: SHA-256 of name, newline, 0x04, key; the
// signature: 8 bytes of time, then Ed25519 over "cosignature/v1", the
// time and the checkpoint's text). It returns how many verify.
func cosignedBy(t *testing.T, cp []byte, logKey string, ws []*witnesstest.Witness) int {
	t.Helper()
	v, err := note.NewVerifier(logKey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(cp, note.VerifierList(v))
	if err != nil {
		t.Fatalf("the log's signature: %v", err)
	}
	valid := 0
	for _, w := range ws {
		parts := strings.SplitN(w.Key, "+", 3)
		raw, _ := base64.StdEncoding.DecodeString(parts[2])
		pub := ed25519.PublicKey(raw[1:])
		id := sha256.Sum256(append(append([]byte(parts[0]+"\n"), 0x04), pub...))
		for _, s := range n.UnverifiedSigs {
			sig, _ := base64.StdEncoding.DecodeString(s.Base64)
			if s.Name != parts[0] || len(sig) != 4+8+64 || !bytes.Equal(sig[:4], id[:4]) {
				continue
			}
			msg := fmt.Sprintf("cosignature/v1\ntime %d\n%s", binary.BigEndian.Uint64(sig[4:12]), n.Text)
			if ed25519.Verify(pub, []byte(msg), sig[12:]) {
				valid++
			} else {
				t.Errorf("%s's cosignature does not verify", w.Name)
			}
		}
	}
	return valid
}
