package integration

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// A plain `go build ./cmd/sightline` (what TestMain does, with no make
// step before it) makes a binary that serves every script and stylesheet
// its pages name: nothing a page needs lives in an ignored folder that
// only a make target fills.
func TestPlainBuildServesEveryAsset(t *testing.T) {
	srv := startServer(t, t.TempDir(), 0)
	pages, err := filepath.Glob(filepath.Join(repoRoot, "internal/web/templates/*.html"))
	if err != nil || len(pages) == 0 {
		t.Fatalf("templates: %v", err)
	}
	ref := regexp.MustCompile(`(?:src|href)="(/static/[^"?#]+)"`)
	seen := map[string]bool{}
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ref.FindAllStringSubmatch(string(b), -1) {
			if seen[m[1]] {
				continue
			}
			seen[m[1]] = true
			resp, err := http.Get(srv.URL + m[1])
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || len(body) == 0 {
				t.Errorf("%s (named by %s): %d, %d bytes", m[1], filepath.Base(page), resp.StatusCode, len(body))
			}
		}
	}
	if !seen["/static/vendor/tus.min.js"] {
		t.Errorf("no page names the tus client; saw %v", seen)
	}
	// The vendored client is part of the source, not a build product.
	if _, err := exec.LookPath("git"); err == nil {
		cmd := exec.Command("git", "check-ignore", "-q", "internal/web/assets/vendor/tus.min.js")
		cmd.Dir = repoRoot
		if cmd.Run() == nil {
			t.Error("internal/web/assets/vendor/tus.min.js is ignored by git: a clean clone would build without it")
		}
	}
}
