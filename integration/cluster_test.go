package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/sightline/sightline/internal/client"
	"github.com/sightline/sightline/internal/cluster"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/ledger"
	"github.com/sightline/sightline/internal/media/mediatest"
	"github.com/sightline/sightline/verify"
)

// Three replicas behind HAProxy, on one PostgreSQL, one MariaDB and one
// S3 server: 40 files and 10 streams go up through the balancer, which
// sends each request to whichever replica is next, with PATCHes cut off
// halfway at random, while a replica is SIGKILLed three times (and
// restarted). Every upload completes; every original is byte for byte
// what was sent; each has its receipt, which verifies, and exactly one
// "received" entry in the log; a stream whose sender falls silent is kept
// partial once; every checkpoint seen is consistent with the next; and
// the audit finds nothing wrong. Then the limits hold across replicas:
// bad tokens and wrong share codes are counted wherever they land.
func TestClusterLosesNothing(t *testing.T) {
	logs := map[int]*lockedBuffer{-1: {}, 0: {}, 1: {}, 2: {}}
	c, err := cluster.Start(t.Context(), cluster.Config{
		Binary: bin, Dir: t.TempDir(), Replicas: 3,
		// A stream silent for 45 s is kept partial: the silent one here,
		// never one slowed by a busy machine.
		Args: []string{"--partial-after", "45s", "--job-lease", "5s", "--checkpoint-interval", "2s", "--write-limit", "1000"},
		Logs: func(i int, line string) { logs[i].Write([]byte(line + "\n")) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	defer func() {
		if t.Failed() {
			for i := -1; i < 3; i++ {
				t.Logf("replica %d:\n%s", i, tail(logs[i].String(), 60))
			}
		}
	}()
	vkey, err := ledger.VerifierKeyOf(c.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Minute) // a busy machine
	defer cancel()

	// Every checkpoint served, in the order seen.
	var cpMu sync.Mutex
	var seen []tlog.Tree
	watching, stopWatching := context.WithCancel(ctx)
	var watched sync.WaitGroup
	watched.Go(func() {
		for watching.Err() == nil {
			if raw, err := getBytes(c.URL + "/log/checkpoint"); err == nil {
				tree := openCheckpoint(t, raw, verifier)
				cpMu.Lock()
				if len(seen) == 0 || seen[len(seen)-1] != tree {
					seen = append(seen, tree)
				}
				cpMu.Unlock()
			}
			select {
			case <-watching.Done():
			case <-time.After(300 * time.Millisecond):
			}
		}
	})

	// Three SIGKILLs while the uploads run, each replica restarted after.
	killing, stopKilling := context.WithCancel(ctx)
	var killed sync.WaitGroup
	kills := 0
	killed.Go(func() {
		rng := rand.New(rand.NewPCG(3, 3))
		for kills < 3 {
			select {
			case <-killing.Done():
				return
			case <-time.After(time.Duration(3000+rng.IntN(4000)) * time.Millisecond):
			}
			i := rng.IntN(3)
			c.Kill(i)
			kills++
			time.Sleep(time.Second)
			if err := c.Restart(ctx, i); err != nil {
				t.Errorf("restarting replica %d: %v", i, err)
				return
			}
		}
	})

	// 40 files (four past the 8 MiB of a part) and 10 streams, 12 at once.
	type sent struct {
		data    []byte
		receipt client.Receipt
		partial bool
	}
	const files, streams = 40, 10
	results := make([]sent, files+streams)
	sem := make(chan struct{}, 12)
	var wg sync.WaitGroup
	for n := range files + streams {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			rng := rand.New(rand.NewPCG(uint64(n), 11))
			size := 200_000 + rng.IntN(2_000_000)
			if n%10 == 9 {
				size = 9<<20 + rng.IntN(3<<20)
			}
			data := mediatest.NoiseWAV(size, uint64(7000+n))
			var r client.Receipt
			var err error
			switch {
			case n < files:
				r, err = uploadThroughCrashes(ctx, c.URL, data, n, 0.3)
			case n == files:
				// The silent stream: two thirds sent, then nothing.
				data = data[:len(data)*2/3]
				r, err = streamThroughCrashes(ctx, c.URL, data, n, false)
			default:
				r, err = streamThroughCrashes(ctx, c.URL, data, n, true)
			}
			if err != nil {
				t.Errorf("upload %d: %v", n, err)
				return
			}
			results[n] = sent{data, r, n == files}
		})
	}
	wg.Wait()
	stopKilling()
	killed.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if kills < 3 {
		t.Fatalf("the uploads ended after %d kills, before the third", kills)
	}

	// Every original is what was sent; its receipt verifies.
	cl := &client.Client{Server: c.URL, HTTP: &http.Client{Timeout: time.Minute}}
	ids := map[string]bool{}
	for n, s := range results {
		ids[s.receipt.ID] = true
		if s.receipt.Partial != s.partial {
			t.Errorf("upload %d: partial %v, want %v", n, s.receipt.Partial, s.partial)
		}
		orig, err := bearer("GET", c.URL+"/api/v1/evidence/"+s.receipt.ID+"/original", s.receipt.AccessToken, "", http.StatusOK)
		if err != nil && strings.Contains(err.Error(), ": 50") {
			// A read through a balancer is retried, as clients do; the
			// answer is logged so that it is seen.
			t.Logf("upload %d: read of the original retried after %v", n, err)
			orig, err = bearer("GET", c.URL+"/api/v1/evidence/"+s.receipt.ID+"/original", s.receipt.AccessToken, "", http.StatusOK)
		}
		if err != nil {
			t.Fatalf("upload %d: %v", n, err)
		}
		if sha256.Sum256(orig) != sha256.Sum256(s.data) {
			t.Errorf("upload %d: the original (%d bytes) is not what was sent (%d bytes)", n, len(orig), len(s.data))
		}
		r, err := cl.Receipt(ctx, s.receipt.ID, s.receipt.AccessToken)
		if err != nil {
			t.Fatalf("upload %d: receipt: %v", n, err)
		}
		if _, err := verify.Check(r, vkey); err != nil {
			t.Errorf("upload %d: receipt: %v", n, err)
		}
	}
	if len(ids) != files+streams {
		t.Fatalf("%d uploads made %d evidence items", files+streams, len(ids))
	}

	// The log: one "received" entry for each upload and none other; each
	// checkpoint seen consistent with the next and with the last.
	stopWatching()
	watched.Wait()
	get := httpGetter(t, c.URL)
	last := openCheckpoint(t, get("checkpoint"), verifier)
	hr := tlog.TileHashReader(last, tileFetcher{get: get})
	if h, err := tlog.TreeHash(last.N, hr); err != nil || h != last.Hash {
		t.Fatalf("the served tiles hash to %v (%v), the checkpoint says %v", h, err, last.Hash)
	}
	received := map[string]int{}
	for b := int64(0); b*256 < last.N; b++ {
		bundle := get(entriesPath(b, last.N))
		for i := int64(0); i < min(256, last.N-b*256); i++ {
			e, err := evidence.ParseEvent([]byte(bundleEntry(t, bundle, int(i))))
			if err != nil {
				t.Fatalf("entry %d: %v", b*256+i, err)
			}
			if e.Type == evidence.Received {
				received[e.Evidence.ID]++
			}
		}
	}
	for id := range ids {
		if received[id] != 1 {
			t.Errorf("evidence %s has %d received entries, want 1", id, received[id])
		}
	}
	if len(received) != len(ids) {
		t.Errorf("the log has received entries for %d items, the uploads made %d", len(received), len(ids))
	}
	seen = append(seen, last)
	for i := 1; i < len(seen); i++ {
		a, b := seen[i-1], seen[i]
		if a.N > b.N {
			t.Errorf("a checkpoint of %d entries was served after one of %d", b.N, a.N)
			continue
		}
		if a.N == 0 {
			continue // the empty tree is the start of every tree
		}
		p, err := tlog.ProveTree(b.N, a.N, hr)
		if err == nil {
			err = tlog.CheckTree(p, b.N, b.Hash, a.N, a.Hash)
		}
		if err != nil {
			t.Errorf("checkpoint %d is not consistent with %d: %v", a.N, b.N, err)
		}
	}
	t.Logf("%d uploads, %d kills, %d checkpoints seen, log of %d entries", len(ids), kills, len(seen), last.N)

	// Limits hold whichever replica a request reaches: bad tokens from
	// one address (the balancer forwards it), then wrong share codes of
	// one supervisor, each on a connection of its own (round-robin).
	once := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Minute}
	status := func(method, url, token, body string) int {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := once.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	const failureLimit = 20 // the default --failure-limit
	for i := range failureLimit {
		if got := status("GET", c.URL+"/api/v1/evidence/"+results[0].receipt.ID, "slc_wrong"+strconv.Itoa(i), ""); got == http.StatusTooManyRequests {
			t.Fatalf("bad token %d refused as too many; the limit is %d", i+1, failureLimit)
		}
	}
	if got := status("GET", c.URL+"/api/v1/evidence/"+results[0].receipt.ID, "slc_wrong", ""); got != http.StatusTooManyRequests {
		t.Errorf("bad token %d: %d, want 429", failureLimit+1, got)
	}
	data := c.Replicas()[0].Data
	createSupervisor(t, data, c.URL, "sgt.reyes", "central")
	sup := adminToken(t, data, "token", "--user", "sgt.reyes")
	for i := range 5 {
		if got := status("POST", c.URL+"/api/v1/share-codes/claim", sup, fmt.Sprintf(`{"code":"%09d"}`, 100000000+i)); got != http.StatusNotFound {
			t.Fatalf("wrong code %d: %d, want 404", i+1, got)
		}
	}
	if got := status("POST", c.URL+"/api/v1/share-codes/claim", sup, `{"code":"100000099"}`); got != http.StatusTooManyRequests {
		t.Errorf("the 6th wrong code: %d, want 429", got)
	}

	// A stream whose replica dies in the middle of a PATCH goes on, on
	// another, from the last byte acknowledged.
	live := mediatest.NoiseWAV(3_000_000, 9999)
	u, err := createStream(ctx, c.URL)
	if err != nil {
		t.Fatal(err)
	}
	first := streamPatch(t, u, 0, live[:1_000_000], false)
	victim := c.Replicas()[1]
	conn, err := net.Dial("tcp", victim.Addr)
	if err != nil {
		t.Fatal(err)
	}
	path := u[strings.Index(u, "/api/"):]
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: %s\r\nTus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\nUpload-Offset: %d\r\nContent-Length: %d\r\n\r\n",
		path, victim.Addr, first, len(live)-int(first))
	conn.Write(live[first : first+500_000])
	time.Sleep(500 * time.Millisecond) // the replica is reading the body
	c.Kill(1)
	conn.Close()
	var off int64 = -1
	for deadline := time.Now().Add(time.Minute); off < 0 && time.Now().Before(deadline); {
		req, _ := http.NewRequest("HEAD", u, nil)
		req.Header.Set("Tus-Resumable", "1.0.0")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				off, _ = strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
			}
		}
	}
	if off != first {
		t.Fatalf("after its replica died mid-PATCH, the stream is at %d; %d were acknowledged", off, first)
	}
	streamPatch(t, u, off, live[off:], true)
	var kept client.Receipt
	if b, err := getBytes(u + "/evidence"); err != nil || json.Unmarshal(b, &kept) != nil {
		t.Fatalf("the stream's evidence: %v", err)
	}
	if orig, err := bearer("GET", c.URL+"/api/v1/evidence/"+kept.ID+"/original", kept.AccessToken, "", http.StatusOK); err != nil || !bytes.Equal(orig, live) {
		t.Fatalf("the stream continued on another replica: %d bytes (%v), sent %d", len(orig), err, len(live))
	}
	if err := c.Restart(ctx, 1); err != nil {
		t.Fatal(err)
	}

	// The audit of the stores the replicas share, once the media jobs are
	// done and the log's last entries are published (an audit reads a
	// quiet installation).
	for deadline := time.Now().Add(10 * time.Minute); ; {
		m, err := getBytes(c.URL + "/metrics")
		if err == nil && strings.Contains(string(m), `sightline_jobs{state="queued"} 0`) && strings.Contains(string(m), `sightline_jobs{state="running"} 0`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("media jobs still waiting after 10 minutes:\n%s", m)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for prev := int64(-1); ; {
		n := openCheckpoint(t, get("checkpoint"), verifier).N
		if n == prev {
			break
		}
		prev = n
		time.Sleep(5 * time.Second) // past two checkpoint intervals
	}
	out, errOut, err := sightline(t, append([]string{"audit"}, c.Flags()...)...)
	if err != nil || !strings.Contains(out, "; 0 problems") {
		t.Fatalf("audit: %v\n%s%s", err, out, errOut)
	}
}

// streamThroughCrashes sends b as a stream (its length declared only
// with the last PATCH, as the capture page does), a chunk every 200 ms,
// retrying what fails and cutting a fifth of its PATCHes off halfway. If
// finish is false it falls silent instead of declaring the length, and
// waits for the server to keep what arrived as partial evidence.
func streamThroughCrashes(ctx context.Context, base string, b []byte, n int, finish bool) (client.Receipt, error) {
	rng := rand.New(rand.NewPCG(uint64(n), 13))
	hc := &http.Client{Timeout: 10 * time.Second}
	do := func(method, u string, body []byte, h map[string]string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Tus-Resumable", "1.0.0")
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp, nil
	}
	last := "nothing yet" // the last answer, for a stream that never ends
	wait := func(d time.Duration) error {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w; the last answer: %s", ctx.Err(), last)
		case <-time.After(d):
			return nil
		}
	}
	note := func(what string, resp *http.Response, err error) {
		if err != nil {
			last = what + ": " + err.Error()
		} else {
			last = fmt.Sprintf("%s: %d %s", what, resp.StatusCode, resp.Header.Get("Upload-Offset"))
		}
	}
	var u string
	for u == "" {
		resp, err := do("POST", base+"/api/v1/uploads/", nil, map[string]string{"Upload-Defer-Length": "1",
			"Upload-Metadata": client.EncodeMetadata(map[string]string{"source": "phone", "filename": fmt.Sprintf("capture-%d.wav", n)})})
		if err == nil && resp.StatusCode == http.StatusCreated {
			u = resp.Header.Get("Location")
		} else if err := wait(50 * time.Millisecond); err != nil {
			return client.Receipt{}, err
		}
	}
	size := int64(len(b))
	acked := int64(0)
	for {
		resp, err := do("HEAD", u, nil, nil)
		note("HEAD", resp, err)
		if err != nil || resp.StatusCode != http.StatusOK {
			if resp != nil && resp.StatusCode == http.StatusNotFound {
				return client.Receipt{}, errors.New("the server forgot a stream it had created")
			}
			if err := wait(50 * time.Millisecond); err != nil {
				return client.Receipt{}, err
			}
			continue
		}
		off, _ := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
		if off < acked {
			return client.Receipt{}, fmt.Errorf("server acknowledged %d bytes, then had only %d", acked, off)
		}
		if _, deferred := resp.Header["Upload-Defer-Length"]; !deferred && off == size {
			break
		}
		if off == size && !finish {
			break // silent from here on
		}
		end := min(size, off+int64(64<<10+rng.IntN(256<<10)))
		h := map[string]string{"Upload-Offset": strconv.FormatInt(off, 10), "Content-Type": "application/offset+octet-stream"}
		if end == size && finish {
			h["Upload-Length"] = strconv.FormatInt(size, 10)
		}
		if rng.Float64() < 0.2 {
			cutPatch(ctx, u, off, b[off:end])
			continue
		}
		resp, err = do("PATCH", u, b[off:end], h)
		note(fmt.Sprintf("PATCH at %d of %d", off, size), resp, err)
		if err == nil && resp.StatusCode == http.StatusGone {
			return client.Receipt{}, fmt.Errorf("the stream was ended by the server (kept partial after a silence?) at %d of %d bytes", off, size)
		}
		if err == nil && resp.StatusCode == http.StatusNoContent {
			acked, _ = strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
		}
		if err := wait(200 * time.Millisecond); err != nil {
			return client.Receipt{}, err
		}
	}
	// The evidence: at once for a finished stream, after the silence for
	// the other.
	for {
		resp, err := http.Get(u + "/evidence")
		if err == nil && resp.StatusCode == http.StatusOK {
			var r client.Receipt
			err = json.NewDecoder(resp.Body).Decode(&r)
			resp.Body.Close()
			return r, err
		}
		if resp != nil {
			resp.Body.Close()
		}
		if err := wait(100 * time.Millisecond); err != nil {
			return client.Receipt{}, err
		}
	}
}

// createStream creates a stream (its length deferred) through base.
func createStream(ctx context.Context, base string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/api/v1/uploads/", nil)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Defer-Length", "1")
	req.Header.Set("Upload-Metadata", client.EncodeMetadata(map[string]string{"source": "phone", "filename": "capture.wav"}))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("create stream: %d", resp.StatusCode)
	}
	return resp.Header.Get("Location"), nil
}

// streamPatch sends chunk at off to the stream at u, declaring its
// length if last, and returns the new offset.
func streamPatch(t *testing.T, u string, off int64, chunk []byte, last bool) int64 {
	t.Helper()
	req, _ := http.NewRequest("PATCH", u, bytes.NewReader(chunk))
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", strconv.FormatInt(off, 10))
	if last {
		req.Header.Set("Upload-Length", strconv.FormatInt(off+int64(len(chunk)), 10))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH at %d: %d", off, resp.StatusCode)
	}
	n, _ := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	return n
}

// getBytes GETs url and returns the body of a 200.
func getBytes(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	return io.ReadAll(resp.Body)
}

// tail is the last n lines of s, without the clients' cut connections
// (tusd's BodyReadError, expected here by the hundred).
func tail(s string, n int) string {
	var lines []string
	for l := range strings.Lines(s) {
		if !strings.Contains(l, "BodyReadError") {
			lines = append(lines, strings.TrimSuffix(l, "\n"))
		}
	}
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
