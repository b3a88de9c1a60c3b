package web_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/bag/bagtest"
	"github.com/sightline/sightline/internal/client"
	"github.com/sightline/sightline/internal/court/courttest"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/media/mediatest"
	"github.com/sightline/sightline/internal/server"
	"github.com/sightline/sightline/internal/server/servertest"
	"github.com/sightline/sightline/verify"
)

// packageCase makes a case holding three originals, one of them partial
// (a phone's stream cut off) with a review copy, and their events; it
// returns the case's id, its investigator's token and the items.
func packageCase(t *testing.T, env *servertest.Env) (caseID, inv, civToken string, items []evidence.Item) {
	t.Helper()
	inv = env.StaffToken("inv.ortiz", account.Investigator, "ia", "")
	env.StaffToken("sgt.kane", account.Supervisor, "ia", "")
	phone, err := os.ReadFile(mediatest.Clip(t, "phone.mp4", "2"))
	if err != nil {
		t.Fatal(err)
	}
	civ, _ := uploadAs(t, env, "", phone, map[string]string{"source": "phone", "filename": "Zoë's phone.mp4"})
	// The civilian shares it with sgt.kane (a share the report lists).
	if got, body := call(t, env, "POST", "/api/v1/evidence/"+civ.ID+"/shares", civ.AccessToken, `{"user":"sgt.kane"}`); got != 204 {
		t.Fatalf("share: %d %s", got, body)
	}
	_, device, err := env.Server.Accounts().IssueToken(t.Context(), "test", account.Token{Kind: account.DeviceToken, Unit: "central", Device: "bwc-7", Badge: "101"})
	if err != nil {
		t.Fatal(err)
	}
	bwc, err := os.ReadFile(mediatest.Clip(t, "bwc.mp4", "3"))
	if err != nil {
		t.Fatal(err)
	}
	police, _ := uploadAs(t, env, device, bwc, map[string]string{"source": "bodycam", "filename": "AXON_0042.mp4"})

	// A phone streams a recording and falls silent: it is kept partial.
	live, err := os.ReadFile(mediatest.Clip(t, "live.webm", "4", "-c:v", "libvpx", "-deadline", "realtime", "-c:a", "libopus", "-f", "webm", "-live", "1"))
	if err != nil {
		t.Fatal(err)
	}
	resp, body := env.Do("POST", "/api/v1/uploads/", map[string]string{"Upload-Defer-Length": "1",
		"Upload-Metadata": client.EncodeMetadata(map[string]string{"source": "phone", "filename": "capture.webm"})}, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create stream: %d %s", resp.StatusCode, body)
	}
	stream := resp.Header.Get("Location")
	if resp, body := env.Patch(stream, 0, live[:len(live)*2/3]); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
	}
	if err := env.Server.Ingest().SweepStreams(t.Context()); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(11 * time.Minute)
	if err := env.Server.Ingest().SweepStreams(t.Context()); err != nil {
		t.Fatal(err)
	}
	partial := env.Receipt(stream)
	if !partial.Partial {
		t.Fatal("the cut stream is not kept as partial")
	}
	env.RunJobs()
	env.WaitIdle() // posters, review copy, digests

	var k struct{ ID string }
	if code, body := call(t, env, "POST", "/api/v1/cases", inv, `{}`); code != 201 || json.Unmarshal([]byte(body), &k) != nil {
		t.Fatalf("open case: %d %s", code, body)
	}
	for _, id := range []string{civ.ID, police.ID, partial.ID} {
		if code, body := call(t, env, "POST", "/api/v1/cases/"+k.ID+"/evidence", inv, `{"evidence_id":"`+id+`"}`); code != 204 && code != 200 {
			t.Fatalf("attach %s: %d %s", id, code, body)
		}
		it, err := env.Server.Evidence().Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
	return k.ID, inv, civ.AccessToken, items
}

// getPackage fetches a package (or a part of one) with the investigator's token.
func getPackage(t *testing.T, env *servertest.Env, path, token string, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", env.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// file reads one file of a zipped package by its path under data/.
func file(t *testing.T, zipped []byte, name string) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(zipped), int64(len(zipped)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if _, rest, _ := strings.Cut(f.Name, "/"); rest == "data/"+name {
			rc, _ := f.Open()
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("%s is not in the package", name)
	return nil
}

// An investigator exports a case holding three originals (one partial),
// a review copy and their events. verify.Package says OK for every item,
// a bag validator written apart agrees, the report shows every item's
// SHA-256 and every event's log index, and every item's custody list
// names the package's SHA-256. The same export again gives the same
// bytes; a download cut at half resumes with Range.
func TestCasePackage(t *testing.T) {
	env := servertest.Start(t)
	caseID, inv, _, items := packageCase(t, env)
	key := env.Server.Log().VerifierKey()
	url := "/api/v1/cases/" + caseID + "/package?reason=" + "disclosure+to+the+defence"

	resp, zipped := getPackage(t, env, url, inv, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("export: %d %s", resp.StatusCode, zipped)
	}
	if resp.ContentLength != int64(len(zipped)) || resp.Header.Get("Content-Type") != "application/zip" {
		t.Fatalf("Content-Length %d for %d bytes, type %q", resp.ContentLength, len(zipped), resp.Header.Get("Content-Type"))
	}
	res, err := verify.Package(bytes.NewReader(zipped), int64(len(zipped)), key)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() || len(res.Items) != 3 {
		t.Fatalf("verify: %+v", res)
	}
	if err := bagtest.Validate(zipped); err != nil {
		t.Fatalf("the independent bag validator: %v", err)
	}
	var listed []verify.PackageItem
	if err := json.Unmarshal(file(t, zipped, verify.PackageItems), &listed); err != nil {
		t.Fatal(err)
	}
	review := 0
	for _, it := range listed {
		for _, d := range it.Derived {
			if d.Kind == "review" {
				review++
			}
		}
	}
	if review != 1 {
		t.Errorf("%d review copies in the package, want the partial recording's", review)
	}

	// The report, as pdftotext reads it: every SHA-256, every index.
	text := courttest.PDFText(t, file(t, zipped, verify.PackageReport))
	for _, it := range items {
		if !strings.Contains(text, it.SHA256.String()) {
			t.Errorf("the report lacks %s's SHA-256", it.ID)
		}
	}
	if !strings.Contains(text, "Partial: the recording was streamed") || !strings.Contains(text, "Zoë's phone.mp4") {
		t.Errorf("the report does not state the partial recording, or mangles a name:\n%s", text)
	}
	entries := strings.Split(strings.TrimSpace(string(file(t, zipped, verify.PackageEntries))), "\n")
	if len(entries) < 9 {
		t.Fatalf("%d entries, want every event of three items", len(entries))
	}
	for _, line := range entries {
		var e verify.PackageEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`#` + itoa(e.Index) + `\s`).MatchString(text) {
			t.Errorf("the report lacks event #%d", e.Index)
		}
	}
	if cert := courttest.PDFText(t, file(t, zipped, verify.PackageCertification)); !strings.Contains(cert, items[0].SHA256.String()) || !strings.Contains(cert, "Signature") {
		t.Errorf("the certification form lacks a hash or its blanks:\n%s", cert)
	}

	// Each item's custody list names the package.
	sum := sha256.Sum256(zipped)
	for _, it := range items {
		events, err := env.Server.Custody().Events(t.Context(), it.ID)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range events {
			found = found || e.Type == evidence.Exported && e.Details["package_sha256"] == hex.EncodeToString(sum[:])
		}
		if !found {
			t.Errorf("%s's custody list does not name the package", it.ID)
		}
	}

	// Again, pinned to the same checkpoint: the same bytes, although the
	// export itself was logged since.
	checkpoint, etag := resp.Header.Get("Sightline-Checkpoint"), resp.Header.Get("ETag")
	pinned := url + "&checkpoint=" + checkpoint
	_, again := getPackage(t, env, pinned, inv, nil)
	if !bytes.Equal(again, zipped) {
		t.Fatal("the same export twice differs")
	}
	// Cut at half: the rest comes with Range and If-Range.
	half := len(zipped) / 2
	resp, rest := getPackage(t, env, pinned, inv, map[string]string{"Range": "bytes=" + itoa(uint64(half)) + "-", "If-Range": etag})
	if resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("resume: %d", resp.StatusCode)
	}
	if whole := append(zipped[:half:half], rest...); sha256.Sum256(whole) != sum {
		t.Error("the resumed download's SHA-256 differs")
	}

	// The client (sightline export) resumes a cut download from its part
	// file and the pin it kept.
	path := filepath.Join(t.TempDir(), "case.zip")
	os.WriteFile(path+".part", zipped[:half/3], 0o600)
	state, _ := json.Marshal(map[string]string{"checkpoint": checkpoint, "etag": etag})
	os.WriteFile(path+".part.json", state, 0o600)
	p, err := (&client.Client{Server: env.URL, Token: inv}).DownloadPackage(t.Context(), "case", caseID, "disclosure", path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.SHA256 != hex.EncodeToString(sum[:]) || p.Size != int64(len(zipped)) {
		t.Errorf("the client's resumed package: %+v", p)
	}
	resumed := false
	events, _ := env.Server.Custody().Events(t.Context(), items[0].ID)
	for _, e := range events {
		resumed = resumed || e.Type == evidence.Accessed && e.Details["span"] == itoa(uint64(half/3))+"-"+itoa(uint64(len(zipped)-1))
	}
	if !resumed {
		t.Error("the client did not resume with Range (no read of the rest logged)")
	}
	if _, err := os.Stat(path + ".part.json"); !os.IsNotExist(err) {
		t.Error("the client left its part state behind")
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// rezip makes a copy of a zipped package with edit applied to each file
// (by its path under the top folder; nil drops it) and add added.
func rezip(t *testing.T, zipped []byte, edit func(name string, b []byte) []byte, add map[string][]byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(zipped), int64(len(zipped)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	top := ""
	for _, f := range zr.File {
		var rest string
		top, rest, _ = strings.Cut(f.Name, "/")
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		if b = edit(rest, b); b == nil {
			continue
		}
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Store})
		w.Write(b)
	}
	for name, b := range add {
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: top + "/" + name, Method: zip.Store})
		w.Write(b)
	}
	zw.Close()
	return buf.Bytes()
}

// Each tamper with a package is caught, with a message that says what:
// a byte of an original, a manifest line, an entry, a proof line, the
// checkpoint's signature, a dropped event, a file added to data/.
func TestPackageTampering(t *testing.T) {
	env := servertest.Start(t)
	caseID, inv, _, items := packageCase(t, env)
	key := env.Server.Log().VerifierKey()
	resp, good := getPackage(t, env, "/api/v1/cases/"+caseID+"/package?reason=court", inv, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("export: %d %s", resp.StatusCode, good)
	}
	var listed []verify.PackageItem
	json.Unmarshal(file(t, good, verify.PackageItems), &listed)
	entries := strings.SplitAfter(string(file(t, good, verify.PackageEntries)), "\n")
	var second verify.PackageEntry
	json.Unmarshal([]byte(entries[1]), &second)
	secondProof := "data/" + verify.PackageReceipts + "events/" + itoa(second.Index) + ".tlog-proof"

	only := func(target string, change func([]byte) []byte) func(string, []byte) []byte {
		return func(name string, b []byte) []byte {
			if name == target {
				return change(bytes.Clone(b))
			}
			return b
		}
	}
	for name, tc := range map[string]struct {
		zipped []byte
		want   string
	}{
		"a byte of an original": {rezip(t, good, only("data/"+listed[0].Original, func(b []byte) []byte { b[len(b)/2] ^= 1; return b }), nil),
			"its original's SHA-256 is"},
		"a manifest line": {rezip(t, good, only("manifest-sha256.txt", func(b []byte) []byte {
			return bytes.Replace(b, []byte(listed[1].SHA256), []byte(strings.Repeat("0", 64)), 1)
		}), nil), "manifest-sha256.txt line"},
		"an entry": {rezip(t, good, only("data/"+verify.PackageEntries, func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"at":"`), []byte(`"at":"1`), 1)
		}), nil), "entries.jsonl line 1"},
		"a proof line": {rezip(t, good, only(secondProof, func(b []byte) []byte {
			lines := bytes.Split(b, []byte("\n"))
			for i, l := range lines {
				if i > 0 && len(l) == 44 && !bytes.HasPrefix(l, []byte("index")) {
					lines[i] = []byte(strings.Repeat("A", 43) + "=")
					break
				}
			}
			return bytes.Join(lines, []byte("\n"))
		}), nil), "inclusion proof"},
		"the checkpoint's signature": {rezip(t, good, only("data/"+verify.PackageCheckpoint, func(b []byte) []byte {
			i := bytes.LastIndex(b, []byte(" ")) + 5
			b[i] ^= 0x01
			return b
		}), nil), "log/checkpoint: checkpoint signature"},
		"a dropped event": {rezip(t, good, only("data/"+verify.PackageEntries, func(b []byte) []byte {
			return []byte(strings.Replace(string(b), entries[1], "", 1))
		}), nil), "an entry dropped?"},
		"a file added to data/": {rezip(t, good, func(_ string, b []byte) []byte { return b },
			map[string][]byte{"data/originals/extra.mp4": []byte("planted")}), "data/originals/extra.mp4 is in data/ but not in manifest-sha256.txt"},
	} {
		res, err := verify.Package(bytes.NewReader(tc.zipped), int64(len(tc.zipped)), key)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		all := strings.Join(res.Problems, "\n")
		for _, it := range res.Items {
			all += "\n" + it.ID + ": " + strings.Join(it.Problems, "\n")
		}
		if res.OK() || !strings.Contains(all, tc.want) {
			t.Errorf("%s: OK=%v, want a problem saying %q; got:\n%s", name, res.OK(), tc.want, all)
		}
	}
	_ = items
}

// A refused export is logged and leaves nothing: without a reason, by a
// role that may not export, or by a caller who may not read every item
// (the message says how many).
func TestRefusedExports(t *testing.T) {
	env := servertest.Start(t, func(c *server.Config) { c.FailureLimit = 1000 })
	caseID, _, civ, items := packageCase(t, env)
	officer := env.StaffToken("ofc.lee", account.Officer, "ia", "9001")
	sup := env.StaffToken("sgt.ruiz", account.Supervisor, "ia", "")
	// The civilian shared her footage with sgt.ruiz: one of three is hers.
	if code, body := call(t, env, "POST", "/api/v1/evidence/"+items[0].ID+"/shares", civ, `{"user":"sgt.ruiz"}`); code != 204 {
		t.Fatalf("share: %d %s", code, body)
	}
	for name, tc := range map[string]struct {
		token, query string
		code         int
		says         string
		logged       int
	}{
		"no reason":      {sup, "", 400, "needs a reason", 1},
		"a wrong role":   {officer, "?reason=x", 404, "not found", 1},
		"unreadable two": {sup, "?reason=court", 403, "you may not read 2 of the 3 items in this case", 2},
	} {
		before := logSize(t, env)
		resp, body := getPackage(t, env, "/api/v1/cases/"+caseID+"/package"+tc.query, tc.token, nil)
		if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.says) {
			t.Errorf("%s: %d %s, want %d saying %q", name, resp.StatusCode, body, tc.code, tc.says)
		}
		if grew := logSize(t, env) - before; grew != uint64(tc.logged) {
			t.Errorf("%s: the log grew by %d, want %d refusals", name, grew, tc.logged)
		}
		for _, it := range items {
			events, _ := env.Server.Custody().Events(t.Context(), it.ID)
			for _, e := range events {
				if e.Type == evidence.Exported || e.Type == evidence.Accessed && e.Details["action"] == "export-package" {
					t.Errorf("%s: %s logged as exported", name, it.ID)
				}
			}
		}
	}
}
