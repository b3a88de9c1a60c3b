package ledger_test

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/blob/s3test"
	"github.com/sightline/sightline/internal/db"
	"github.com/sightline/sightline/internal/ledger"
	"github.com/sightline/sightline/internal/ledger/mariadbtest"
	"github.com/sightline/sightline/verify"
)

// Three servers append to one shared log at once (tessera's storage/aws
// driver on a real S3 server and MariaDB): every entry gets its own index,
// the indexes leave no gap, a receipt from any server verifies for an
// entry any server appended, the history all keep in one database stays
// consistent, and a server opened again carries on after the last entry.
func TestSharedLogManyWriters(t *testing.T) {
	bucket := s3test.New(t)
	c, err := blob.ParseS3URL(bucket)
	if err != nil {
		t.Fatal(err)
	}
	dsn := mariadbtest.New(t)
	skey, _, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	d, err := db.Open(t.Context(), filepath.Join(t.TempDir(), "sightline.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	open := func() *ledger.Log {
		t.Helper()
		shared, err := ledger.NewShared(t.Context(), c, dsn)
		if err != nil {
			t.Fatal(err)
		}
		l, err := ledger.Open(t.Context(), ledger.Config{
			Storage: shared, Key: skey, CheckpointInterval: 2 * time.Second,
			History: d.Checkpoints(), HistoryEvery: time.Hour,
		})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	logs := []*ledger.Log{open(), open(), open()}

	const each = 120
	type appended struct {
		entry []byte
		n     int // event(n)
		index uint64
	}
	var mu sync.Mutex
	var all []appended
	var wg sync.WaitGroup
	for w, l := range logs {
		for i := range each {
			wg.Go(func() {
				n := w*1000 + i
				idx, err := l.Append(t.Context(), event(n))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				all = append(all, appended{event(n), n, idx})
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	slices.SortFunc(all, func(a, b appended) int { return int(a.index) - int(b.index) })
	for i, a := range all {
		if a.index != uint64(i) {
			t.Fatalf("the %dth entry by index has index %d: indexes given twice or skipped", i, a.index)
		}
	}

	// Any server proves any entry, and reads the same entry there.
	var receipts []verify.Receipt
	for i, a := range all {
		if i%37 != 0 && i != len(all)-1 {
			continue
		}
		l := logs[i%len(logs)]
		got, err := l.Entry(t.Context(), a.index)
		if err != nil || string(got) != string(a.entry) {
			t.Fatalf("entry %d read back as %q (%v); appended %q", a.index, got, err, a.entry)
		}
		r, err := l.Receipt(t.Context(), a.index, fmt.Sprintf("%064x", a.n), 100)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := verify.Check(r, l.VerifierKey()); err != nil {
			t.Fatalf("receipt for entry %d from server %d: %v", a.index, i%len(logs), err)
		}
		receipts = append(receipts, r)
	}

	// More entries, then a receipt refreshed on another server proves the
	// old checkpoint consistent with the new one.
	var last uint64
	for i := range 10 {
		if last, err = logs[0].Append(t.Context(), event(5000+i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := logs[2].AwaitCheckpoint(t.Context(), last); err != nil {
		t.Fatal(err)
	}
	fresh, err := logs[2].Refresh(t.Context(), receipts[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verify.Check(fresh, logs[2].VerifierKey()); err != nil || len(fresh.Earlier) == 0 {
		t.Fatalf("refreshed receipt: %v, %d earlier checkpoints", err, len(fresh.Earlier))
	}

	// The checkpoints the servers kept are one history, each consistent
	// with the next (Pin checks them against the tiles).
	kept, err := logs[1].Kept(t.Context())
	if err != nil || len(kept) < 2 {
		t.Fatalf("history: %d checkpoints kept (%v); want several", len(kept), err)
	}
	for i := 1; i < len(kept); i++ {
		if kept[i].Size <= kept[i-1].Size {
			t.Fatalf("history out of order: size %d after %d", kept[i].Size, kept[i-1].Size)
		}
	}
	pin, err := logs[1].Pin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kept {
		if k.Size < pin.Size {
			if _, err := pin.Consistency(t.Context(), k.Size); err != nil {
				t.Fatal(err)
			}
		}
	}

	// A reader of the bucket alone (the audit, /log/) sees the checkpoint.
	tiles, err := ledger.OpenTiles(t.Context(), bucket)
	if err != nil {
		t.Fatal(err)
	}
	if cp, err := tiles.ReadResource(t.Context(), "checkpoint"); err != nil || len(cp) == 0 {
		t.Fatalf("checkpoint through the bucket: %q, %v", cp, err)
	}
	if _, err := tiles.ReadResource(t.Context(), "../sha256"); !os.IsNotExist(err) {
		t.Fatalf("a path outside the log: %v; want not found", err)
	}

	for _, l := range logs {
		if err := l.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	l := open()
	defer l.Close(t.Context())
	idx, err := l.Append(t.Context(), event(6000))
	if want := uint64(len(all) + 10); err != nil || idx != want {
		t.Fatalf("after a restart Append gave index %d (%v); want %d", idx, err, want)
	}
}
