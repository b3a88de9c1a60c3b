// Command ledger measures the custody log: how many events per second it
// makes durable with many concurrent writers, and how long after an
// event's acknowledgement a published checkpoint covers it (when its
// receipt can be had).
//
// Each writer appends custody events in a closed loop; Append returns once
// the event is durably sequenced (the acknowledgement). A watcher polls the
// published checkpoint file every millisecond, as a reader of /log/ would,
// and notes when each size first appears.
//
// The baseline, measured in the same run on the same disk, is the cheapest
// durable event log there is: the same writers hand events to one
// goroutine that appends each batch to a file with one fdatasync and then
// acknowledges it (group commit), with no Merkle tree, no tiles and no
// signature. The log's figure is given as a ratio to it, because the
// machine is shared and noisy.
//
//	go run ./bench/ledger [-writers 16,256,1024] [-duration 10s] [-runs 3]
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/sys/unix"

	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/ledger"
	"github.com/sightline/sightline/internal/ledger/witnesstest"
)

func main() {
	writersFlag := flag.String("writers", "16,256,1024", "concurrent writers: a comma-separated list of counts to measure")
	duration := flag.Duration("duration", 10*time.Second, "length of each run")
	runs := flag.Int("runs", 3, "alternating baseline and log runs")
	interval := flag.Duration("interval", 0, "checkpoint interval (default: the log's default)")
	batchAge := flag.Duration("batch-age", 0, "longest an event waits for others to be sequenced with it (default: the log's default)")
	dir := flag.String("dir", "", "scratch folder on the disk to measure (default: a temporary folder)")
	witnessed := flag.Int("witnessed", 16, "writers for the witnessed measurement (0: none): time to a checkpoint two of three local witnesses cosigned, beside the unwitnessed figure")
	flag.Parse()
	if *dir == "" {
		d, err := os.MkdirTemp("", "sightline-bench-ledger-")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	events := makeEvents(4096)
	for _, f := range strings.Split(*writersFlag, ",") {
		writers, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || writers < 1 {
			log.Fatalf("-writers: %q is not a count", f)
		}
		fmt.Printf("custody log: %d writers, %s runs, checkpoint interval %s, batch age %s\n", writers, *duration, orDefault(*interval), orDefault(*batchAge))
		var base, rates []float64
		var lat []time.Duration
		for run := range *runs {
			b := groupCommit(filepath.Join(*dir, fmt.Sprintf("baseline-%d", run)), writers, *duration, events)
			r, l := custodyLog(filepath.Join(*dir, fmt.Sprintf("log-%d", run)), writers, *duration, ledger.Config{CheckpointInterval: *interval, BatchMaxAge: *batchAge}, events)
			fmt.Printf("  run %d: baseline %.0f events/s, log %.0f events/s (%.3f), ack to checkpoint p50 %s p99 %s\n",
				run+1, b, r, r/b, pct(l, 50), pct(l, 99))
			base, rates, lat = append(base, b), append(rates, r), append(lat, l...)
		}
		mb, mr := median(base), median(rates)
		fmt.Printf("  baseline (group-commit file, fdatasync per batch): %.0f events/s\n", mb)
		fmt.Printf("  custody log: %.0f durable events/s, %.3f of the baseline\n", mr, mr/mb)
		fmt.Printf("  acknowledgement to covering checkpoint over %d events: p50 %s, p99 %s, max %s\n",
			len(lat), pct(lat, 50), pct(lat, 99), pct(lat, 100))
	}
	if *witnessed > 0 {
		fmt.Printf("witnessed custody log: %d writers, %s runs, a 2-of-3 policy over local witnesses (two litewitness, one omniwitness)\n", *witnessed, *duration)
		var plain, cosigned []time.Duration
		var plainRate, cosignedRate []float64
		for run := range *runs {
			cfg := ledger.Config{CheckpointInterval: *interval, BatchMaxAge: *batchAge}
			r, l := custodyLog(filepath.Join(*dir, fmt.Sprintf("plain-%d", run)), *witnessed, *duration, cfg, events)
			rw, lw := witnessedLog(filepath.Join(*dir, fmt.Sprintf("witnessed-%d", run)), *witnessed, *duration, cfg, events)
			fmt.Printf("  run %d: unwitnessed p50 %s p99 %s (%.0f events/s); witnessed p50 %s p99 %s (%.0f events/s)\n",
				run+1, pct(l, 50), pct(l, 99), r, pct(lw, 50), pct(lw, 99), rw)
			plain, cosigned = append(plain, l...), append(cosigned, lw...)
			plainRate, cosignedRate = append(plainRate, r), append(cosignedRate, rw)
		}
		fmt.Printf("  acknowledgement to covering checkpoint: unwitnessed p50 %s, p99 %s; witnessed p50 %s, p99 %s (%.2f of the unwitnessed p50)\n",
			pct(plain, 50), pct(plain, 99), pct(cosigned, 50), pct(cosigned, 99), float64(pct(cosigned, 50))/float64(max(1, pct(plain, 50))))
		fmt.Printf("  durable events/s: unwitnessed %.0f, witnessed %.0f\n", median(plainRate), median(cosignedRate))
	}
}

// origin names the logs the benchmark makes.
const origin = "bench.sightline.example/log"

// witnessedLog is custodyLog with a 2-of-3 witness policy over fresh
// local witnesses (a witness remembers every log it saw under an origin,
// so each run has its own).
func witnessedLog(dir string, writers int, d time.Duration, cfg ledger.Config, events [][]byte) (float64, []time.Duration) {
	p := &witnesstest.Program{}
	defer p.Close()
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "log.key"), []byte(skey), 0o600); err != nil {
		log.Fatal(err)
	}
	cfg.WitnessPolicy = witnesstest.Policy(vkey, 2,
		witnesstest.Litewitness(p, "lite1.bench", origin, vkey),
		witnesstest.Litewitness(p, "lite2.bench", origin, vkey),
		witnesstest.Omniwitness(p, "omni.bench", origin, vkey))
	return custodyLog(dir, writers, d, cfg, events)
}

func orDefault(d time.Duration) string {
	if d == 0 {
		return "default"
	}
	return d.String()
}

// makeEvents makes n distinct custody events, as the server logs them.
func makeEvents(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		var id [16]byte
		var sum evidence.EventSubject
		rand.Read(id[:])
		rand.Read(sum.SHA256[:])
		sum.ID = hex.EncodeToString(id[:])
		e := evidence.Event{
			Type:     evidence.Viewed,
			Evidence: &sum,
			Actor:    "token:" + hex.EncodeToString(id[:8]),
			At:       evidence.EventTime(time.Now()),
		}
		out[i] = e.Canonical()
	}
	return out
}

// custodyLog runs writers appending to a fresh log (configured by cfg) for d, and returns the
// durable events per second and, for each event, the time from its
// acknowledgement to the first published checkpoint that covers it.
func custodyLog(dir string, writers int, d time.Duration, cfg ledger.Config, events [][]byte) (float64, []time.Duration) {
	ctx := context.Background()
	cfg.Storage, cfg.KeyFile = ledger.Folder(filepath.Join(dir, "log")), filepath.Join(dir, "log.key")
	cfg.Origin = origin
	l, err := ledger.Open(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	// The watcher: when did each checkpoint size first appear?
	type seen struct {
		at   time.Time
		size uint64
	}
	var published []seen
	stopWatch := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		var last uint64
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(time.Millisecond):
			}
			b, err := os.ReadFile(filepath.Join(dir, "log", "checkpoint"))
			if err != nil {
				continue
			}
			lines := strings.SplitN(string(b), "\n", 3)
			if len(lines) < 3 {
				continue
			}
			size, err := strconv.ParseUint(lines[1], 10, 64)
			if err == nil && size > last {
				published = append(published, seen{time.Now(), size})
				last = size
			}
		}
	}()

	type ack struct {
		at    time.Time
		index uint64
	}
	acks := make([][]ack, writers)
	elapsed := closedLoop(writers, d, events, func(w int, e []byte) {
		idx, err := l.Append(ctx, e)
		if err != nil {
			log.Fatal(err)
		}
		acks[w] = append(acks[w], ack{time.Now(), idx})
	})
	var all []ack
	for _, a := range acks {
		all = append(all, a...)
	}
	// Wait until every acknowledged event is covered, then stop watching.
	var maxIdx uint64
	for _, a := range all {
		maxIdx = max(maxIdx, a.index)
	}
	if _, err := l.AwaitCheckpoint(ctx, maxIdx); err != nil {
		log.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	close(stopWatch)
	<-watched
	if err := l.Close(ctx); err != nil {
		log.Fatal(err)
	}
	os.RemoveAll(dir)

	lat := make([]time.Duration, 0, len(all))
	for _, a := range all {
		i, _ := slices.BinarySearchFunc(published, a.index+1, func(s seen, want uint64) int {
			switch {
			case s.size < want:
				return -1
			case s.size > want:
				return 1
			}
			return 0
		})
		if i == len(published) {
			log.Fatalf("no checkpoint seen covering index %d", a.index)
		}
		lat = append(lat, max(0, published[i].at.Sub(a.at)))
	}
	return float64(len(all)) / elapsed.Seconds(), lat
}

// groupCommit runs the baseline: writers hand events to one committer,
// which appends what has queued up to a file, fdatasyncs once, and
// acknowledges the batch. It returns durable events per second.
func groupCommit(dir string, writers int, d time.Duration, events [][]byte) float64 {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	f, err := os.Create(filepath.Join(dir, "events"))
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	type req struct {
		b    []byte
		done chan struct{}
	}
	queue := make(chan req, writers)
	go func() {
		var buf []byte
		var batch []req
		for r := range queue {
			batch = append(batch[:0], r)
		drain:
			for {
				select {
				case r, ok := <-queue:
					if !ok {
						break drain
					}
					batch = append(batch, r)
				default:
					break drain
				}
			}
			buf = buf[:0]
			for _, r := range batch {
				buf = append(buf, r.b...)
				buf = append(buf, '\n')
			}
			if _, err := f.Write(buf); err != nil {
				log.Fatal(err)
			}
			if err := unix.Fdatasync(int(f.Fd())); err != nil {
				log.Fatal(err)
			}
			for _, r := range batch {
				close(r.done)
			}
		}
	}()
	var n atomic.Int64
	elapsed := closedLoop(writers, d, events, func(_ int, e []byte) {
		done := make(chan struct{})
		queue <- req{e, done}
		<-done
		n.Add(1)
	})
	close(queue)
	return float64(n.Load()) / elapsed.Seconds()
}

// closedLoop runs writers, each doing one event after another until d has
// passed, and returns how long they ran.
func closedLoop(writers int, d time.Duration, events [][]byte, do func(w int, event []byte)) time.Duration {
	var stop atomic.Bool
	var wg sync.WaitGroup
	start := time.Now()
	for w := range writers {
		wg.Go(func() {
			for i := w; !stop.Load(); i += writers {
				do(w, events[i%len(events)])
			}
		})
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	return time.Since(start)
}

func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(0, min(len(s)-1, i-1))].Round(time.Millisecond)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
