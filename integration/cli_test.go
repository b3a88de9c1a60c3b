package integration

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/client"
	"github.com/sightline/sightline/internal/media/mediatest"
	"github.com/sightline/sightline/verify"
)

func sightline(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func fileSHA(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func copyFile(t *testing.T, from, to string) {
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A dashcam's SD card: a folder of clips, a photo, and files that are not
// media. Each media file is uploaded once, gets its record beside it, and a
// second run uploads nothing again.
func TestUploadFolder(t *testing.T) {
	srv := startServer(t, t.TempDir(), 0)
	card := t.TempDir()
	copyFile(t, mediatest.Clip(t, "FILE0001.MP4", "2"), filepath.Join(card, "FILE0001.MP4"))
	os.MkdirAll(filepath.Join(card, "EVENT"), 0o755)
	copyFile(t, mediatest.Clip(t, "FILE0002.TS", "2"), filepath.Join(card, "EVENT", "FILE0002.TS"))
	copyFile(t, filepath.Join(repoRoot, "internal/media/testdata/real-world/gps.jpg"), filepath.Join(card, "photo.jpg"))
	os.WriteFile(filepath.Join(card, "SETTINGS.TXT"), []byte("resolution=1080p\n"), 0o644)
	os.WriteFile(filepath.Join(card, ".hidden.mp4"), []byte("junk"), 0o644)
	state := t.TempDir()

	out, errOut, err := sightline(t, "upload", "--server", srv.URL, "--source", "dashcam", "--device", "Viofo A129", "--state-dir", state, card)
	if err != nil {
		t.Fatalf("upload: %v\n%s\n%s", err, out, errOut)
	}
	if !strings.Contains(errOut, "SETTINGS.TXT (not video, audio or a still image)") || strings.Contains(errOut+out, ".hidden") {
		t.Errorf("skipped files not reported as expected:\n%s", errOut)
	}
	for _, f := range []string{"FILE0001.MP4", "EVENT/FILE0002.TS", "photo.jpg"} {
		path := filepath.Join(card, f)
		b, err := os.ReadFile(path + ".sightline.json")
		if err != nil {
			t.Fatalf("no record beside %s: %v", f, err)
		}
		var r client.Receipt
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		if r.SHA256.String() != fileSHA(t, path) || r.Source != "dashcam" || r.Device != "Viofo A129" || r.Filename != filepath.Base(f) {
			t.Errorf("%s: record %+v", f, r)
		}
		// The saved token reads the evidence back.
		c := &client.Client{Server: srv.URL}
		if it, err := c.Evidence(t.Context(), r.ID, r.AccessToken); err != nil || it.SHA256 != r.SHA256 {
			t.Errorf("%s: reading evidence with the saved token: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(card, "SETTINGS.TXT.sightline.json")); err == nil {
		t.Error("a record was written for a file that is not media")
	}

	out, _, err = sightline(t, "upload", "--server", srv.URL, "--source", "dashcam", "--state-dir", state, card)
	if err != nil || strings.Count(out, "already uploaded") != 3 || strings.Contains(out, "stored ") {
		t.Fatalf("second run: %v\n%s", err, out)
	}
}

// The CLI is killed part-way through a large file; run again, it resumes
// where the server stopped instead of starting over.
func TestUploadResumesAfterTheCLIIsKilled(t *testing.T) {
	srv := startServer(t, t.TempDir(), 0)
	file := filepath.Join(t.TempDir(), "bodycam.wav")
	os.WriteFile(file, mediatest.NoiseWAV(48<<20, 9), 0o644)
	state := t.TempDir()

	cmd := exec.Command(bin, "upload", "--server", srv.URL, "--source", "bodycam", "--officer", "4471", "--chunk-size", "1MiB", "--state-dir", state, file)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	pct := regexp.MustCompile(`: (\d+)% \(`)
	for sc.Scan() {
		if m := pct.FindStringSubmatch(sc.Text()); m != nil {
			if n, _ := strconv.Atoi(m[1]); n >= 25 {
				cmd.Process.Kill()
				break
			}
		}
	}
	cmd.Wait()
	if _, err := os.Stat(file + ".sightline.json"); err == nil {
		t.Fatal("the CLI finished before it was killed; the test did not interrupt it")
	}

	out, errOut, err := sightline(t, "upload", "--server", srv.URL, "--source", "bodycam", "--officer", "4471", "--state-dir", state, file)
	if err != nil {
		t.Fatalf("second run: %v\n%s%s", err, out, errOut)
	}
	m := regexp.MustCompile(`resumed at byte (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("second run did not resume:\n%s", out)
	}
	if at, _ := strconv.Atoi(m[1]); at < 12<<20 {
		t.Errorf("resumed at byte %d, expected at least the quarter reached before the kill", at)
	}
	b, _ := os.ReadFile(file + ".sightline.json")
	var r client.Receipt
	json.Unmarshal(b, &r)
	if r.SHA256.String() != fileSHA(t, file) || r.Officer != "4471" {
		t.Fatalf("record after resuming: sha256 %s officer %q", r.SHA256, r.Officer)
	}
}

func TestUploadRefusals(t *testing.T) {
	srv := startServer(t, t.TempDir(), 0)
	clip := mediatest.Clip(t, "a.mp4", "1")
	text := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(text, []byte("not a video"), 0o644)
	tests := []struct {
		name    string
		args    []string
		mention string
	}{
		{"no source", []string{"upload", "--server", srv.URL, clip}, "--source"},
		// Refused before anything is sent: no server answers there.
		{"unknown source", []string{"upload", "--server", "http://127.0.0.1:1", "--source", "drone", clip}, `--source "drone" is not one of phone, dashcam`},
		{"no scheme", []string{"upload", "--server", "127.0.0.1:1", "--source", "phone", clip}, "with its scheme, such as http://"},
		{"not media", []string{"upload", "--server", srv.URL, "--source", "phone", text}, "not video, audio or a still image"},
		{"server down", []string{"upload", "--server", "http://127.0.0.1:1", "--source", "phone", clip}, "FAILED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append(tc.args, "--state-dir", t.TempDir())
			start := time.Now()
			out, errOut, err := sightline(t, args...)
			if err == nil || !strings.Contains(out+errOut, tc.mention) {
				t.Fatalf("err=%v after %v; output does not mention %q:\n%s%s", err, time.Since(start), tc.mention, out, errOut)
			}
		})
	}
}

// `sightline keys` prints the verifier key of the log the server signs with.
func TestKeysPrintsTheLogsVerifierKey(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, data, 0, "--log-origin", "evidence.example.org/log")
	srv.kill()
	out, errOut, err := sightline(t, "keys", "--data", data)
	if err != nil || !strings.HasPrefix(out, "evidence.example.org/log+") {
		t.Fatalf("keys: %v %q %q", err, out, errOut)
	}
	if _, errOut, err := sightline(t, "keys", "--data", t.TempDir()); err == nil || !strings.Contains(errOut, "sightline serve") {
		t.Fatalf("keys without a key: %v %q", err, errOut)
	}
}

// The CLI saves a receipt beside each file, and `sightline verify` checks
// it offline: OK for the file as uploaded, the precise reason otherwise.
func TestVerifyReceiptOffline(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, data, 0)
	file := cliUpload(t, srv.URL, t.TempDir(), "clip.mp4", "1")
	key := logKey(t, data)
	// The receipt as a C2SP tlog-proof, downloaded with the token.
	var saved struct {
		ID          string `json:"id"`
		AccessToken string `json:"access_token"`
	}
	b, _ := os.ReadFile(file + ".sightline.json")
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Fatal(err)
	}
	proof, err := bearer("GET", srv.URL+"/api/v1/evidence/"+saved.ID+"/receipt?format=tlog-proof", saved.AccessToken, "", http.StatusOK)
	if err != nil || !strings.HasPrefix(string(proof), "c2sp.org/tlog-proof@v1\n") {
		t.Fatalf("tlog-proof: %v %.60q", err, proof)
	}
	os.WriteFile(file+".tlog-proof", proof, 0o644)
	srv.kill() // offline from here on

	if out, errOut, err := sightline(t, "verify", file, file+".tlog-proof", "--key", key); err != nil || !strings.HasPrefix(out, "OK: "+fileSHA(t, file)) {
		t.Errorf("verify with the tlog-proof: %v %q %q", err, out, errOut)
	}
	if out, _, err := sightline(t, "verify", file, file+".tlog-proof"); err == nil || !strings.Contains(out, "carries no key") {
		t.Errorf("verify of a tlog-proof without --key: %v %q", err, out)
	}

	out, errOut, err := sightline(t, "verify", file, "--key", key)
	if err != nil || !regexp.MustCompile(`^OK: `+fileSHA(t, file)+` logged at index \d+ in a checkpoint of size \d+ signed by \S+ at \S+Z\n$`).MatchString(out) {
		t.Fatalf("verify: %v %q %q", err, out, errOut)
	}
	if strings.Contains(errOut, "warning") {
		t.Errorf("warned although --key was given: %q", errOut)
	}
	if _, errOut, _ := sightline(t, "verify", file); !strings.Contains(errOut, "warning: no --key") {
		t.Errorf("no warning without --key: %q", errOut)
	}

	b, _ = os.ReadFile(file)
	b[len(b)/2] ^= 0x01
	os.WriteFile(file, b, 0o644)
	out, _, err = sightline(t, "verify", file, "--key", key)
	if err == nil || !strings.HasPrefix(out, "FAIL: file differs") {
		t.Fatalf("verify of a changed file: %v %q", err, out)
	}
	os.WriteFile(file+".receipt.json", []byte("{not json"), 0o644)
	if out, _, err = sightline(t, "verify", file, "--key", key); err == nil || !strings.HasPrefix(out, "FAIL: receipt malformed") {
		t.Fatalf("verify with a malformed receipt: %v %q", err, out)
	}
}

// `sightline refresh` brings a receipt up to the log's latest checkpoint
// with consistency proofs from each checkpoint it was issued with; the
// refreshed receipt verifies offline and says so, a tampered consistency
// proof fails, and another log will not refresh it.
func TestRefreshReceipt(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, data, 0)
	dir := t.TempDir()
	file := cliUpload(t, srv.URL, dir, "first.mp4", "1")
	key := logKey(t, data)
	okLine := regexp.MustCompile(`^OK: \S+ logged at index (\d+) in a checkpoint of size (\d+) signed by \S+ at \S+Z\n$`)
	sizeOf := func() string {
		out, errOut, err := sightline(t, "verify", file, "--key", key)
		m := okLine.FindStringSubmatch(out)
		if err != nil || m == nil {
			t.Fatalf("verify: %v %q %q", err, out, errOut)
		}
		return m[2]
	}
	first := sizeOf()

	for round, seed := range []string{"2", "3"} {
		cliUpload(t, srv.URL, dir, fmt.Sprintf("more-%s.mp4", seed), seed)
		out, errOut, err := sightline(t, "refresh", "--server", srv.URL, "--key", key, file+".receipt.json")
		want := fmt.Sprintf("consistent with %d earlier checkpoints\n", round+1)
		if err != nil || !strings.HasPrefix(out, "refreshed ") || !strings.HasSuffix(out, want) {
			t.Fatalf("refresh %d: %v %q %q", round, err, out, errOut)
		}
	}
	srv.kill() // offline from here on
	out, errOut, err := sightline(t, "verify", file, "--key", key)
	if err != nil || okLine.FindStringSubmatch(out)[2] == first || !strings.Contains(errOut, "consistent with 2 earlier") {
		t.Fatalf("verify of the refreshed receipt: %v %q %q (first size %s)", err, out, errOut, first)
	}

	// A consistency proof changed by one hash fails.
	var rc verify.Receipt
	b, _ := os.ReadFile(file + ".receipt.json")
	if err := json.Unmarshal(b, &rc); err != nil || len(rc.Earlier) != 2 {
		t.Fatalf("refreshed receipt: %v, %d earlier", err, len(rc.Earlier))
	}
	good := b
	h, _ := base64.StdEncoding.DecodeString(rc.Earlier[0].ConsistencyProof[0])
	h[0] ^= 1
	rc.Earlier[0].ConsistencyProof[0] = base64.StdEncoding.EncodeToString(h)
	b, _ = json.Marshal(rc)
	os.WriteFile(file+".receipt.json", b, 0o644)
	if out, _, err := sightline(t, "verify", file, "--key", key); err == nil || !strings.HasPrefix(out, "FAIL: proof fails: consistency proof") {
		t.Fatalf("verify with a tampered consistency proof: %v %q", err, out)
	}

	// Another log does not refresh this one's receipt.
	os.WriteFile(file+".receipt.json", good, 0o644)
	other := startServer(t, t.TempDir(), 0)
	out, _, err = sightline(t, "refresh", "--server", other.URL, file+".receipt.json")
	if err == nil || !strings.Contains(out, "not a valid receipt of this log") {
		t.Fatalf("refresh by another log: %v %q", err, out)
	}
	if b, _ := os.ReadFile(file + ".receipt.json"); string(b) != string(good) {
		t.Error("a failed refresh changed the receipt file")
	}
}

// streamPartial sends the first two thirds of a live WebM as a stream
// (as the capture page does) and falls silent; the server, started with
// a short --partial-after, keeps it as partial evidence. It returns the
// evidence id and its access token.
func streamPartial(t *testing.T, server string) (string, string) {
	t.Helper()
	live, err := os.ReadFile(mediatest.Clip(t, "live.webm", "4", "-c:v", "libvpx", "-deadline", "realtime", "-c:a", "libopus", "-f", "webm", "-live", "1"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", server+"/api/v1/uploads/", nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Defer-Length", "1")
	req.Header.Set("Upload-Metadata", client.EncodeMetadata(map[string]string{"source": "phone", "filename": "capture.webm"}))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create stream: %v %v", err, resp)
	}
	resp.Body.Close()
	u := resp.Header.Get("Location")
	req, _ = http.NewRequest("PATCH", u, bytes.NewReader(live[:len(live)*2/3]))
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Offset", "0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH stream: %v %v", err, resp)
	}
	resp.Body.Close()
	var kept client.Receipt
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(u + "/evidence")
		if err == nil && resp.StatusCode == http.StatusOK {
			err = json.NewDecoder(resp.Body).Decode(&kept)
			resp.Body.Close()
			if err != nil || !kept.Partial {
				t.Fatalf("the stream kept: %v partial=%v", err, kept.Partial)
			}
			return kept.ID, kept.AccessToken
		}
		if resp != nil {
			resp.Body.Close()
		}
		if time.Now().After(deadline) {
			t.Fatal("the silent stream was not kept as partial in two minutes")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// `sightline export` saves a case's evidence package, with a progress
// bar, using an investigator's API token. The case holds three
// originals, one of them a phone's stream kept partial, with its review
// copy. Offline, `sightline verify-package` says OK for each item and
// exits 0; for a package with a changed byte it says FAIL and exits 1.
func TestExportAndVerifyPackage(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, data, 0, "--partial-after", "2s")
	var ids []string
	dir := t.TempDir()
	cliUpload(t, srv.URL, dir, "clip.mp4", "1")
	cliUpload(t, srv.URL, dir, "other.mp4", "2")
	for _, f := range []string{"clip.mp4", "other.mp4"} {
		var saved struct{ ID string }
		b, _ := os.ReadFile(filepath.Join(dir, f) + ".sightline.json")
		if err := json.Unmarshal(b, &saved); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, saved.ID)
	}
	partial, token := streamPartial(t, srv.URL)
	ids = append(ids, partial)
	// Its review copy (players cannot seek in a live WebM).
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var rec struct{ Derived map[string]string }
		if err := getJSON(srv.URL+"/api/v1/evidence/"+partial, token, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Derived["review"] == "done" {
			break
		}
		if time.Now().After(deadline) || strings.HasPrefix(rec.Derived["review"], "failed") {
			t.Fatalf("the partial recording's review copy: %v", rec.Derived)
		}
		time.Sleep(100 * time.Millisecond)
	}

	if _, errOut, err := sightline(t, "admin", "create-user", "--data", data, "--role", "investigator", "--name", "inv.ortiz", "--unit", "ia"); err != nil {
		t.Fatalf("create-user: %v %s", err, errOut)
	}
	tok, errOut, err := sightline(t, "admin", "token", "--data", data, "--user", "inv.ortiz", "--expires", "24h")
	if err != nil {
		t.Fatalf("token: %v %s", err, errOut)
	}
	tok = strings.TrimSpace(tok)
	body, err := bearer("POST", srv.URL+"/api/v1/cases", tok, `{}`, http.StatusCreated)
	if err != nil {
		t.Fatal(err)
	}
	var k struct{ ID string }
	json.Unmarshal(body, &k)
	for _, id := range ids {
		if _, err := bearer("POST", srv.URL+"/api/v1/cases/"+k.ID+"/evidence", tok, `{"evidence_id":"`+id+`"}`, http.StatusNoContent); err != nil {
			t.Fatal(err)
		}
	}
	zipPath := filepath.Join(t.TempDir(), "case.zip")
	out, errOut, err := sightline(t, "export", "--server", srv.URL, "--token", tok, "--case", k.ID, "--reason", "disclosure", "-o", zipPath)
	if err != nil || !strings.Contains(out, "saved "+zipPath) {
		t.Fatalf("export: %v %q %q", err, out, errOut)
	}
	if !strings.Contains(errOut, "100%") {
		t.Errorf("no progress shown: %q", errOut)
	}
	if _, _, err := sightline(t, "export", "--server", srv.URL, "--token", tok, "--case", k.ID, "-o", zipPath+"2"); err == nil {
		t.Error("an export without a reason ran")
	}
	key := logKey(t, data)
	srv.kill() // offline from here on

	out, _, err = sightline(t, "verify-package", zipPath, "--key", key)
	if err != nil || !strings.Contains(out, "the package is whole") {
		t.Fatalf("verify-package: %v %q", err, out)
	}
	for _, id := range ids {
		if !regexp.MustCompile(`(?m)^OK    ` + id + ` `).MatchString(out) {
			t.Errorf("verify-package says nothing OK of %s:\n%s", id, out)
		}
	}
	// Flip a byte in the middle of clip.mp4's original in the zip (the
	// clips share runs of bytes, so it is found by its entry, not by its
	// content).
	z, _ := os.ReadFile(zipPath)
	zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil {
		t.Fatal(err)
	}
	i := int64(-1)
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/data/originals/"+ids[0]+".mp4") {
			off, err := f.DataOffset()
			if err != nil {
				t.Fatal(err)
			}
			i = off + int64(f.UncompressedSize64/2)
		}
	}
	if i < 0 {
		t.Fatal("clip.mp4's original is not in the package")
	}
	z[i] ^= 1
	bad := filepath.Join(t.TempDir(), "bad.zip")
	os.WriteFile(bad, z, 0o644)
	out, _, err = sightline(t, "verify-package", bad, "--key", key)
	if err == nil || !strings.Contains(out, "FAIL  "+ids[0]) || !strings.Contains(out, "changed") {
		t.Errorf("verify-package of a changed package: %v %q", err, out)
	}
}
