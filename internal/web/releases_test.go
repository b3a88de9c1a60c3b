package web_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/audit"
	"github.com/sightline/sightline/internal/fingerprint"
	"github.com/sightline/sightline/internal/fingerprint/fptest"
	"github.com/sightline/sightline/internal/jobs"
	"github.com/sightline/sightline/internal/media"
	"github.com/sightline/sightline/internal/release"
	"github.com/sightline/sightline/internal/server/servertest"
	"github.com/sightline/sightline/verify"
)

// TestReleaseThroughTheAPI: the records office makes a release of a
// span of a body camera's recording, a supervisor approves it (its maker
// cannot), the records office publishes it; then the public finds a clip
// of the released span, and finds nothing for a clip of the withheld one.
func TestReleaseThroughTheAPI(t *testing.T) {
	env := servertest.Start(t)
	env.RunJobs()
	sup := env.StaffToken("sgt.reyes", account.Supervisor, "central", "301")
	records := env.StaffToken("rec.amos", account.Records, "central", "")
	dir := t.TempDir()
	rec, rc := bodycamScene(t, env, dir, 21)
	inc := createIncident(t, env, sup, "Stop on 5th")
	if got, body := call(t, env, "POST", "/api/v1/incidents/"+inc+"/evidence", sup, `{"evidence_id":"`+rc.ID+`"}`); got != 204 {
		t.Fatalf("add clip: %d %s", got, body)
	}
	env.WaitIdle()

	body := fmt.Sprintf(`{"title":"Stop on 5th","summary":"The stop, from the officer's camera.","incident_id":%q,
		"spans":[{"evidence_id":%q,"from_s":5,"to_s":25}],"withheld":[{"evidence_id":%q,"from_s":25,"to_s":40,"reason":"victim"}]}`, inc, rc.ID, rc.ID)
	if got, b := call(t, env, "POST", "/api/v1/releases", sup, body); got != 404 {
		t.Fatalf("a supervisor made a release: %d %s", got, b)
	}
	got, b := call(t, env, "POST", "/api/v1/releases", records, body)
	var rel struct {
		ID     string
		Status string
		URL    string
	}
	if err := json.Unmarshal([]byte(b), &rel); got != 201 || err != nil || rel.Status != "draft" {
		t.Fatalf("create: %d %s", got, b)
	}
	url := "/api/v1/releases/" + rel.ID
	if got, b := call(t, env, "POST", url+"/approve", records, ""); got != 403 {
		t.Errorf("its maker approved it: %d %s", got, b)
	}
	if got, b := call(t, env, "POST", url+"/publish", records, ""); got != 409 {
		t.Errorf("published before approval: %d %s", got, b)
	}
	if got, b := call(t, env, "POST", url+"/approve", sup, ""); got != 200 {
		t.Fatalf("approve: %d %s", got, b)
	}
	if got, b := call(t, env, "POST", url+"/publish", records, ""); got != 202 {
		t.Fatalf("publish: %d %s", got, b)
	}
	if j := env.WaitJob(release.PublishJob, rel.ID); j.State != jobs.Done {
		t.Fatalf("the publish job: %+v", j)
	}
	var published struct {
		Status         string
		URL            string
		ManifestSHA256 string `json:"manifest_sha256"`
	}
	if got, b := call(t, env, "GET", url, sup, ""); got != 200 || json.Unmarshal([]byte(b), &published) != nil || published.Status != "published" ||
		published.URL != "/r/"+rel.ID {
		t.Fatalf("published: %d %s", got, b)
	}
	// The public: the manifest as logged, the file with ranges.
	resp, manifest := env.Do("GET", "/r/"+rel.ID+"/manifest", nil, nil)
	m, err := verify.ParseReleaseManifest([]byte(manifest))
	if resp.StatusCode != 200 || err != nil || m.SHA256() != published.ManifestSHA256 || resp.Header.Get("Sightline-Manifest-SHA256") != m.SHA256() {
		t.Fatalf("the manifest: %d %v", resp.StatusCode, err)
	}
	if m.Files[0].FromS != 5 || m.Files[0].ToS != 25 || len(m.Withheld) != 1 {
		t.Errorf("the manifest: %s", manifest)
	}
	resp, part := env.Do("GET", "/r/"+rel.ID+"/files/0", map[string]string{"Range": "bytes=0-99"}, nil)
	if resp.StatusCode != 206 || len(part) != 100 || resp.Header.Get("ETag") != `"`+m.Files[0].SHA256+`"` {
		t.Errorf("a range of the file: %d, %d bytes", resp.StatusCode, len(part))
	}
	if resp, _ := env.Do("GET", "/r/"+rel.ID+"/files/1", nil, nil); resp.StatusCode != 404 {
		t.Errorf("a file the release does not have: %d", resp.StatusCode)
	}

	// The public page: every recording's bar, the withheld span and its
	// reason, the files with their proof, the versions; no script needed.
	// Viewing it is not logged (publishing was).
	before, err := env.Server.Custody().Events(t.Context(), rc.ID)
	if err != nil {
		t.Fatal(err)
	}
	resp, page := env.Do("GET", "/r/"+rel.ID, map[string]string{"Accept": "text/html"}, nil)
	for _, want := range []string{"Stop on 5th", `class="lane recording"`, `class="segment shown"`, `class="segment withheld"`,
		"Camera 1 (bodycam)", "placed by", `href="/r/` + rel.ID + `/files/0"`, `href="/r/` + rel.ID + `/proof"`, "Version 1</strong>",
		"seconds 25.0 to 40.0 withheld"} {
		if resp.StatusCode != 200 || !strings.Contains(page, want) {
			t.Errorf("the release's page (%d) lacks %q", resp.StatusCode, want)
		}
	}
	if strings.Contains(page, `"victim"`) || !strings.Contains(page, "victim") {
		t.Errorf("the withheld span's reason is not in words")
	}

	// Download with proof: the file checks against the log offline; one
	// changed byte and it does not.
	resp, file := env.Do("GET", "/r/"+rel.ID+"/files/0", nil, nil)
	resp2, proof := env.Do("GET", "/r/"+rel.ID+"/proof", nil, nil)
	if resp.StatusCode != 200 || resp2.StatusCode != 200 {
		t.Fatalf("download: %d, proof: %d %s", resp.StatusCode, resp2.StatusCode, proof)
	}
	path := filepath.Join(dir, "released.mp4")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	again := func(fromS float64) ([]verify.Record, error) {
		d, err := fingerprint.Decode(t.Context(), &media.Tool{}, fingerprint.Input{Source: media.Source{Path: path, Container: "mp4"},
			Width: fptest.Width, Height: fptest.Height, Sound: true}, dir)
		if err != nil {
			return nil, err
		}
		return d.Records(fromS), nil
	}
	key := env.Server.Log().VerifierKey()
	res, err := verify.ReleaseCheck([]byte(proof), strings.NewReader(file), key, again)
	if err != nil || res.Seconds != 20 || res.File != 0 {
		t.Fatalf("verify-release: %+v %v", res, err)
	}
	changed := []byte(file)
	changed[len(changed)/2] ^= 1
	if _, err := verify.ReleaseCheck([]byte(proof), bytes.NewReader(changed), key, again); !errors.Is(err, verify.ErrNotReleased) {
		t.Errorf("a file with a changed byte: %v", err)
	}

	ask := func(from float64, seed int) lookupAnswer {
		t.Helper()
		clip, err := fptest.Clip(t.Context(), dir, rec, from, 8, fptest.Degradations[0], seed)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(clip)
		if err != nil {
			t.Fatal(err)
		}
		got, body := call(t, env, "POST", "/api/v1/lookup", "", string(b))
		var a lookupAnswer
		if err := json.Unmarshal([]byte(body), &a); got != 200 || err != nil {
			t.Fatalf("lookup: %d %s", got, body)
		}
		return a
	}
	if a := ask(12.5, 1); len(a.Matches) != 1 || a.Matches[0].ReleaseID != rel.ID || math.Abs(a.Matches[0].OffsetS-12.5) > 1.0/30 ||
		a.Matches[0].URL == "" {
		t.Errorf("a clip of the released span: %+v", a)
	}
	if a := ask(29, 2); len(a.Matches) != 0 {
		t.Errorf("a clip of the withheld span was found: %+v", a)
	}
	after, err := env.Server.Custody().Events(t.Context(), rc.ID)
	if err != nil || len(after) != len(before) {
		t.Errorf("public viewing and lookups logged %d events (%v)", len(after)-len(before), err)
	}
	env.Stop()
	if r, err := audit.Run(t.Context(), env.AuditPaths()); err != nil || len(r.Problems) != 0 || r.Releases != 1 || r.Released != 1 {
		t.Errorf("audit: %v, %d releases, %d files, problems %v", err, r.Releases, r.Released, r.Problems)
	}
}
