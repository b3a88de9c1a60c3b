package integration

import (
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/blob/s3test"
	"github.com/sightline/sightline/internal/client"
	"github.com/sightline/sightline/internal/db/pgtest"
	"github.com/sightline/sightline/internal/media/mediatest"
	"github.com/sightline/sightline/internal/server/servertest"
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
	rc := readReceipt(t, file)
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
	count := derivedEvents(t, srv.URL, rc)
	for _, k := range []string{"audio", "poster", "thumbnails", "review"} {
		if count[k] != 1 {
			t.Errorf("%d derived events for the %s, want 1 (%v)", count[k], k, count)
		}
	}
	srv.kill()
	if ents, _ := os.ReadDir(filepath.Join(data, "work")); len(ents) != 0 {
		t.Errorf("the work folder keeps %d entries after the jobs finished", len(ents))
	}
	if servertest.Backends(t, data).LogDB != "" {
		// A shared log's servers integrate and publish what any of them
		// sequenced; with the only one killed, its last entries wait for
		// the next to run. The audit reads a quiet installation.
		startServer(t, data, 0).stop()
	}
	if out, _, err := sightline(t, append([]string{"audit", "--data", data}, stores(t, data)...)...); err != nil || !strings.HasSuffix(out, "; 0 problems\n") {
		t.Errorf("audit: %v %s", err, out)
	}
}

// Two servers on one PostgreSQL database and one S3 bucket (and, until
// the log has a shared store of its own, one log folder on this host) run
// the media jobs of eight recordings together. One is SIGKILLed while it
// makes a review copy: the other takes the job over once its lease runs
// out. Every file is made and logged exactly once, both servers did some
// of the work, and the audit passes.
func TestTwoServersShareTheJobs(t *testing.T) {
	database, bucket := pgtest.New(t), s3test.New(t)
	a, b := t.TempDir(), t.TempDir()
	stores := []string{"--database", database, "--blobs", bucket, "--log", filepath.Join(a, "log")}
	flags := append([]string{"--job-lease", "3s"}, stores...)
	srvA := startServer(t, a, 0, flags...)
	// b appends to a's log with a's key.
	copyFile(t, filepath.Join(a, "log.key"), filepath.Join(b, "log.key"))

	// Eight recordings; HEVC, so each needs a review copy, the longest
	// job. a receives them and starts on their jobs; then b starts too.
	// One picture, eight sounds: eight recordings made quickly, uploaded
	// at once.
	base := mediatest.Scene(t, "cam.mp4", 3, 0, 20, "-s", "640x360", "-c:v", "libx265", "-preset", "ultrafast", "-tag:v", "hvc1")
	var files []string
	for i := range 8 {
		file := filepath.Join(t.TempDir(), "cam.mp4")
		mux := exec.Command("ffmpeg", "-v", "error", "-f", "mov", "-i", base,
			"-f", "lavfi", "-i", fmt.Sprintf("anoisesrc=d=20:c=pink:a=0.3:seed=%d", 100+i),
			"-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-shortest", file)
		if out, err := mux.CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		files = append(files, file)
	}
	var receipts []client.Receipt
	for _, file := range files {
		if out, errOut, err := sightline(t, "upload", "--server", srvA.URL, "--source", "bodycam", "--state-dir", t.TempDir(), file); err != nil {
			t.Fatalf("upload: %v %s %s", err, out, errOut)
		}
		receipts = append(receipts, readReceipt(t, file))
	}
	srvB := startServer(t, b, 0, flags...)
	db, err := sql.Open("pgx", database)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	nameA, err := os.ReadFile(filepath.Join(a, "server-name"))
	if err != nil {
		t.Fatal(err)
	}
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(t.Context(), q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// a is killed while it makes a review copy and b works on a job too.
	deadline := time.Now().Add(3 * time.Minute)
	for count(`SELECT COUNT(*) FROM jobs WHERE state = 'running' AND kind = 'review' AND owner = $1`, string(nameA)) == 0 ||
		count(`SELECT COUNT(*) FROM jobs WHERE state = 'running' AND owner NOT IN ('', $1)`, string(nameA)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the two servers never worked at once:\n%s\n%s", srvA.logs, srvB.logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	srvA.kill()

	// b does the rest, a's review copy included: some forty jobs, on a
	// busy machine.
	deadline = time.Now().Add(10 * time.Minute)
	for count(`SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')`) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("jobs left after ten minutes:\n%s", srvB.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := count(`SELECT COUNT(*) FROM jobs WHERE state = 'failed'`); n > 0 {
		t.Fatalf("%d jobs failed:\n%s", n, srvB.logs)
	}
	if !strings.Contains(srvB.logs.String(), "job taken over from a server whose lease ran out") {
		t.Errorf("b took no job over:\n%s", srvB.logs)
	}
	if n := count(`SELECT COUNT(*) FROM jobs WHERE state = 'done' AND owner = $1`, string(nameA)); n == 0 {
		t.Error("a finished no job before it was killed: the servers did not share the work")
	}
	if n := count(`SELECT COUNT(*) FROM jobs WHERE state = 'done' AND owner <> $1`, string(nameA)); n == 0 {
		t.Error("b finished no job")
	}

	// Every file made and logged once, whichever server made it.
	for _, rc := range receipts {
		made := derivedEvents(t, srvB.URL, rc)
		for _, k := range []string{"audio", "poster", "thumbnails", "review", "fingerprint"} {
			if made[k] != 1 {
				t.Errorf("%s: %d derived events for the %s, want 1 (%v)", rc.ID, made[k], k, made)
			}
		}
		if n := count(`SELECT COUNT(*) FROM derived WHERE evidence_id = $1 AND log_index IS NOT NULL`, rc.ID); n != 5 {
			t.Errorf("%s: %d derived files logged, want 5", rc.ID, n)
		}
	}
	srvB.stop() // publishing what it logged
	if out, _, err := sightline(t, append([]string{"audit", "--data", b}, stores...)...); err != nil || !strings.HasSuffix(out, "; 0 problems\n") {
		t.Errorf("audit: %v %s", err, out)
	}
}

// derivedEvents counts the item's "derived" events by the kind of file.
func derivedEvents(t *testing.T, base string, rc client.Receipt) map[string]int {
	t.Helper()
	var custody struct {
		Events []struct {
			Type    string
			Details map[string]string
		}
	}
	if err := getJSON(base+"/api/v1/evidence/"+rc.ID+"/custody", rc.AccessToken, &custody); err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range custody.Events {
		if e.Type == "derived" {
			count[e.Details["kind"]]++
		}
	}
	return count
}
