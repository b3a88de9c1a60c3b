package integration

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/client"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/media/mediatest"
	"github.com/sightline/sightline/internal/server"
	"github.com/sightline/sightline/internal/server/servertest"
	"github.com/sightline/sightline/verify"
)

// The server is killed with SIGKILL at random moments, at least 20 times,
// while four writers keep uploading. After each restart: the log's new
// checkpoint covers every upload acknowledged before the kill and is
// consistent (by proofs from the served tiles) with every checkpoint seen
// before it; every acknowledged upload is evidence with a received event
// and a receipt that checks; and each upload's receipt, refreshed round
// after round, still carries on every checkpoint it was issued with. Every
// offset acknowledged must survive. At the end the data folder holds
// exactly the evidence, one log entry per upload, nothing half made, and
// the audit passes.
func TestSIGKILLLosesNothingAcknowledged(t *testing.T) {
	data := t.TempDir()
	port := freePort(t)
	srv := startServer(t, data, port)
	base := srv.URL
	vkey := logKey(t, data)
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	type upload struct {
		data []byte
		r    client.Receipt
	}
	var (
		mu       sync.Mutex
		started  [][]byte
		acked    []upload
		problems []string
		wg       sync.WaitGroup
	)
	stop := make(chan struct{})
	const writers = 4
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 3))
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				n := w*1000 + k
				b := mediatest.NoiseWAV(1<<20+rng.IntN(2<<20), uint64(n+1))
				mu.Lock()
				started = append(started, b)
				mu.Unlock()
				r, err := uploadThroughCrashes(ctx, base, b, n, 0)
				mu.Lock()
				if err != nil {
					problems = append(problems, fmt.Sprintf("upload %d: %v", n, err))
				} else if want := blob.Sum(b); r.SHA256 != want {
					problems = append(problems, fmt.Sprintf("upload %d: evidence sha256 %s, want %s", n, r.SHA256, want))
				} else {
					acked = append(acked, upload{b, r})
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}

	c := &client.Client{Server: base, HTTP: &http.Client{Timeout: 30 * time.Second}}
	var seen []tlog.Tree                  // every checkpoint seen after a restart
	latest := map[string]verify.Receipt{} // each upload's receipt, refreshed every round
	rng := rand.New(rand.NewPCG(1, 2))
	const rounds = 20
	// A replica of a shared log takes longer to start (it waits for the
	// log to integrate what the killed one sequenced): it is given longer
	// between kills, so that uploads move on as they do on a folder.
	shared := servertest.Backends(t, data).LogDB != ""
	between := time.Millisecond
	if shared {
		between = 4 * time.Millisecond
	}
	for round := 1; round <= rounds; round++ {
		time.Sleep(time.Duration(150+rng.IntN(300)) * between)
		mu.Lock()
		before := len(acked)
		mu.Unlock()
		srv.kill()
		time.Sleep(time.Duration(rng.IntN(100)) * time.Millisecond)
		srv = startServer(t, data, port)

		// The new checkpoint covers every upload acknowledged before the
		// kill, and extends every checkpoint seen before.
		get := httpGetter(t, base)
		cp := openCheckpoint(t, get("checkpoint"), verifier)
		if cp.N < int64(before) {
			t.Fatalf("round %d: the checkpoint after the restart has %d entries; %d uploads were acknowledged", round, cp.N, before)
		}
		hr := tlog.TileHashReader(cp, tileFetcher{get: get})
		for _, old := range seen {
			if old.N == 0 {
				continue // every tree extends the empty one
			}
			proof, err := tlog.ProveTree(cp.N, old.N, hr)
			if err == nil {
				err = tlog.CheckTree(proof, cp.N, cp.Hash, old.N, old.Hash)
			}
			if err != nil {
				t.Fatalf("round %d: the checkpoint of size %d is not consistent with the earlier one of size %d: %v", round, cp.N, old.N, err)
			}
		}
		seen = append(seen, cp)

		// Every acknowledged upload has its evidence, its received event
		// and a receipt that checks; refreshing its receipt keeps every
		// checkpoint it held.
		mu.Lock()
		done := slices.Clone(acked)
		mu.Unlock()
		for _, u := range done {
			id := u.r.ID
			it, err := c.Evidence(ctx, id, u.r.AccessToken)
			if err != nil || it.SHA256 != blob.Sum(u.data) {
				t.Fatalf("round %d: evidence %s: %v", round, id, err)
			}
			rc, err := c.Receipt(ctx, id, u.r.AccessToken)
			if err != nil {
				t.Fatalf("round %d: receipt of %s: %v", round, id, err)
			}
			res, err := verify.Check(rc, vkey)
			if err != nil || res.Event != "received" || rc.SHA256 != it.SHA256.String() || !strings.Contains(rc.Entry, `"id":"`+id+`"`) {
				t.Fatalf("round %d: receipt of %s: %v (%s)", round, id, err, rc.Entry)
			}
			prev, ok := latest[id]
			if !ok {
				latest[id] = rc
				continue
			}
			next, err := c.Refresh(ctx, prev)
			if err == nil {
				_, err = verify.Extends(prev, next, vkey)
			}
			if err != nil {
				t.Fatalf("round %d: refreshing the receipt of %s: %v", round, id, err)
			}
			latest[id] = next
		}
		t.Logf("round %d: checkpoint of size %d, %d uploads acknowledged", round, cp.N, len(done))
	}
	close(stop)
	wg.Wait()
	for _, p := range problems {
		t.Error(p)
	}
	if len(acked) < 2*writers {
		t.Errorf("only %d uploads finished through %d kills", len(acked), rounds)
	}
	earliest := 0
	for _, rc := range latest {
		earliest = max(earliest, len(rc.Earlier))
	}
	// A shared log publishes at most every second (tessera's storage/aws),
	// so fewer of the quick rounds see a new checkpoint.
	want := rounds / 2
	if shared {
		want = 3
	}
	if earliest < want {
		t.Errorf("the oldest refreshed receipt carries %d earlier checkpoints; want at least %d", earliest, want)
	}

	// One last kill, then check the data folder as a restarted server sees it,
	// and audit it.
	srv.kill()
	checkDataFolder(t, data, started)
	if out, _, err := sightline(t, append([]string{"audit", "--data", data}, stores(t, data)...)...); err != nil || !strings.HasSuffix(out, "; 0 problems\n") {
		t.Errorf("audit after the crashes: %v\n%s", err, out)
	}
}

// uploadThroughCrashes uploads b with raw tus requests, retrying whatever
// fails while the server is down, and cutting that share of its PATCHes
// off halfway (the connection closed with half the body sent). It fails
// if the server forgets an acknowledged byte.
func uploadThroughCrashes(ctx context.Context, base string, b []byte, n int, cut float64) (client.Receipt, error) {
	c := &client.Client{Server: base, HTTP: &http.Client{Timeout: 10 * time.Second}}
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	size := int64(len(b))
	meta := map[string]string{"filename": fmt.Sprintf("cctv-%d.wav", n), "source": "surveillance"}
	retry := func() error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
			return nil
		}
	}
	var url string
	for url == "" {
		u, err := c.Create(ctx, size, meta)
		if err == nil {
			url = u
		} else if err := retry(); err != nil {
			return client.Receipt{}, err
		}
	}
	acked := int64(0)
	for {
		off, _, err := c.Offset(ctx, url)
		if errors.Is(err, client.ErrUploadGone) {
			return client.Receipt{}, fmt.Errorf("the server forgot an upload it had created")
		}
		if err != nil {
			if err := retry(); err != nil {
				return client.Receipt{}, err
			}
			continue
		}
		if off < acked {
			return client.Receipt{}, fmt.Errorf("server acknowledged %d bytes, then had only %d", acked, off)
		}
		if off == size {
			break
		}
		end := min(size, off+int64(8<<10+rng.IntN(128<<10)))
		if rng.Float64() < cut {
			cutPatch(ctx, url, off, b[off:end])
			continue
		}
		c.ChunkChecksums = rng.IntN(2) == 0
		next, err := c.Patch(ctx, url, off, b[off:end])
		if err != nil {
			if err := retry(); err != nil {
				return client.Receipt{}, err
			}
			continue
		}
		acked = max(acked, next)
		if next == size {
			break
		}
	}
	// Complete was acknowledged: the evidence must exist (never a 404),
	// though the server may be down for a moment.
	for {
		r, err := c.UploadEvidence(ctx, url)
		var se *client.StatusError
		switch {
		case err == nil:
			return r, nil
		case errors.As(err, &se) && se.Status == http.StatusNotFound:
			return r, fmt.Errorf("upload %d: completion acknowledged but no evidence", n)
		}
		if err := retry(); err != nil {
			return r, err
		}
	}
}

// cutPatch sends a PATCH of chunk at off to the upload at u and closes the
// connection halfway through the body, as a phone losing its signal does.
func cutPatch(ctx context.Context, u string, off int64, chunk []byte) {
	pu, err := neturl.Parse(u)
	if err != nil {
		return
	}
	conn, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", pu.Host)
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: %s\r\nTus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\nUpload-Offset: %d\r\nContent-Length: %d\r\n\r\n",
		pu.RequestURI(), pu.Host, off, len(chunk))
	conn.Write(chunk[:len(chunk)/2])
}

// checkDataFolder opens the data folder as a restarted server would and
// checks that it holds exactly one evidence record per file, each blob
// intact, and nothing half made.
func checkDataFolder(t *testing.T, data string, files [][]byte) {
	t.Helper()
	cfg := server.Config{Data: data}
	servertest.Backends(t, data).Config(t, &cfg)
	s, err := server.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := map[blob.Ref]bool{}
	for _, f := range files {
		want[blob.Sum(f)] = true
	}
	n, events := 0, 0
	for it, err := range s.Evidence().All(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if !want[it.SHA256] {
			t.Errorf("evidence %s has sha256 %s, of no uploaded file", it.ID, it.SHA256)
		}
		if it.MediaType != "audio" || it.Audio == nil || it.Audio.SampleRate != 48000 {
			t.Errorf("evidence %s: metadata %+v", it.ID, it.Info)
		}
		entry, err := s.Log().Entry(t.Context(), it.ReceivedIndex)
		if err != nil {
			t.Errorf("evidence %s: no received event: %v", it.ID, err)
			continue
		}
		if ev, err := evidence.ParseEvent(entry); err != nil || ev.Type != evidence.Received || ev.Evidence.ID != it.ID || ev.Evidence.SHA256 != it.SHA256 {
			t.Errorf("evidence %s: log entry %d is %s (%v)", it.ID, it.ReceivedIndex, entry, err)
		}
		events++
	}
	if n != len(files) || events != n {
		t.Errorf("%d evidence records with %d received events, want %d", n, events, len(files))
	}
	// Files made from the uploads (their sound for alignment), each
	// recorded before its blob is stored and logged once.
	// A file recorded just before the last kill may not have its blob
	// yet (its job finishes it at the next start): allowed, not wanted.
	maybe := map[blob.Ref]bool{}
	for f, err := range s.Derived().All(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		if f.Logged {
			want[f.SHA256] = true
		} else {
			maybe[f.SHA256] = true
		}
	}
	// Exactly once: one received event per upload, at most one derived
	// event per file made, nothing else.
	size, err := s.Log().NextIndex(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	received, derived := 0, map[string]int{}
	for i := range size {
		entry, err := s.Log().Entry(t.Context(), i)
		ev, perr := evidence.ParseEvent(entry)
		switch {
		case err != nil || perr != nil:
			t.Errorf("log entry %d: %v %v", i, err, perr)
		case ev.Type == evidence.Received:
			received++
		case ev.Type == evidence.Derived:
			derived[ev.Evidence.ID+" "+ev.Details["kind"]]++
		default:
			t.Errorf("log entry %d is a %s event", i, ev.Type)
		}
	}
	if received != len(files) {
		t.Errorf("the log holds %d received events; want %d, one per upload", received, len(files))
	}
	for k, n := range derived {
		if n != 1 {
			t.Errorf("%s: %d derived events, want 1", k, n)
		}
	}
	stored := 0
	for ref, err := range s.Blobs().(blob.Lister).List(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		stored++
		f, err := s.Blobs().Open(t.Context(), ref)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		io.Copy(h, f)
		f.Close()
		if blob.Ref(h.Sum(nil)) != ref || !want[ref] && !maybe[ref] {
			t.Errorf("blob %s is damaged or belongs to no upload", ref)
		}
		if maybe[ref] && !want[ref] {
			stored-- // a file being made, stored before the kill
		}
	}
	if stored != len(want) {
		t.Errorf("%d blobs, want %d (the uploads and the files made from them)", stored, len(want))
	}
	// Finished uploads leave only their state (a tombstone). An upload
	// whose creation reply a kill swallowed was never finished (the client
	// created another): it waits, unfinished, for its client or expiry.
	ents, _ := os.ReadDir(filepath.Join(data, "uploads"))
	for _, e := range ents {
		name := e.Name()
		if id, ok := strings.CutSuffix(name, ".bin"); ok && !strings.HasPrefix(name, ".") {
			var st struct {
				Info struct{ Offset, Size int64 }
			}
			b, err := os.ReadFile(filepath.Join(data, "uploads", id+".json"))
			if err == nil && json.Unmarshal(b, &st) == nil && st.Info.Offset < st.Info.Size {
				continue
			}
		}
		if !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			st, _ := os.ReadFile(filepath.Join(data, "uploads", strings.TrimSuffix(name, ".bin")+".json"))
			fi, _ := os.Stat(filepath.Join(data, "uploads", name))
			t.Errorf("left in uploads/: %s (%v bytes; state %.400s)", name, fi.Size(), st)
		}
	}
	if tmp, _ := os.ReadDir(filepath.Join(data, "blobs", "tmp")); len(tmp) != 0 {
		t.Errorf("left in blobs/tmp: %d files", len(tmp))
	}
}
