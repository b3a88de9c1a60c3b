package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/blob/s3test"
	"github.com/sightline/sightline/internal/db/pgtest"
)

// `sightline migrate` moves a stopped embedded installation onto
// PostgreSQL and S3, `sightline audit` finds the new one sound, and the
// new server serves what the old one held.
func TestMigrateCommand(t *testing.T) {
	old := t.TempDir()
	srv := startServer(t, old, 0)
	dir := t.TempDir()
	var files []string
	for _, seed := range []string{"1", "2", "3"} {
		files = append(files, cliUpload(t, srv.URL, dir, "clip"+seed+".mp4", seed))
	}
	deadline := time.Now().Add(3 * time.Minute)
	for _, f := range files {
		rc := readReceipt(t, f)
		for derivedEvents(t, srv.URL, rc)["fingerprint"] == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("the jobs of %s did not finish", rc.ID)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	srv.stop()

	to := t.TempDir()
	database, bucket := pgtest.New(t), s3test.New(t)
	stores := []string{"--database", database, "--blobs", bucket}
	out, errOut, err := sightline(t, append([]string{"migrate", "--from-data", old, "--data", to}, stores...)...)
	if err != nil || !strings.Contains(out, "migrate: ") || !strings.Contains(out, " evidence ") {
		t.Fatalf("migrate: %v\n%s%s", err, out, errOut)
	}
	if out, _, err := sightline(t, append([]string{"audit", "--data", to}, stores...)...); err != nil || !strings.Contains(out, " 3 evidence records") || !strings.HasSuffix(out, "; 0 problems\n") {
		t.Fatalf("audit of the new installation: %v %s", err, out)
	}
	if _, errOut, err := sightline(t, append([]string{"migrate", "--from-data", old, "--data", to}, stores...)...); err == nil || !strings.Contains(errOut, "already holds") {
		t.Errorf("a second migration into the same folder: %v %s", err, errOut)
	}
	moved := startServer(t, to, 0, stores...)
	for _, f := range files {
		rc := readReceipt(t, f)
		if n := derivedEvents(t, moved.URL, rc); n["poster"] != 1 {
			t.Errorf("%s after the move: derived events %v", rc.ID, n)
		}
		if _, err := bearer("GET", moved.URL+"/api/v1/evidence/"+rc.ID+"/original", rc.AccessToken, "", 200); err != nil {
			t.Errorf("original of %s after the move: %v", rc.ID, err)
		}
	}
}
