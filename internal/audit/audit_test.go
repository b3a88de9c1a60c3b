package audit_test

import (
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	_ "modernc.org/sqlite"

	"github.com/sightline/sightline/internal/audit"
	"github.com/sightline/sightline/internal/ledger"
	"github.com/sightline/sightline/internal/media/mediatest"
	"github.com/sightline/sightline/internal/server"
	"github.com/sightline/sightline/internal/server/servertest"
)

// dataFolder makes a data folder with three uploads (two of the same
// bytes) and a read, then stops the server.
func dataFolder(t *testing.T) string {
	env := servertest.Start(t, inFolder)
	for i, seed := range []uint64{1, 2, 2} {
		data := mediatest.NoiseWAV(100_000+int(seed), seed)
		u := env.Create(int64(len(data)), map[string]string{"source": "dashcam"})
		if resp, body := env.Patch(u, 0, data); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("upload %d: %d %s", i, resp.StatusCode, body)
		}
		r := env.Receipt(u)
		if _, err := env.Client().Receipt(t.Context(), r.ID, r.AccessToken); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			req, _ := http.NewRequest("GET", env.URL+"/api/v1/evidence/"+r.ID+"/original", nil)
			req.Header.Set("Authorization", "Bearer "+r.AccessToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}
	env.Stop()
	return env.Data
}

// clone copies a data folder, so that each tamper test starts clean.
func clone(t *testing.T, dir string) string {
	out := filepath.Join(t.TempDir(), "data")
	if b, err := exec.Command("cp", "-a", dir, out).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, b)
	}
	return out
}

// inFolder keeps a test server's database (SQLite) and blobs in its data
// folder whatever backends the other tests run on: these tests copy a data
// folder to tamper with each copy, database, blobs and log included.
func inFolder(c *server.Config) { c.Database, c.Blobs, c.SharedLog = "", nil, nil }

func run(t *testing.T, dir string) *audit.Report {
	t.Helper()
	r, err := audit.Run(t.Context(), server.AuditPaths(dir))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAudit(t *testing.T) {
	base := dataFolder(t)
	clean := run(t, base)
	if len(clean.Problems) != 0 || clean.Evidence != 3 || clean.Blobs != 2 || clean.Entries != 4 || clean.Checkpoints < 3 {
		t.Fatalf("clean folder: %+v", clean)
	}

	tests := []struct {
		name    string
		tamper  func(t *testing.T, dir string)
		concern string // a problem must concern this
	}{
		{"a byte of an original flipped", func(t *testing.T, dir string) {
			paths, _ := filepath.Glob(filepath.Join(dir, "blobs", "sha256", "*", "*"))
			os.Chmod(paths[0], 0o600)
			b, _ := os.ReadFile(paths[0])
			b[len(b)/2] ^= 1
			os.WriteFile(paths[0], b, 0o600)
		}, "blob "},
		{"an evidence row's hash edited", func(t *testing.T, dir string) {
			d, err := sql.Open("sqlite", filepath.Join(dir, "sightline.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if _, err := d.Exec(`UPDATE evidence SET sha256 = ? WHERE rowid = 1`, strings.Repeat("ab", 32)); err != nil {
				t.Fatal(err)
			}
		}, "evidence "},
		{"a wrong SHA-512 kept for packages", func(t *testing.T, dir string) {
			d, err := sql.Open("sqlite", filepath.Join(dir, "sightline.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if _, err := d.Exec(`INSERT INTO blob_digests SELECT sha256, ? FROM evidence LIMIT 1`, strings.Repeat("cd", 64)); err != nil {
				t.Fatal(err)
			}
		}, "blob "},
		{"a tile edited", func(t *testing.T, dir string) {
			paths, _ := filepath.Glob(filepath.Join(dir, "log", "tile", "0", "*.p", "*"))
			if len(paths) == 0 {
				t.Fatal("no level-0 tile")
			}
			b, _ := os.ReadFile(paths[len(paths)-1])
			b[0] ^= 1
			os.WriteFile(paths[len(paths)-1], b, 0o644)
		}, "log tiles"},
		{"an entry bundle removed", func(t *testing.T, dir string) {
			paths, _ := filepath.Glob(filepath.Join(dir, "log", "tile", "entries", "*.p", "*"))
			if len(paths) == 0 {
				t.Fatal("no entry bundle")
			}
			os.Remove(paths[len(paths)-1])
		}, "log entries"},
		{"the checkpoint signed by another key", func(t *testing.T, dir string) {
			raw, _ := os.ReadFile(filepath.Join(dir, "log", "checkpoint"))
			body := string(raw)[:strings.Index(string(raw), "\n\n")+1]
			origin := body[:strings.Index(body, "\n")]
			skey, _, _ := note.GenerateKey(rand.Reader, origin)
			s, _ := note.NewSigner(skey)
			forged, err := note.Sign(&note.Note{Text: body}, s)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, "log", "checkpoint"), forged, 0o644)
		}, "log checkpoint"},
		{"the log rebuilt and signed with its own key", func(t *testing.T, dir string) {
			// Same key, same size, other entries: tiles and checkpoint
			// agree, but not with the checkpoints the log signed before.
			forged := filepath.Join(t.TempDir(), "log")
			l, err := ledger.Open(t.Context(), ledger.Config{Storage: ledger.Folder(forged), KeyFile: filepath.Join(dir, "log.key"), CheckpointInterval: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 4 {
				if _, err := l.Append(t.Context(), fmt.Appendf(nil, "rewritten %d", i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
			os.RemoveAll(filepath.Join(dir, "log"))
			if err := os.Rename(forged, filepath.Join(dir, "log")); err != nil {
				t.Fatal(err)
			}
		}, "checkpoint history"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := clone(t, base)
			tc.tamper(t, dir)
			r := run(t, dir)
			t.Logf("problems: %v", r.Problems)
			for _, p := range r.Problems {
				if strings.HasPrefix(p.Concerns, tc.concern) {
					return
				}
			}
			t.Fatalf("audit did not notice; problems: %v", r.Problems)
		})
	}
}

// A changed file made from an original is named by its kind: a poster is
// not "the original".
func TestAuditNamesADerivedFileByItsKind(t *testing.T) {
	env := servertest.Start(t, inFolder)
	clip, err := os.ReadFile(mediatest.Clip(t, "clip.mp4", "3"))
	if err != nil {
		t.Fatal(err)
	}
	u := env.Create(int64(len(clip)), map[string]string{"source": "dashcam"})
	if resp, body := env.Patch(u, 0, clip); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	id := env.Receipt(u).ID
	env.RunJobs()
	env.WaitJob("poster", id)
	poster, err := env.Server.Derived().Get(t.Context(), id, "poster")
	if err != nil {
		t.Fatal(err)
	}
	path := env.BlobFile(poster.SHA256)
	env.Stop()
	os.Chmod(path, 0o600)
	b, _ := os.ReadFile(path)
	b[len(b)/2] ^= 1
	os.WriteFile(path, b, 0o600)
	r := run(t, env.Data)
	named := false
	for _, p := range r.Problems {
		if strings.Contains(p.Detail, "original") {
			t.Errorf("a changed poster called an original: %s", p)
		}
		named = named || p.Concerns == "poster of evidence "+id && strings.Contains(p.Detail, "its poster file "+poster.SHA256.String()+" has changed")
	}
	if !named {
		t.Errorf("the poster is not named; problems: %v", r.Problems)
	}
}

// The audit holds cases against the log: a history, an allegation or a
// finding changed in the database, not by a logged step, is a problem.
func TestAuditChecksCases(t *testing.T) {
	env := servertest.Start(t, inFolder)
	inv := env.StaffToken("inv.ortiz", "investigator", "ia", "")
	do := func(method, path, body string, want int) string {
		t.Helper()
		resp, out := env.Do(method, path, map[string]string{"Authorization": "Bearer " + inv}, []byte(body))
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, out)
		}
		return out
	}
	out := do("POST", "/api/v1/cases", `{}`, 201)
	id := out[strings.Index(out, `"id": "`)+7:]
	id = id[:strings.Index(id, `"`)]
	do("POST", "/api/v1/cases/"+id+"/status", `{"status":"acknowledged"}`, 204)
	out = do("POST", "/api/v1/cases/"+id+"/allegations", `{"officer_badge":"4521","category":"force"}`, 201)
	alg := out[strings.Index(out, `"id": "`)+7:]
	alg = alg[:strings.Index(alg, `"`)]
	do("POST", "/api/v1/cases/"+id+"/allegations/"+alg+"/findings", `{"stage":"recommended","finding":"sustained","basis":"b"}`, 204)
	env.Stop()
	if r := run(t, env.Data); len(r.Problems) != 0 || r.Cases != 1 {
		t.Fatalf("a clean folder with a case: %d cases, problems %v", r.Cases, r.Problems)
	}
	for name, stmt := range map[string]string{
		"a status set in the database": `UPDATE case_history SET status = 'closed' WHERE seq = 1`,
		"a finding changed":            `UPDATE findings SET finding = 'exonerated'`,
		"an allegation's kind changed": `UPDATE allegations SET category = 'bias'`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := clone(t, env.Data)
			d, err := sql.Open("sqlite", filepath.Join(dir, "sightline.db"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := d.Exec(stmt); err != nil {
				t.Fatal(err)
			}
			d.Close()
			r := run(t, dir)
			for _, p := range r.Problems {
				if strings.HasPrefix(p.Concerns, "case ") {
					return
				}
			}
			t.Fatalf("audit did not notice; problems: %v", r.Problems)
		})
	}
}
