package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/client"
	"github.com/sightline/sightline/internal/media/mediatest"
)

// The server is SIGKILLed while it makes a review copy; after a restart
// the job runs again and finishes: the review copy is whole and plays,
// it was made (and logged) once, nothing half-made is left, and the audit
// passes.
func TestMediaJobsResumeAfterSIGKILL(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, data, 0)
	dir := t.TempDir()
	file := filepath.Join(dir, "phone.mp4")
	copyFile(t, mediatest.Scene(t, "phone.mp4", 3, 0, 60, "-s", "640x360", "-c:v", "libx265", "-preset", "ultrafast", "-tag:v", "hvc1"), file)
	if out, errOut, err := sightline(t, "upload", "--server", srv.URL, "--source", "phone", "--state-dir", t.TempDir(), file); err != nil {
		t.Fatalf("upload: %v %s %s", err, out, errOut)
	}
	b, err := os.ReadFile(file + ".sightline.json")
	if err != nil {
		t.Fatal(err)
	}
	var rc client.Receipt
	if err := json.Unmarshal(b, &rc); err != nil {
		t.Fatal(err)
	}
	derived := func(base string) map[string]string {
		var rec struct{ Derived map[string]string }
		if err := getJSON(base+"/api/v1/evidence/"+rc.ID, rc.AccessToken, &rec); err != nil {
			t.Fatal(err)
		}
		return rec.Derived
	}
	deadline := time.Now().Add(2 * time.Minute)
	for derived(srv.URL)["review"] != "running" {
		if time.Now().After(deadline) {
			t.Fatalf("the review copy job never ran: %v", derived(srv.URL))
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // well into the encoding
	srv.kill()
	if ents, _ := os.ReadDir(filepath.Join(data, "work")); len(ents) == 0 {
		t.Log("note: the kill came before ffmpeg wrote anything")
	}

	srv = startServer(t, data, 0)
	deadline = time.Now().Add(3 * time.Minute)
	for {
		d := derived(srv.URL)
		if d["review"] == "done" && d["audio"] == "done" && d["poster"] == "done" && d["thumbnails"] == "done" {
			break
		}
		if strings.HasPrefix(d["review"], "failed") || time.Now().After(deadline) {
			t.Fatalf("after the restart: %v\n%s", d, srv.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}

	if !strings.Contains(srv.logs.String(), "jobs interrupted by a restart queued again") {
		t.Errorf("the restarted server did not pick up the interrupted job:\n%s", srv.logs)
	}

	// The review copy plays: H.264, the whole minute.
	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/evidence/"+rc.ID+"/review", nil)
	req.Header.Set("Authorization", "Bearer "+rc.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	review := filepath.Join(dir, "review.mp4")
	f, _ := os.Create(review)
	io.Copy(f, resp.Body)
	f.Close()
	resp.Body.Close()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name:format=duration", "-of", "csv=p=0", review).Output()
	if err != nil || !strings.HasPrefix(string(out), "h264") || !strings.Contains(string(out), "\n60.") && !strings.Contains(string(out), "\n59.9") {
		t.Errorf("review copy: %v %q (content type %s)", err, out, resp.Header.Get("Content-Type"))
	}

	// Made and logged once.
	var custody struct {
		Events []struct {
			Type    string
			Details map[string]string
		}
	}
	if err := getJSON(srv.URL+"/api/v1/evidence/"+rc.ID+"/custody", rc.AccessToken, &custody); err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range custody.Events {
		if e.Type == "derived" {
			count[e.Details["kind"]]++
		}
	}
	for _, k := range []string{"audio", "poster", "thumbnails", "review"} {
		if count[k] != 1 {
			t.Errorf("%d derived events for the %s, want 1 (%v)", count[k], k, count)
		}
	}
	srv.kill()
	if ents, _ := os.ReadDir(filepath.Join(data, "work")); len(ents) != 0 {
		t.Errorf("the work folder keeps %d entries after the jobs finished", len(ents))
	}
	if out, _, err := sightline(t, append([]string{"audit", "--data", data}, stores(t, data)...)...); err != nil || !strings.HasSuffix(out, "; 0 problems\n") {
		t.Errorf("audit: %v %s", err, out)
	}
}
