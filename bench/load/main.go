// Command load runs a city's worth of traffic against the built server on
// loopback and reports how it holds: for a minute,
//
//   - uploads: 200 at once, of mixed sizes (64 KiB to 16 MiB), a quarter
//     of them streams sent without a length (as the capture page sends),
//     each a new file;
//   - readers: 1,000 at once, each with a valid token, reading 64 KiB
//     ranges of originals and custody lists;
//   - attackers: 20 at once, without credentials, guessing tokens, trying
//     to edit reviews with 60 KB paths and reading incidents.
//
// It prints requests per second and p50/p99 latency per kind (and the
// ratio of each kind's rate to a health check measured first in the same
// run, since these machines are shared), errors per kind, the server's
// peak RSS, and the custody log's growth: entries by type, bytes per
// entry, and how many refusals were logged. The target: no error for any
// valid request, a peak RSS under 1 GiB, and log growth only from
// accepted events (refusals of callers without an account are logged up
// to the failure limit, then answered 429 unlogged). Then it stops the
// server and runs `sightline audit`.
//
//	go run ./bench/load [-duration 60s] [-uploads 200] [-readers 1000] [-attackers 20]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transparency-dev/tessera/api"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/sightline/sightline/bench/internal/served"
	"github.com/sightline/sightline/internal/client"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/media/mediatest"
)

func main() {
	duration := flag.Duration("duration", time.Minute, "how long the load runs")
	uploads := flag.Int("uploads", 200, "concurrent uploads")
	readers := flag.Int("readers", 1000, "concurrent readers with valid tokens")
	attackers := flag.Int("attackers", 20, "concurrent anonymous attackers")
	flag.Parse()

	dir, err := os.MkdirTemp("", "sightline-load-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := served.Build(dir)
	data := filepath.Join(dir, "data")
	// Behind a trusted proxy (here, loopback itself), each uploading phone
	// has its own address, as a city's phones do; the attackers share one.
	srv := served.Start(bin, data, "--trusted-proxy", "127.0.0.1")
	fmt.Printf("machine: %d CPUs; server pid %d at %s\n", runtime.NumCPU(), srv.Cmd.Process.Pid, srv.URL)

	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: 4000, MaxIdleConnsPerHost: 4000, IdleConnTimeout: time.Minute},
		Timeout: 5 * time.Minute}
	peak := srv.WatchRSS()

	// The baseline: the cheapest request the server answers, at the
	// readers' concurrency, for a few seconds.
	base := run(5*time.Second, map[string]worker{"health check": {*readers / 4, func(ctx context.Context, s *stats) {
		s.do(hc, "GET", srv.URL+"/healthz", nil, nil, 200)
	}}})
	baseRate := base["health check"].rate()

	// Items to read: civilian uploads, each with its token.
	var items []client.Receipt
	for i := range 20 {
		r, err := uploadOnce(context.Background(), hc, srv.URL, mediatest.NoiseWAV(256<<10, uint64(1_000_000+i)), false, "10.255.0.1")
		if err != nil {
			log.Fatalf("preparing items: %v", err)
		}
		items = append(items, r)
	}
	before := logSize(data)

	var seed atomic.Uint64
	seed.Store(1)
	sizes := []int{64 << 10, 512 << 10, 4 << 20, 16 << 20}
	results := run(*duration, map[string]worker{
		"upload": {*uploads, func(ctx context.Context, s *stats) {
			n := seed.Add(1)
			body := mediatest.NoiseWAV(sizes[rand.IntN(len(sizes))], n)
			t0 := time.Now()
			phone := fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255)
			_, err := uploadOnce(ctx, hc, srv.URL, body, n%4 == 0, phone)
			s.record(time.Since(t0), err == nil, err)
		}},
		"read original (range)": {*readers / 2, func(ctx context.Context, s *stats) {
			it := items[rand.IntN(len(items))]
			from := rand.Int64N(it.Size - 65536)
			s.do(hc, "GET", srv.URL+"/api/v1/evidence/"+it.ID+"/original", map[string]string{"Authorization": "Bearer " + it.AccessToken,
				"Range": fmt.Sprintf("bytes=%d-%d", from, from+65535)}, nil, 206)
		}},
		"read custody": {*readers / 2, func(ctx context.Context, s *stats) {
			it := items[rand.IntN(len(items))]
			s.do(hc, "GET", srv.URL+"/api/v1/evidence/"+it.ID+"/custody", map[string]string{"Authorization": "Bearer " + it.AccessToken}, nil, 200)
		}},
		"attack (refused)": {*attackers, func(ctx context.Context, s *stats) {
			it := items[rand.IntN(len(items))]
			switch rand.IntN(3) {
			case 0:
				s.do(hc, "GET", srv.URL+"/api/v1/evidence/"+it.ID+"/original", map[string]string{"Authorization": "Bearer guess-" + strconv.Itoa(rand.Int())}, nil, 404, 429)
			case 1:
				s.do(hc, "DELETE", srv.URL+"/api/v1/evidence/"+it.ID+"/reviews/"+strings.Repeat("A", 60_000), nil, nil, 404, 429)
			default:
				s.do(hc, "GET", srv.URL+"/api/v1/incidents/inc_"+strconv.Itoa(rand.Int()), nil, nil, 401, 404, 429)
			}
		}},
	})

	fmt.Printf("\n%-22s %9s %9s %12s %9s %9s %7s\n", "kind", "requests", "per s", "ratio/health", "p50", "p99", "errors")
	fmt.Printf("%-22s %9d %9.0f %12s %9s %9s %7d\n", "health check (alone)", base["health check"].n, baseRate, "1.00",
		ms(base["health check"].pct(50)), ms(base["health check"].pct(99)), base["health check"].errs)
	validErrors := 0
	for _, k := range []string{"upload", "read original (range)", "read custody", "attack (refused)"} {
		s := results[k]
		fmt.Printf("%-22s %9d %9.1f %12.3f %9s %9s %7d\n", k, s.n, s.rate(), s.rate()/baseRate, ms(s.pct(50)), ms(s.pct(99)), s.errs)
		if k != "attack (refused)" {
			validErrors += s.errs
		}
		for _, e := range s.samples() {
			fmt.Printf("    e.g. %s\n", e)
		}
	}
	fmt.Printf("(an upload's latency is the whole upload, creation to evidence; the others are one request)\n")
	rss := peak()
	fmt.Printf("\nserver peak RSS: %.0f MiB (target under 1024)\n", float64(rss)/(1<<20))

	srv.Stop()
	after := logSize(data) // with the checkpoint written at shutdown
	types, denied, accepted, entryBytes := entriesSince(data, before.entries, after.entries)
	fmt.Printf("custody log: %d entries added, %.0f bytes each (the entries themselves); the log's folder changed by %+.2f MiB "+
		"(tessera rewrites partial tiles and bundles as the log grows, and collects them)\n",
		after.entries-before.entries, entryBytes, float64(after.bytes-before.bytes)/(1<<20))
	fmt.Printf("  by type: %s\n", types)
	fmt.Printf("  refusals logged: %d (each address may be refused %d times in 10 minutes before refusals go unlogged)\n", denied, 20)
	fmt.Printf("  entries from accepted requests (uploads, partial streams, viewings, files made from originals): %d\n", accepted)

	out, err := exec.Command(bin, "audit", "--data", data).CombinedOutput()
	fmt.Printf("\n%s", out)
	ok := validErrors == 0 && rss < 1<<30 && denied <= 20 && err == nil
	fmt.Printf("\ntarget %s: %d errors on valid requests, peak RSS %.0f MiB, %d refusals logged, audit %v\n",
		map[bool]string{true: "met", false: "NOT met"}[ok], validErrors, float64(rss)/(1<<20), denied, errString(err))
	if !ok {
		os.Exit(1)
	}
}

func errString(err error) string {
	if err == nil {
		return "clean"
	}
	return err.Error()
}

// server is a running `sightline serve`.
// worker is a kind of client: how many run at once, and one request.
type worker struct {
	n  int
	do func(ctx context.Context, s *stats)
}

// run runs every kind of client at once for d and returns each kind's stats.
func run(d time.Duration, kinds map[string]worker) map[string]*stats {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	out := map[string]*stats{}
	var wg sync.WaitGroup
	for name, w := range kinds {
		s := &stats{start: time.Now()}
		out[name] = s
		for range w.n {
			wg.Go(func() {
				for ctx.Err() == nil {
					w.do(ctx, s)
				}
			})
		}
	}
	wg.Wait()
	for _, s := range out {
		s.end = time.Now()
	}
	return out
}

// stats are one kind's requests.
type stats struct {
	mu         sync.Mutex
	start, end time.Time
	lat        []time.Duration
	n, errs    int
	examples   []string
}

func (s *stats) record(d time.Duration, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	s.lat = append(s.lat, d)
	if !ok {
		s.errs++
		if len(s.examples) < 3 && err != nil {
			s.examples = append(s.examples, err.Error())
		}
	}
}

// do sends one request and counts it an error unless it answers one of
// the wanted statuses.
func (s *stats) do(hc *http.Client, method, url string, headers map[string]string, body []byte, want ...int) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		log.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	t0 := time.Now()
	resp, err := hc.Do(req)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if !slices.Contains(want, resp.StatusCode) {
			err = fmt.Errorf("%s %.60s: %d", method, url, resp.StatusCode)
		}
	}
	s.record(time.Since(t0), err == nil, err)
}

func (s *stats) rate() float64 { return float64(s.n) / s.end.Sub(s.start).Seconds() }

func (s *stats) pct(p int) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.lat) == 0 {
		return 0
	}
	l := slices.Clone(s.lat)
	slices.Sort(l)
	return l[min(len(l)-1, len(l)*p/100)]
}

func (s *stats) samples() []string { return s.examples }

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

// uploadOnce sends body as a tus upload from the address from (through
// the trusted proxy), as a stream (no length until the last chunk) or
// with its length, and returns the evidence it became.
func uploadOnce(ctx context.Context, hc *http.Client, base string, body []byte, stream bool, from string) (client.Receipt, error) {
	var r client.Receipt
	h := map[string]string{"Tus-Resumable": "1.0.0", "Upload-Metadata": client.EncodeMetadata(map[string]string{"source": "phone"}),
		"X-Forwarded-For": from}
	chunk := 4 << 20
	if stream {
		h["Upload-Defer-Length"], chunk = "1", 256<<10
	} else {
		h["Upload-Length"] = strconv.Itoa(len(body))
	}
	resp, err := send(ctx, hc, "POST", base+"/api/v1/uploads/", h, nil)
	if err != nil {
		return r, err
	}
	if resp.StatusCode != http.StatusCreated {
		return r, fmt.Errorf("create: %d", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	for off := 0; off < len(body); off += chunk {
		end := min(off+chunk, len(body))
		ph := map[string]string{"Tus-Resumable": "1.0.0", "Upload-Offset": strconv.Itoa(off), "Content-Type": "application/offset+octet-stream"}
		if stream && end == len(body) {
			ph["Upload-Length"] = strconv.Itoa(len(body))
		}
		resp, err := send(ctx, hc, "PATCH", loc, ph, body[off:end])
		if err != nil {
			return r, err
		}
		if resp.StatusCode != http.StatusNoContent {
			return r, fmt.Errorf("PATCH at %d: %d", off, resp.StatusCode)
		}
	}
	resp, err = send(ctx, hc, "GET", loc+"/evidence", nil, nil)
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return r, fmt.Errorf("evidence: %d", resp.StatusCode)
	}
	return r, json.NewDecoder(resp.Body).Decode(&r)
}

// send is one request whose body the caller may still read (GET) or
// that is drained here.
func send(ctx context.Context, hc *http.Client, method, url string, h map[string]string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if method != "GET" {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, nil
}

// logState is how big the custody log is.
type logState struct {
	entries int
	bytes   int64
}

func logSize(data string) logState {
	var st logState
	cp, err := os.ReadFile(filepath.Join(data, "log", "checkpoint"))
	if err == nil {
		if lines := strings.Split(string(cp), "\n"); len(lines) > 1 {
			st.entries, _ = strconv.Atoi(lines[1])
		}
	}
	filepath.WalkDir(filepath.Join(data, "log"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				st.bytes += fi.Size()
			}
		}
		return nil
	})
	return st
}

// entriesSince reads the log's entries from..to (once the server has
// stopped, every one is in an entry bundle) and counts them by type, the
// refusals, and those that record an accepted request.
func entriesSince(data string, from, to int) (string, int, int, float64) {
	count := map[evidence.EventType]int{}
	size, n := 0, 0
	for b := from / 256; b*256 < to; b++ {
		w := min(to-b*256, 256)
		name := filepath.Join(data, "log", "tile", "entries", bundlePath(b, w))
		raw, err := os.ReadFile(name)
		if err != nil {
			log.Printf("reading %s: %v", name, err)
			continue
		}
		var bundle api.EntryBundle
		if err := bundle.UnmarshalText(raw); err != nil {
			log.Printf("reading %s: %v", name, err)
			continue
		}
		for i, e := range bundle.Entries[:min(w, len(bundle.Entries))] {
			if b*256+i < from {
				continue
			}
			size, n = size+len(e), n+1
			ev, err := evidence.ParseEvent(e)
			if err != nil {
				count["unreadable"]++
				continue
			}
			count[ev.Type]++
		}
	}
	var parts []string
	accepted := 0
	for t, n := range count {
		parts = append(parts, fmt.Sprintf("%s %d", t, n))
		if t != evidence.Denied {
			accepted += n
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, ", "), count[evidence.Denied], accepted, float64(size) / float64(max(n, 1))
}

// bundlePath is the tlog-tiles path of entry bundle n holding w entries.
func bundlePath(n, w int) string {
	return strings.TrimPrefix(tlog.Tile{H: 8, L: 0, N: int64(n), W: w}.Path(), "tile/8/0/")
}
