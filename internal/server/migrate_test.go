package server_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/audit"
	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/blob/s3test"
	"github.com/sightline/sightline/internal/client"
	"github.com/sightline/sightline/internal/db/pgtest"
	"github.com/sightline/sightline/internal/media/mediatest"
	"github.com/sightline/sightline/internal/review"
	"github.com/sightline/sightline/internal/server"
	"github.com/sightline/sightline/internal/server/servertest"
	"github.com/sightline/sightline/verify"
)

// embedded keeps a test server on SQLite and its data folder's blobs/
// whatever backends the other tests run on.
func embedded(c *server.Config) { c.Database, c.Blobs, c.SharedLog = "", nil, nil }

// An embedded installation of fifty items with their derived files, an
// incident, a review (whose referral opened another incident and a case)
// moves onto PostgreSQL and S3: the audit of the new installation finds
// nothing wrong, a server on it serves the same items, receipts and
// review, and the old folder is byte for byte as it was.
func TestMigrateToPostgresAndS3(t *testing.T) {
	env := servertest.Start(t, embedded)
	env.RunJobs()
	civ, _ := uploadCivilian(t, env)
	var items []client.Receipt
	for i := range 49 {
		wav := mediatest.NoiseWAV(40_000+i, uint64(i+1))
		u := env.Create(int64(len(wav)), map[string]string{"source": "dashcam"})
		if resp, body := env.Patch(u, 0, wav); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("upload %d: %d %s", i, resp.StatusCode, body)
		}
		items = append(items, env.Receipt(u))
	}
	sgt := env.StaffToken("sgt.avila", account.Supervisor, "central", "301")
	createIncident(t, env, sgt)
	if got := claimCode(t, env, sgt, issueCode(t, env, civ.ID, civ.AccessToken)); got != 200 {
		t.Fatalf("claim: %d", got)
	}
	got, body := api(t, env, "POST", "/api/v1/evidence/"+civ.ID+"/reviews?reason=on-scene+review", sgt,
		`{"seen":"The officer pushed the driver.","outcome":"referred for internal review"}`)
	var rev review.Record
	if err := json.Unmarshal([]byte(body), &rev); got != 201 || err != nil || rev.Incident == "" {
		t.Fatalf("review: %d %s", got, body)
	}
	env.WaitIdle()
	env.Stop() // publishing a checkpoint of all it logged
	before, err := audit.Run(t.Context(), env.AuditPaths())
	if err != nil || len(before.Problems) != 0 || before.Evidence != 50 || before.Derived < 100 {
		t.Fatalf("the source: %v %+v", err, before)
	}
	old := env.Data
	sum := folderSum(t, old)

	to := t.TempDir()
	mv := server.Move{From: old, To: to, Database: pgtest.New(t), Blobs: s3test.New(t)}
	moved, err := server.Migrate(t.Context(), mv)
	if err != nil {
		t.Fatal(err)
	}
	if moved.Rows["evidence"] != 50 || moved.Rows["reviews"] != 1 || moved.Rows["incidents"] != 2 || moved.Blobs != before.Blobs {
		t.Errorf("moved %+v; the source had %d blobs", moved, before.Blobs)
	}
	if now := folderSum(t, old); !maps.Equal(now, sum) {
		for p := range now {
			if now[p] != sum[p] {
				t.Errorf("the migration changed %s in the old data folder", p)
			}
		}
		for p := range sum {
			if _, ok := now[p]; !ok {
				t.Errorf("the migration removed %s from the old data folder", p)
			}
		}
	}
	if _, err := server.Migrate(t.Context(), mv); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Errorf("a second migration into the same folder: %v", err)
	}

	paths := server.AuditPaths(to)
	paths.DB, paths.Blobs = mv.Database, mv.Blobs
	after, err := audit.Run(t.Context(), paths)
	if err != nil || len(after.Problems) != 0 {
		t.Fatalf("audit of the new installation: %v %v", err, after.Problems)
	}
	if after.Evidence != 50 || after.Derived != before.Derived || after.Entries != before.Entries || after.Blobs != before.Blobs || after.Cases != before.Cases {
		t.Errorf("audit: before %+v, after %+v", before, after)
	}

	// A server on the new backends serves the same installation, and goes on.
	moved2 := servertest.StartIn(t, to, func(c *server.Config) {
		b, err := server.OpenBlobs(t.Context(), to, mv.Blobs)
		if err != nil {
			t.Fatal(err)
		}
		// sightline migrate keeps the log a folder.
		c.Database, c.Blobs, c.SharedLog = mv.Database, b, nil
	})
	if _, s3 := moved2.Server.Blobs().(*blob.S3); !s3 || moved2.Server.Engine() != "postgres" {
		t.Fatalf("the new server runs on %s and %T", moved2.Server.Engine(), moved2.Server.Blobs())
	}
	for _, rc := range []client.Receipt{civ, items[0], items[48]} {
		r, err := moved2.Client().Receipt(t.Context(), rc.ID, rc.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := verify.Check(r, moved2.Server.Log().VerifierKey()); err != nil {
			t.Errorf("receipt of %s after the move: %v", rc.ID, err)
		}
		req, _ := http.NewRequest("GET", moved2.URL+"/api/v1/evidence/"+rc.ID+"/original", nil)
		req.Header.Set("Authorization", "Bearer "+rc.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		io.Copy(h, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || hex.EncodeToString(h.Sum(nil)) != rc.SHA256.String() {
			t.Errorf("original of %s after the move: %d", rc.ID, resp.StatusCode)
		}
	}
	var list struct{ Reviews []review.Record }
	if err := getJSONAs(moved2, "/api/v1/evidence/"+civ.ID+"/reviews", civ.AccessToken, &list); err != nil || len(list.Reviews) != 1 || list.Reviews[0].Document != rev.Document {
		t.Errorf("the review after the move: %v %+v", err, list)
	}
	createIncident(t, moved2, moved2.StaffToken("sgt.cole", account.Supervisor, "central", "302"))
}

// folderSum lists every file under dir with its content's SHA-256.
func folderSum(t *testing.T, dir string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := sha256.Sum256(b)
		sums[p] = hex.EncodeToString(s[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums
}
