package durable_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sightline/sightline/internal/durable"
)

// SyncDir is for folders: fsync of a file would not make its name durable,
// so a file given by mistake is an error, not a silent no-op.
func TestSyncDirTakesOnlyFolders(t *testing.T) {
	dir := t.TempDir()
	if err := durable.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := durable.SyncDir(file); err == nil {
		t.Error("SyncDir of a file succeeded")
	}
}
