package blob_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/blob/blobtest"
)

func TestLocal(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, err := blob.NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestLocalLeavesNoTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := blob.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("evidence")
	if err := s.Put(t.Context(), blob.Sum([]byte("other")), bytes.NewReader(data)); err == nil {
		t.Fatal("mismatched Put succeeded")
	}
	if err := s.Put(t.Context(), blob.Sum(data), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(dir, "tmp"))
	if err != nil || len(ents) != 0 {
		t.Fatalf("tmp holds %d entries (%v), want none", len(ents), err)
	}
	fi, err := os.Stat(s.Path(blob.Sum(data)))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o222 != 0 {
		t.Errorf("blob file mode %v is writable; originals must be read-only", fi.Mode())
	}
}

func TestParseRef(t *testing.T) {
	good := blob.Sum([]byte("x"))
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{good.String(), true},
		{"", false},
		{good.String()[:63], false},
		{good.String() + "0", false},
		{"G" + good.String()[1:], false},
		{"A" + good.String()[1:], false}, // upper case is not canonical
	} {
		r, err := blob.ParseRef(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseRef(%q) error = %v, want ok=%v", tc.in, err, tc.ok)
		}
		if tc.ok && r != good {
			t.Errorf("ParseRef(%q) = %s", tc.in, r)
		}
	}
}
