package ledger_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"

	"github.com/sightline/sightline/internal/ledger"
)

const origin = "test.sightline.example/log"

func open(t *testing.T, dir string) *ledger.Log {
	t.Helper()
	l, err := ledger.Open(t.Context(), ledger.Config{
		Dir: filepath.Join(dir, "log"), KeyFile: filepath.Join(dir, "log.key"), Origin: origin,
		CheckpointInterval: 100 * time.Millisecond, BatchMaxAge: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Entries appended concurrently are all in the log, each provably included
// in a checkpoint signed by the log's key, and the log carries on at the
// next index after a restart.
func TestAppendProveRestart(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir)
	if fi, err := os.Stat(filepath.Join(dir, "log.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want 0600", err, fi.Mode())
	}
	verifier, err := note.NewVerifier(l.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}

	const n = 300
	entries := make([][]byte, n)
	indices := make([]uint64, n)
	var wg sync.WaitGroup
	for i := range n {
		entries[i] = fmt.Appendf(nil, `{"type":"received","n":%d}`, i)
		wg.Go(func() {
			idx, err := l.Append(t.Context(), entries[i])
			if err != nil {
				t.Error(err)
			}
			indices[i] = idx
		})
	}
	wg.Wait()
	seen := map[uint64]bool{}
	var maxIdx uint64
	for _, idx := range indices {
		if seen[idx] {
			t.Fatalf("index %d given twice", idx)
		}
		seen[idx] = true
		maxIdx = max(maxIdx, idx)
	}

	cpRaw, err := l.AwaitCheckpoint(t.Context(), maxIdx)
	if err != nil {
		t.Fatal(err)
	}
	cp, _, _, err := log.ParseCheckpoint(cpRaw, origin, verifier)
	if err != nil {
		t.Fatalf("checkpoint does not verify with the log's key: %v", err)
	}
	if cp.Size < n {
		t.Fatalf("checkpoint size %d < %d", cp.Size, n)
	}
	fetch := client.FileFetcher{Root: filepath.Join(dir, "log")}
	pb, err := client.NewProofBuilder(t.Context(), cp.Size, fetch.ReadTile)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 1, 255, 256, n - 1} {
		p, err := pb.InclusionProof(t.Context(), indices[i])
		if err != nil {
			t.Fatal(err)
		}
		leaf := rfc6962.DefaultHasher.HashLeaf(entries[i])
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, indices[i], cp.Size, leaf, p, cp.Hash); err != nil {
			t.Errorf("entry %d at index %d: %v", i, indices[i], err)
		}
	}
	if err := l.Close(t.Context()); err != nil {
		t.Fatal(err)
	}

	l = open(t, dir)
	defer l.Close(t.Context())
	idx, err := l.Append(t.Context(), []byte(`{"type":"viewed"}`))
	if err != nil || idx != cp.Size {
		t.Fatalf("after a restart Append gave index %d (%v); want %d", idx, err, cp.Size)
	}
}

func TestOriginMustMatchKey(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir)
	l.Close(t.Context())
	_, err := ledger.Open(t.Context(), ledger.Config{Dir: filepath.Join(dir, "log"), KeyFile: filepath.Join(dir, "log.key"), Origin: "other.example/log"})
	if err == nil {
		t.Fatal("opened a log whose key signs for another origin")
	}
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir)
	defer l.Close(t.Context())
	var want uint64
	var wg sync.WaitGroup
	for i := range 600 {
		wg.Go(func() {
			idx, err := l.Append(t.Context(), fmt.Appendf(nil, "entry %d", i))
			if err != nil {
				t.Error(err)
			}
			if i == 300 {
				want = idx
			}
		})
	}
	wg.Wait()
	for _, from := range []uint64{0, want - want%256, want} {
		got, ok, err := l.Find(t.Context(), []byte("entry 300"), from)
		if err != nil || !ok || got != want {
			t.Errorf("Find from %d = %d, %v, %v; want %d", from, got, ok, err, want)
		}
	}
	if _, ok, _ := l.Find(t.Context(), []byte("entry 300"), want+1); ok {
		t.Error("Find looked before its starting index")
	}
	if _, ok, _ := l.Find(t.Context(), []byte("never appended"), 0); ok {
		t.Error("Find found an entry that was never appended")
	}
}
