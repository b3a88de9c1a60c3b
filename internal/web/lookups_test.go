package web_test

import (
	"bytes"
	"encoding/json"
	"math"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/client"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/fingerprint/fptest"
	"github.com/sightline/sightline/internal/jobs"
	"github.com/sightline/sightline/internal/server"
	"github.com/sightline/sightline/internal/server/servertest"
)

type lookupAnswer struct {
	Matches []struct {
		ReleaseID  string  `json:"release_id"`
		EvidenceID string  `json:"evidence_id"`
		OffsetS    float64 `json:"offset_s"`
		By         string  `json:"by"`
		URL        string  `json:"url"`
	} `json:"matches"`
}

// TestLookupFindsAClip: a recording is fingerprinted at intake; a clip
// cut from it and squeezed to 32 kbit/s sound is found by staff who may
// read it, at its offset, and the finding is logged as an access; staff
// of another unit and the public (nothing is released) find nothing. A
// clip too large is refused, and so are lookups past the limit of an
// address.
func TestLookupFindsAClip(t *testing.T) {
	limits := func(c *server.Config) { c.LookupLimit = 3; c.MaxLookup = 4 << 20 }
	env := servertest.Start(t, limits)
	env.RunJobs()
	sup := env.StaffToken("sgt.reyes", account.Supervisor, "central", "301")
	other := env.StaffToken("sgt.ames", account.Supervisor, "east", "401")
	dir := t.TempDir()
	rec, rc := bodycamScene(t, env, dir, 11)
	if j := env.WaitJob("fingerprint", rc.ID); j.State != jobs.Done {
		t.Fatalf("fingerprint job: %+v", j)
	}
	clipPath, err := fptest.Clip(t.Context(), dir, rec, 17.25, 10, fptest.Degradations[0], 1)
	if err != nil {
		t.Fatal(err)
	}
	clip, err := os.ReadFile(clipPath)
	if err != nil {
		t.Fatal(err)
	}
	ask := func(token string) lookupAnswer {
		t.Helper()
		got, body := call(t, env, "POST", "/api/v1/lookup", token, string(clip))
		var a lookupAnswer
		if err := json.Unmarshal([]byte(body), &a); got != 200 || err != nil || a.Matches == nil {
			t.Fatalf("lookup: %d %s", got, body)
		}
		return a
	}
	// Placed by its landmarks, then to the sample by GCC-PHAT against the
	// recording's sound.
	a := ask(sup)
	if len(a.Matches) == 0 || a.Matches[0].EvidenceID != rc.ID || math.Abs(a.Matches[0].OffsetS-17.25) > 0.002 || a.Matches[0].By != "sound" ||
		!strings.HasPrefix(a.Matches[0].URL, "/staff/evidence/"+rc.ID) {
		t.Fatalf("the supervisor's lookup: %+v", a)
	}
	events, err := env.Server.Custody().Events(t.Context(), rc.ID)
	if err != nil {
		t.Fatal(err)
	}
	logged := 0
	for _, e := range events {
		if e.Type == evidence.Accessed && e.Details["lookup"] == "sound" && e.Details["role"] == "supervisor" {
			logged++
		}
	}
	if logged != 1 {
		t.Errorf("%d access events of the lookup, want 1", logged)
	}
	// A clip too large for one request goes first as a tus upload made
	// for the lookup: it is searched for once, never becomes evidence, and
	// is gone after.
	before := env.Contents()
	clipUpload := func(n int) string {
		u := env.Create(int64(len(clip)), map[string]string{"purpose": "lookup"})
		if resp, body := env.Patch(u, 0, clip[:n]); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("PATCH of the clip: %d %s", resp.StatusCode, body)
		}
		return u[strings.LastIndex(u, "/")+1:]
	}
	id := clipUpload(len(clip))
	got, body := call(t, env, "POST", "/api/v1/lookup?upload="+id, sup, "")
	var byUpload lookupAnswer
	if err := json.Unmarshal([]byte(body), &byUpload); got != 200 || err != nil || len(byUpload.Matches) == 0 ||
		byUpload.Matches[0].EvidenceID != rc.ID || math.Abs(byUpload.Matches[0].OffsetS-17.25) > 1.0/30 {
		t.Fatalf("a lookup of an uploaded clip: %d %s", got, body)
	}
	if got, body := call(t, env, "POST", "/api/v1/lookup?upload="+id, sup, ""); got != http.StatusNotFound {
		t.Errorf("the same uploaded clip again: %d %s, want 404", got, body)
	}
	if got, body := call(t, env, "POST", "/api/v1/lookup?upload="+clipUpload(1000), sup, ""); got != http.StatusConflict {
		t.Errorf("an unfinished uploaded clip: %d %s, want 409", got, body)
	}
	if after := env.Contents(); after.Evidence != before.Evidence || after.Blobs != before.Blobs || len(after.UploadFiles) != len(before.UploadFiles)+2 {
		t.Errorf("the uploaded clips left %+v, was %+v (want only the unfinished one's two files more)", after, before)
	}
	if a := ask(other); len(a.Matches) != 0 {
		t.Errorf("a supervisor of another unit found %+v", a)
	}
	if a := ask(""); len(a.Matches) != 0 {
		t.Errorf("the public found unreleased footage: %+v", a)
	}
	// The page: a form, its answer a page.
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	fw, _ := mw.CreateFormFile("clip", "clip.mp4")
	fw.Write(clip)
	mw.Close()
	got, body = callH(t, env, "POST", "/lookup", "", form.String(), map[string]string{"Content-Type": mw.FormDataContentType()})
	if got != 200 || !strings.Contains(body, `id="not-found"`) {
		t.Errorf("the page: %d %s", got, body)
	}
	// Too large: refused before it is read (and counted: the third).
	if got, body := call(t, env, "POST", "/api/v1/lookup", "", strings.Repeat("x", 6<<20)); got != http.StatusRequestEntityTooLarge {
		t.Errorf("a clip of 6 MB: %d %s", got, body)
	}
	if got, body := call(t, env, "POST", "/api/v1/lookup", "", string(clip)); got != http.StatusTooManyRequests {
		t.Errorf("a fourth lookup from one address: %d %s", got, body)
	}
	if a := ask(sup); len(a.Matches) == 0 {
		t.Errorf("staff are not limited by address")
	}
	// Started again, the server builds its index from the fingerprint
	// files.
	env.Stop()
	env = servertest.StartIn(t, env.Data, limits)
	if a := ask(sup); len(a.Matches) == 0 || a.Matches[0].EvidenceID != rc.ID {
		t.Errorf("after a restart: %+v", a)
	}
}

// bodycamScene uploads 40 s of street scene seed as central's body
// camera: the file's path and its receipt.
func bodycamScene(t *testing.T, env *servertest.Env, dir string, seed int) (string, client.Receipt) {
	t.Helper()
	_, device, err := env.Server.Accounts().IssueToken(t.Context(), "test", account.Token{Kind: account.DeviceToken, Unit: "central", Device: "cam-1"})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := fptest.Recording(t.Context(), dir, seed, 40)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := uploadAs(t, env, device, data, map[string]string{"source": "bodycam"})
	return rec, rc
}
