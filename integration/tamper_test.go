package integration

import (
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/sightline/sightline/verify"
)

// The commands people run catch tampering, with exit 1 and the reason: a
// flipped byte of a stored original is a PROBLEM for `sightline audit` and
// "file differs" for `sightline verify` of that original; a checkpoint
// replaced by one another key signed is a PROBLEM for the audit and a
// signature failure for verify of a receipt that carries it. (The audit
// package's tests cover every kind of tampering one by one.)
func TestCommandsCatchTampering(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, data, 0)
	file := cliUpload(t, srv.URL, t.TempDir(), "clip.mp4", "4")
	key := logKey(t, data)
	srv.kill()
	if out, _, err := sightline(t, "audit", "--data", data); err != nil || !strings.HasSuffix(out, "; 0 problems\n") {
		t.Fatalf("audit of the untouched folder: %v %q", err, out)
	}
	clone := func() string {
		out := filepath.Join(t.TempDir(), "data")
		if b, err := exec.Command("cp", "-a", data, out).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, b)
		}
		return out
	}

	// A byte of the stored original.
	dir := clone()
	// (the original's blob, not a poster or sound made from it)
	sum := fileSHA(t, file)
	blobs := []string{filepath.Join(dir, "blobs", "sha256", sum[:2], sum)}
	if _, err := os.Stat(blobs[0]); err != nil {
		t.Fatal(err)
	}
	os.Chmod(blobs[0], 0o600)
	b, _ := os.ReadFile(blobs[0])
	b[len(b)/3] ^= 0x10
	os.WriteFile(blobs[0], b, 0o600)
	if out, _, err := sightline(t, "audit", "--data", dir); err == nil || !strings.Contains(out, "PROBLEM blob ") || !strings.Contains(out, "its original "+sum+" has changed") {
		t.Errorf("audit of a changed original: %v %q", err, out)
	}
	if out, _, err := sightline(t, "verify", blobs[0], file+".receipt.json", "--key", key); err == nil || !strings.HasPrefix(out, "FAIL: file differs") {
		t.Errorf("verify of the changed original: %v %q", err, out)
	}

	// The checkpoint, signed by another key for the same origin.
	dir = clone()
	cpPath := filepath.Join(dir, "log", "checkpoint")
	raw, _ := os.ReadFile(cpPath)
	text := string(raw)[:strings.Index(string(raw), "\n\n")+1]
	skey, _, _ := note.GenerateKey(rand.Reader, text[:strings.Index(text, "\n")])
	signer, _ := note.NewSigner(skey)
	forged, err := note.Sign(&note.Note{Text: text}, signer)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(cpPath, forged, 0o644)
	if out, _, err := sightline(t, "audit", "--data", dir); err == nil || !strings.Contains(out, "PROBLEM log checkpoint") {
		t.Errorf("audit of a checkpoint another key signed: %v %q", err, out)
	}
	var rc verify.Receipt
	b, _ = os.ReadFile(file + ".receipt.json")
	if err := json.Unmarshal(b, &rc); err != nil {
		t.Fatal(err)
	}
	rc.Checkpoint = string(forged)
	b, _ = json.Marshal(rc)
	receipt := filepath.Join(t.TempDir(), "forged.receipt.json")
	os.WriteFile(receipt, b, 0o644)
	if out, _, err := sightline(t, "verify", file, receipt, "--key", key); err == nil || !strings.HasPrefix(out, "FAIL: checkpoint signature or key does not verify") {
		t.Errorf("verify of a receipt with a checkpoint another key signed: %v %q", err, out)
	}
}
