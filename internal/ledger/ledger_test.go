package ledger_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"

	"github.com/sightline/sightline/internal/ledger"
	"github.com/sightline/sightline/internal/ledger/witnesstest"
	"github.com/sightline/sightline/verify"
)

const origin = "test.sightline.example/log"

// historyFile is a checkpoint history in the file at path, closed after
// the test.
func historyFile(t *testing.T, path string) *ledger.HistoryFile {
	h := ledger.NewHistoryFile(path)
	t.Cleanup(func() { h.Close() })
	return h
}

func open(t *testing.T, dir string) *ledger.Log {
	t.Helper()
	l, err := ledger.Open(t.Context(), ledger.Config{
		Storage: ledger.Folder(filepath.Join(dir, "log")), KeyFile: filepath.Join(dir, "log.key"), Origin: origin,
		CheckpointInterval: 200 * time.Millisecond, BatchMaxAge: 10 * time.Millisecond,
		History: historyFile(t, filepath.Join(dir, "history")), HistoryEvery: time.Hour,
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
	_, err := ledger.Open(t.Context(), ledger.Config{Storage: ledger.Folder(filepath.Join(dir, "log")), KeyFile: filepath.Join(dir, "log.key"), Origin: "other.example/log"})
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

// event is a custody event about a made-up file, in the shape verify reads.
func event(i int) []byte {
	return fmt.Appendf(nil, `{"type":"received","evidence":{"id":"ev%d","sha256":"%064x"},"actor":"test","at":"2026-11-21T10:00:00Z"}`, i, i)
}

// A receipt refreshed twice carries both earlier checkpoints, each proved
// consistent with the latest; the proofs are RFC 6962 consistency proofs
// that the verify package (x/mod's tlog) checks, and a receipt that is not
// the log's own is refused.
func TestRefresh(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir)
	defer l.Close(t.Context())
	appendN := func(from, n int) (last uint64) {
		for i := from; i < from+n; i++ {
			idx, err := l.Append(t.Context(), event(i))
			if err != nil {
				t.Fatal(err)
			}
			last = idx
		}
		return last
	}
	appendN(0, 3)
	idx, err := l.Append(t.Context(), event(3))
	if err != nil {
		t.Fatal(err)
	}
	sha := fmt.Sprintf("%064x", 3)
	r0, err := l.Receipt(t.Context(), idx, sha, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(r0.Earlier) != 0 {
		t.Fatalf("a new receipt has earlier checkpoints: %v", r0.Earlier)
	}

	last := appendN(4, 300)
	if _, err := l.AwaitCheckpoint(t.Context(), last); err != nil {
		t.Fatal(err)
	}
	r1, err := l.Refresh(t.Context(), r0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := verify.Check(r1, l.VerifierKey())
	if err != nil {
		t.Fatalf("refreshed receipt: %v", err)
	}
	if res.TreeSize < last+1 || len(res.Earlier) != 1 || res.Earlier[0] != r0size(t, l, r0) || r1.Entry != r0.Entry || r1.Index != r0.Index {
		t.Fatalf("refreshed: size %d, earlier %v; want ≥ %d and [%d]", res.TreeSize, res.Earlier, last+1, r0size(t, l, r0))
	}

	last = appendN(304, 10)
	if _, err := l.AwaitCheckpoint(t.Context(), last); err != nil {
		t.Fatal(err)
	}
	r2, err := l.Refresh(t.Context(), r1)
	if err != nil {
		t.Fatal(err)
	}
	res2, err := verify.Check(r2, l.VerifierKey())
	if err != nil || len(res2.Earlier) != 2 || res2.Earlier[1] != res.TreeSize {
		t.Fatalf("refreshed twice: %v, earlier %v; want [%d %d]", err, res2.Earlier, res.Earlier[0], res.TreeSize)
	}

	// Refreshing when nothing was added changes nothing but is no error.
	r3, err := l.Refresh(t.Context(), r2)
	if err != nil || len(r3.Earlier) != 2 {
		t.Fatalf("refresh without growth: %v, %d earlier", err, len(r3.Earlier))
	}

	// A tampered consistency proof fails verification.
	bad := r2
	bad.Earlier = append([]verify.Earlier(nil), r2.Earlier...)
	bad.Earlier[0].ConsistencyProof = append([]string(nil), bad.Earlier[0].ConsistencyProof...)
	h, _ := base64.StdEncoding.DecodeString(bad.Earlier[0].ConsistencyProof[0])
	h[0] ^= 1
	bad.Earlier[0].ConsistencyProof[0] = base64.StdEncoding.EncodeToString(h)
	if _, err := verify.Check(bad, l.VerifierKey()); !errors.Is(err, verify.ErrProof) {
		t.Errorf("tampered consistency proof: %v, want ErrProof", err)
	}

	// A receipt from another log is not refreshed.
	other := open(t, t.TempDir())
	defer other.Close(t.Context())
	oi, _ := other.Append(t.Context(), event(1))
	foreign, err := other.Receipt(t.Context(), oi, fmt.Sprintf("%064x", 1), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Refresh(t.Context(), foreign); !errors.Is(err, ledger.ErrNotOurs) {
		t.Errorf("refreshing another log's receipt: %v, want ErrNotOurs", err)
	}
}

func r0size(t *testing.T, l *ledger.Log, r verify.Receipt) uint64 {
	t.Helper()
	v, _ := note.NewVerifier(l.VerifierKey())
	cp, err := verify.OpenCheckpoint([]byte(r.Checkpoint), v)
	if err != nil {
		t.Fatal(err)
	}
	return cp.Size
}

// The history keeps the checkpoint the log opens with, each handed out in
// a receipt and the last on close, all signed by the log and growing; a
// line cut short by a crash is dropped when the log opens again.
func TestHistory(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir)
	for i := range 5 {
		idx, err := l.Append(t.Context(), event(i))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Receipt(t.Context(), idx, fmt.Sprintf("%064x", i), 1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Append(t.Context(), event(5)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	v, _ := note.NewVerifier(l.VerifierKey())
	sizes := func() []uint64 {
		var out []uint64
		for cp, err := range ledger.History(t.Context(), ledger.NewHistoryFile(filepath.Join(dir, "history")), v) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, cp.Size)
		}
		return out
	}
	got := sizes()
	if len(got) != 6 || got[0] != 1 || got[5] != 6 {
		t.Fatalf("history sizes %v; want 1..6 (5 receipts, then the last on close)", got)
	}

	f, err := os.OpenFile(filepath.Join(dir, "history"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"checkpoint":"` + origin + `\n7\n`)
	f.Close()
	l = open(t, dir)
	if _, err := l.Append(t.Context(), event(6)); err != nil {
		t.Fatal(err)
	}
	l.Close(t.Context())
	if got := sizes(); len(got) != 7 || got[6] != 7 {
		t.Fatalf("after a torn line, history sizes %v; want it dropped and 7 kept", got)
	}
}

// A pin proves entries against the checkpoint it holds, however far the
// log has grown since: inclusion in it, and its consistency with every
// checkpoint kept before it. Made again at the same size, it gives the
// same proofs; a size the log never kept is refused.
func TestPin(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir)
	defer l.Close(t.Context())
	for i := range 5 {
		if _, err := l.Append(t.Context(), event(i)); err != nil {
			t.Fatal(err)
		}
	}
	early, err := l.Receipt(t.Context(), 2, fmt.Sprintf("%064x", 2), 2)
	if err != nil {
		t.Fatal(err)
	}
	appendAll(t, l, 5, 300) // past a whole tile: the pinned tiles are partial ones
	pin, err := l.Pin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if pin.Size != 300 || pin.At.IsZero() {
		t.Fatalf("pinned size %d at %v, want 300 and a time", pin.Size, pin.At)
	}
	appendAll(t, l, 300, 700)
	again, err := l.PinAt(t.Context(), 300)
	if err != nil {
		t.Fatal(err)
	}
	if string(again.Note) != string(pin.Note) || !again.At.Equal(pin.At) {
		t.Error("the pin made again differs")
	}
	r, err := again.Receipt(t.Context(), 299, shaAt(t, l, 299), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verify.Check(r, l.VerifierKey()); err != nil {
		t.Errorf("a receipt in the pinned checkpoint: %v", err)
	}
	// The checkpoint the early receipt was issued with, proved consistent
	// with the pinned one.
	var earlySize uint64
	for _, k := range must(l.Kept(t.Context())) {
		if string(k.Note) == early.Checkpoint {
			earlySize = k.Size
		}
	}
	if earlySize == 0 {
		t.Fatal("the checkpoint of a receipt handed out is not kept")
	}
	proof, err := again.Consistency(t.Context(), earlySize)
	if err != nil {
		t.Fatal(err)
	}
	r.Earlier = []verify.Earlier{{Checkpoint: early.Checkpoint, ConsistencyProof: proof}}
	r, err = again.Receipt(t.Context(), 2, early.SHA256, 2)
	if err != nil {
		t.Fatal(err)
	}
	r.Earlier = []verify.Earlier{{Checkpoint: early.Checkpoint, ConsistencyProof: proof}}
	if res, err := verify.Check(r, l.VerifierKey()); err != nil || len(res.Earlier) != 1 {
		t.Errorf("consistency with the early checkpoint: %v %v", res.Earlier, err)
	}
	if _, err := l.PinAt(t.Context(), 301); !errors.Is(err, ledger.ErrNotKept) {
		t.Errorf("a size never kept: %v", err)
	}
	if _, err := again.Receipt(t.Context(), 300, shaAt(t, l, 300), 1); err == nil {
		t.Error("an entry after the pin was proved in it")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// appendAll appends events from to to, at once: their order does not
// matter, only that they are in.
func appendAll(t *testing.T, l *ledger.Log, from, to int) {
	t.Helper()
	var wg sync.WaitGroup
	for i := from; i < to; i++ {
		wg.Go(func() {
			if _, err := l.Append(t.Context(), event(i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

// shaAt is the SHA-256 the entry at index names.
func shaAt(t *testing.T, l *ledger.Log, index uint64) string {
	t.Helper()
	b, err := l.Entry(t.Context(), index)
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Evidence struct{ SHA256 string } }
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return e.Evidence.SHA256
}

// A log with a 2-of-3 policy over real witnesses (two litewitness, one
// omniwitness) publishes checkpoints the quorum cosigned: a receipt's
// checkpoint meets the policy offline, with the policy alone.
func TestWitnessedCheckpoints(t *testing.T) {
	wt := newWitnessed(t)
	dir, keyFile, vkey, policy := wt.dir, wt.keyFile, wt.vkey, wt.policy
	l, err := ledger.Open(t.Context(), ledger.Config{
		Storage: ledger.Folder(filepath.Join(dir, "log")), KeyFile: keyFile, Origin: origin,
		CheckpointInterval: 200 * time.Millisecond, BatchMaxAge: 10 * time.Millisecond,
		History: historyFile(t, filepath.Join(dir, "history")), HistoryEvery: time.Hour, WitnessPolicy: policy,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(t.Context())
	idx, err := l.Append(t.Context(), event(1))
	if err != nil {
		t.Fatal(err)
	}
	r, err := l.Receipt(t.Context(), idx, shaAt(t, l, idx), 1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := verify.ParsePolicy(policy)
	if err != nil {
		t.Fatal(err)
	}
	w, err := p.Check([]byte(r.Checkpoint))
	if err != nil || len(w.Signed) < 2 {
		t.Fatalf("the receipt's checkpoint: %v, signed by %v\n%s", err, w.Signed, r.Checkpoint)
	}
	if _, err := verify.Check(r, vkey); err != nil {
		t.Errorf("the cosigned receipt does not verify with the log's key: %v", err)
	}
	// A refreshed receipt and a package's pin hold cosigned checkpoints
	// too.
	if _, err := l.Append(t.Context(), event(2)); err != nil {
		t.Fatal(err)
	}
	refreshed, err := l.Refresh(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	if _, w, err := verify.CheckWitnessed(refreshed, p); err != nil || len(w.Signed) < 2 {
		t.Errorf("the refreshed receipt: %v %v", err, w.Signed)
	}
	pin, err := l.Pin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Check(pin.Note); err != nil {
		t.Errorf("the pinned checkpoint: %v", err)
	}
}

// With one of three witnesses down a 2-of-3 log goes on; with two down it
// publishes no checkpoint, though what it acknowledged is sequenced; once
// they are back, a checkpoint the quorum cosigned covers everything.
func TestWitnessOutage(t *testing.T) {
	wt := newWitnessed(t)
	dir, keyFile, ws, policy := wt.dir, wt.keyFile, wt.ws, wt.policy
	p, _ := verify.ParsePolicy(policy)
	l, err := ledger.Open(t.Context(), ledger.Config{
		Storage: ledger.Folder(filepath.Join(dir, "log")), KeyFile: keyFile, Origin: origin,
		CheckpointInterval: 200 * time.Millisecond, BatchMaxAge: 10 * time.Millisecond,
		History: historyFile(t, filepath.Join(dir, "history")), HistoryEvery: time.Hour,
		WitnessPolicy: policy, WitnessTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(t.Context())
	witnessed := func(i int) []string {
		t.Helper()
		idx, err := l.Append(t.Context(), event(i))
		if err != nil {
			t.Fatal(err)
		}
		r, err := l.Receipt(t.Context(), idx, shaAt(t, l, idx), 1)
		if err != nil {
			t.Fatal(err)
		}
		w, err := p.Check([]byte(r.Checkpoint))
		if err != nil {
			t.Fatalf("entry %d: %v", idx, err)
		}
		return w.Signed
	}
	witnessed(1)
	ws[0].Stop()
	if signed := witnessed(2); slices.Contains(signed, "lite1.test") || len(signed) != 2 {
		t.Errorf("with lite1 down, signed by %v", signed)
	}
	ws[2].Stop()
	idx, err := l.Append(t.Context(), event(3))
	if err != nil {
		t.Fatalf("an append with the quorum down was not acknowledged: %v", err)
	}
	if _, err := l.Receipt(t.Context(), idx, shaAt(t, l, idx), 1); !errors.Is(err, ledger.ErrUnwitnessed) {
		t.Fatalf("a receipt with the quorum down: %v", err)
	}
	if st, err := l.Status(t.Context()); err != nil || !st.Stalled || st.Pending == 0 || !strings.Contains(st.Why, "has 1 of the 2") && !strings.Contains(st.Why, "not cosigned") {
		t.Errorf("the status with the quorum down: %+v %v", st, err)
	}
	ws[0].Start()
	ws[2].Start()
	if signed := witnessed(4); len(signed) < 2 {
		t.Errorf("after the outage, signed by %v", signed)
	}
	if _, err := l.AwaitCheckpoint(t.Context(), idx); err != nil {
		t.Errorf("the entry logged in the outage is not covered after it: %v", err)
	}
}

// A split view: a second log with the same key and origin but other
// entries (its operator lying) is refused by every witness, so it
// publishes nothing; a checkpoint its operator signs alone does not meet
// the policy.
func TestSplitViewIsRefused(t *testing.T) {
	wt := newWitnessed(t)
	dir, keyFile, skey, policy := wt.dir, wt.keyFile, wt.skey, wt.policy
	p, _ := verify.ParsePolicy(policy)
	open := func(name string) (*ledger.Log, error) {
		return ledger.Open(t.Context(), ledger.Config{
			Storage: ledger.Folder(filepath.Join(dir, name)), KeyFile: keyFile, Origin: origin,
			CheckpointInterval: 200 * time.Millisecond, BatchMaxAge: 10 * time.Millisecond,
			History: historyFile(t, filepath.Join(dir, name+".history")), HistoryEvery: time.Hour,
			WitnessPolicy: policy, WitnessTimeout: 2 * time.Second,
		})
	}
	honest, err := open("honest")
	if err != nil {
		t.Fatal(err)
	}
	defer honest.Close(t.Context())
	for i := range 3 {
		idx, err := honest.Append(t.Context(), event(i))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := honest.AwaitCheckpoint(t.Context(), idx); err != nil {
			t.Fatal(err)
		}
	}

	// The same key and origin, other entries.
	liar, err := open("liar")
	if err == nil {
		defer liar.Close(t.Context())
		idx, err := liar.Append(t.Context(), []byte(`{"type":"received","evidence":{"id":"forged","sha256":"`+strings.Repeat("f", 64)+`"},"actor":"x","at":"2026-11-21T10:00:00Z"}`))
		if err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(t.Context(), 4*time.Second)
		cp, err := liar.AwaitCheckpoint(short, idx)
		cancel()
		if err == nil {
			t.Fatalf("the split view published a checkpoint:\n%s", cp)
		}
	}
	// What its operator can sign alone fails the policy.
	s, _ := note.NewSigner(skey)
	forged, err := note.Sign(&note.Note{Text: origin + "\n1\n" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n"}, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Check(forged); !errors.Is(err, verify.ErrQuorum) || !strings.Contains(err.Error(), "0 of the 2") {
		t.Errorf("a checkpoint only the log signed: %v", err)
	}
}

// witnessed is a log key and three real witnesses of it (two
// litewitness, one omniwitness) under a 2-of-3 policy.
type witnessed struct {
	dir, keyFile, skey, vkey string
	ws                       []*witnesstest.Witness
	policy                   []byte
}

func newWitnessed(t *testing.T) witnessed {
	t.Helper()
	w := witnessed{dir: t.TempDir()}
	w.keyFile = filepath.Join(w.dir, "log.key")
	var err error
	if w.skey, w.vkey, err = note.GenerateKey(rand.Reader, origin); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.keyFile, []byte(w.skey), 0o600); err != nil {
		t.Fatal(err)
	}
	w.ws = []*witnesstest.Witness{
		witnesstest.Litewitness(t, "lite1.test", origin, w.vkey),
		witnesstest.Litewitness(t, "lite2.test", origin, w.vkey),
		witnesstest.Omniwitness(t, "omni.test", origin, w.vkey),
	}
	w.policy = witnesstest.Policy(w.vkey, 2, w.ws...)
	return w
}
