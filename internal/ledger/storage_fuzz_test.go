package ledger_test

import (
	"path"
	"strings"
	"testing"

	"github.com/sightline/sightline/internal/ledger"
)

// A path from a request that ResourcePath lets through names a resource
// inside the log: clean, relative, the checkpoint or under tile/.
func FuzzResourcePath(f *testing.F) {
	for _, s := range []string{"checkpoint", "tile/0/000", "tile/entries/x001/234.p/5", "../log.key", "tile/../../etc/passwd", "tile//0", "/checkpoint", ".state/treeState", "tile/0/000.p/%2e%2e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if !ledger.ResourcePath(p) {
			return
		}
		if p != "checkpoint" && !strings.HasPrefix(p, "tile/") {
			t.Fatalf("%q passed but names neither the checkpoint nor a tile", p)
		}
		if path.Clean(p) != p || path.IsAbs(p) || strings.Contains(p, "..") || strings.ContainsAny(p, "\\\x00%") {
			t.Fatalf("%q passed but may leave the log's folder", p)
		}
	})
}
