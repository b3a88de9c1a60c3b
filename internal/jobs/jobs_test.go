package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/db"
	"github.com/sightline/sightline/internal/db/pgtest"
	"github.com/sightline/sightline/internal/jobs"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// engines runs test on a queue store in SQLite and in PostgreSQL; open
// opens the store again (as a restarted server, or a second one, would).
func engines(t *testing.T, test func(t *testing.T, open func() jobs.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		where := filepath.Join(t.TempDir(), "jobs.db")
		test(t, func() jobs.Store { return openStore(t, where) })
	})
	t.Run("postgres", func(t *testing.T) {
		where := pgtest.New(t)
		test(t, func() jobs.Store { return openStore(t, where) })
	})
}

func openStore(t *testing.T, where string) jobs.Store {
	t.Helper()
	d, err := db.Open(t.Context(), where)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d.Jobs()
}

// runUntil runs q until cond holds (or fails the test after 10 s).
func runUntil(t *testing.T, q *jobs.Queue, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- q.Run(ctx) }()
	deadline := time.Now().Add(time.Minute) // for a busy machine
	for !cond() {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatal("condition not reached in a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestFailingJobIsRetriedThenReported(t *testing.T) {
	engines(t, testFailingJobIsRetriedThenReported)
}

func testFailingJobIsRetriedThenReported(t *testing.T, open func() jobs.Store) {
	store := open()
	q := jobs.New(jobs.Config{Store: store, Attempts: 3, Backoff: time.Millisecond, Poll: time.Millisecond})
	var mu sync.Mutex
	runs := 0
	q.Handle("probe", func(ctx context.Context, j jobs.Job) error {
		mu.Lock()
		defer mu.Unlock()
		runs++
		return errors.New("moov atom not found")
	})
	if err := q.Enqueue(t.Context(), "probe", "ev1"); err != nil {
		t.Fatal(err)
	}
	runUntil(t, q, func() bool {
		j, ok, _ := q.Latest(t.Context(), "probe", "ev1")
		return ok && j.State == jobs.Failed
	})
	j, _, _ := q.Latest(t.Context(), "probe", "ev1")
	if runs != 3 || j.Attempts != 3 || j.LastError != "moov atom not found" {
		t.Fatalf("runs %d, job %+v; want 3 runs and the error kept", runs, j)
	}
}

func TestPanickingJobFailsWithoutTheWorker(t *testing.T) {
	engines(t, testPanickingJobFailsWithoutTheWorker)
}

func testPanickingJobFailsWithoutTheWorker(t *testing.T, open func() jobs.Store) {
	store := open()
	q := jobs.New(jobs.Config{Store: store, Attempts: 1, Poll: time.Millisecond})
	q.Handle("bad", func(context.Context, jobs.Job) error { panic("index out of range") })
	ran := make(chan struct{}, 1)
	q.Handle("good", func(context.Context, jobs.Job) error { ran <- struct{}{}; return nil })
	q.Enqueue(t.Context(), "bad", "x")
	q.Enqueue(t.Context(), "good", "y")
	runUntil(t, q, func() bool {
		j, _, _ := q.Latest(t.Context(), "bad", "x")
		g, _, _ := q.Latest(t.Context(), "good", "y")
		return j.State == jobs.Failed && g.State == jobs.Done
	})
	if j, _, _ := q.Latest(t.Context(), "bad", "x"); j.LastError != "panic: index out of range" {
		t.Fatalf("error %q", j.LastError)
	}
}

func TestEnqueueWhileWaitingIsOneRunWhileRunningIsAnother(t *testing.T) {
	engines(t, testEnqueueWhileWaitingIsOneRunWhileRunningIsAnother)
}

func testEnqueueWhileWaitingIsOneRunWhileRunningIsAnother(t *testing.T, open func() jobs.Store) {
	store := open()
	q := jobs.New(jobs.Config{Store: store, Poll: time.Millisecond})
	started, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	runs := 0
	q.Handle("align", func(ctx context.Context, j jobs.Job) error {
		mu.Lock()
		runs++
		n := runs
		mu.Unlock()
		if n == 1 {
			close(started)
			<-release
		}
		return nil
	})
	for range 3 {
		q.Enqueue(t.Context(), "align", "inc1") // one run
	}
	go func() {
		<-started
		for range 3 {
			q.Enqueue(t.Context(), "align", "inc1") // one more run
		}
		close(release)
	}()
	runUntil(t, q, func() bool {
		mu.Lock()
		defer mu.Unlock()
		j, _, _ := q.Latest(t.Context(), "align", "inc1")
		return runs == 2 && j.State == jobs.Done
	})
	time.Sleep(20 * time.Millisecond)
	if runs != 2 {
		t.Fatalf("%d runs, want 2", runs)
	}
}

// A server that died holding a job takes it back as soon as it starts
// again: its data folder's lock says its earlier run is gone.
func TestRestartedServerTakesBackItsJobsAtOnce(t *testing.T) {
	engines(t, testRestartedServerTakesBackItsJobsAtOnce)
}

func testRestartedServerTakesBackItsJobsAtOnce(t *testing.T, open func() jobs.Store) {
	store := open()
	q := jobs.New(jobs.Config{Store: store, Owner: "a", Poll: time.Millisecond})
	q.Handle("audio", func(context.Context, jobs.Job) error { return nil })
	q.Enqueue(t.Context(), "audio", "ev1")
	// Server a claimed it, with an hour's lease, and died.
	now := time.Now()
	if _, ok, err := store.Claim(t.Context(), []string{"audio"}, "a", now, now.Add(time.Hour)); !ok || err != nil {
		t.Fatal(ok, err)
	}
	q = jobs.New(jobs.Config{Store: open(), Owner: "a", Poll: time.Millisecond})
	ran := 0
	q.Handle("audio", func(context.Context, jobs.Job) error { ran++; return nil })
	runUntil(t, q, func() bool {
		j, _, _ := q.Latest(t.Context(), "audio", "ev1")
		return j.State == jobs.Done
	})
	if j, _, _ := q.Latest(t.Context(), "audio", "ev1"); ran != 1 || j.Attempts != 2 {
		t.Fatalf("ran %d, job %+v", ran, j)
	}
}

// Every write that ends a run, or renews it, names its owner: another
// changes nothing.
func TestStoreFencesByOwner(t *testing.T) { engines(t, testStoreFencesByOwner) }

func testStoreFencesByOwner(t *testing.T, open func() jobs.Store) {
	store := open()
	ctx := t.Context()
	now := time.Now()
	if err := store.Enqueue(ctx, "poster", "ev1", now); err != nil {
		t.Fatal(err)
	}
	j, ok, err := store.Claim(ctx, []string{"poster"}, "a", now, now.Add(time.Hour))
	if !ok || err != nil || j.TakenFrom != "" {
		t.Fatalf("claim: %+v %v %v", j, ok, err)
	}
	// Held: nobody else may claim it.
	if o, ok, err := store.Claim(ctx, []string{"poster"}, "b", now.Add(time.Minute), now.Add(time.Hour)); ok || err != nil {
		t.Fatalf("b claimed a held job: %+v %v", o, err)
	}
	for name, write := range map[string]func(owner string) error{
		"Renew":   func(o string) error { return store.Renew(ctx, j.ID, o, now.Add(2*time.Hour)) },
		"Retry":   func(o string) error { return store.Retry(ctx, j.ID, o, now, "x") },
		"Release": func(o string) error { return store.Release(ctx, j.ID, o, now) },
		"Fail":    func(o string) error { return store.Fail(ctx, j.ID, o, now, "x") },
		"Finish":  func(o string) error { return store.Finish(ctx, j.ID, o, now) },
	} {
		if err := write("b"); !errors.Is(err, jobs.ErrLost) {
			t.Errorf("%s by another server: %v, want ErrLost", name, err)
		}
	}
	if n, err := store.Requeue(ctx, "b", now); n != 0 || err != nil {
		t.Errorf("b's start requeued %d of a's jobs (%v)", n, err)
	}
	// Once its lease has run out, b takes it over.
	later := now.Add(2 * time.Hour)
	o, ok, err := store.Claim(ctx, []string{"poster"}, "b", later, later.Add(time.Hour))
	if !ok || err != nil || o.ID != j.ID || o.TakenFrom != "a" || o.Attempts != 2 {
		t.Fatalf("takeover: %+v %v %v", o, ok, err)
	}
	if err := store.Finish(ctx, j.ID, "a", later); !errors.Is(err, jobs.ErrLost) {
		t.Errorf("a finished a job b took over: %v", err)
	}
	if err := store.Finish(ctx, j.ID, "b", later); err != nil {
		t.Fatal(err)
	}
	if l, _, _ := store.Latest(ctx, "poster", "ev1"); l.State != jobs.Done {
		t.Fatalf("job %+v, want done", l)
	}
}

// counting counts the claims a store answers: how a test knows a server
// has looked for work, not guessed it from time.
type counting struct {
	jobs.Store
	claims atomic.Int64
}

func (c *counting) Claim(ctx context.Context, kinds []string, owner string, now, until time.Time) (jobs.Job, bool, error) {
	c.claims.Add(1)
	return c.Store.Claim(ctx, kinds, owner, now, until)
}

// While a server works on a job, renewing its lease, another polling all
// along never runs it; when the first dies, the second takes it over once
// the lease has run out.
func TestTakenOverOnlyWhenTheLeaseRunsOut(t *testing.T) {
	engines(t, testTakenOverOnlyWhenTheLeaseRunsOut)
}

func testTakenOverOnlyWhenTheLeaseRunsOut(t *testing.T, open func() jobs.Store) {
	const lease = 150 * time.Millisecond
	a := jobs.New(jobs.Config{Store: open(), Owner: "a", Poll: time.Millisecond, Lease: lease})
	started, finish := make(chan struct{}), make(chan struct{})
	a.Handle("review", func(ctx context.Context, j jobs.Job) error {
		close(started)
		<-finish
		return nil
	})
	bStore := &counting{Store: open()}
	b := jobs.New(jobs.Config{Store: bStore, Owner: "b", Poll: time.Millisecond, Lease: lease})
	var bRuns atomic.Int64
	b.Handle("review", func(ctx context.Context, j jobs.Job) error { bRuns.Add(1); return nil })
	a.Enqueue(t.Context(), "review", "ev1")

	actx, stopA := context.WithCancel(t.Context())
	aDone := make(chan error)
	go func() { aDone <- a.Run(actx) }()
	<-started
	bctx, stopB := context.WithCancel(t.Context())
	bDone := make(chan error)
	go func() { bDone <- b.Run(bctx) }()
	// b looks for work over many of a's leases.
	deadline := time.Now().Add(time.Minute)
	for from := time.Now(); time.Since(from) < 6*lease || bStore.claims.Load() < 50; {
		if time.Now().After(deadline) {
			t.Fatal("b did not poll")
		}
		time.Sleep(time.Millisecond)
	}
	if n := bRuns.Load(); n != 0 {
		t.Fatalf("b ran a job a held and renewed: %d times", n)
	}
	close(finish)
	for {
		j, _, _ := a.Latest(t.Context(), "review", "ev1")
		if j.State == jobs.Done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a's job %+v never finished", j)
		}
		time.Sleep(time.Millisecond)
	}
	stopA()
	<-aDone
	stopB()
	<-bDone

	// a dies holding a new run: b takes it over after the lease.
	a.Enqueue(t.Context(), "review", "ev2")
	now := time.Now()
	if j, ok, err := open().Claim(t.Context(), []string{"review"}, "a", now, now.Add(lease)); !ok || err != nil || j.Subject != "ev2" {
		t.Fatal(j, ok, err)
	}
	bctx, stopB = context.WithCancel(t.Context())
	go func() { bDone <- b.Run(bctx) }()
	for {
		j, _, _ := b.Latest(t.Context(), "review", "ev2")
		if j.State == jobs.Done {
			if bRuns.Load() != 1 || j.Attempts != 2 {
				t.Fatalf("b ran %d times, job %+v", bRuns.Load(), j)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b never took over %+v", j)
		}
		time.Sleep(time.Millisecond)
	}
	stopB()
	<-bDone
}

// stalled is a store that answers until the first renewal, then not at
// all, as a server cut off from its database would find.
type stalled struct {
	jobs.Store
	cut atomic.Bool
}

func (s *stalled) Renew(context.Context, int64, string, time.Time) error {
	s.cut.Store(true)
	return errors.New("connection refused")
}

func (s *stalled) Claim(ctx context.Context, kinds []string, owner string, now, until time.Time) (jobs.Job, bool, error) {
	if s.cut.Load() {
		return jobs.Job{}, false, errors.New("connection refused")
	}
	return s.Store.Claim(ctx, kinds, owner, now, until)
}

// A server that cannot renew its lease stops the job once the lease has
// run out, and records nothing of it: the server that took it over does.
func TestStalledServerGivesUpItsJob(t *testing.T) { engines(t, testStalledServerGivesUpItsJob) }

func testStalledServerGivesUpItsJob(t *testing.T, open func() jobs.Store) {
	const lease = 150 * time.Millisecond
	a := jobs.New(jobs.Config{Store: &stalled{Store: open()}, Owner: "a", Poll: time.Millisecond, Lease: lease})
	cause := make(chan error, 1)
	a.Handle("review", func(ctx context.Context, j jobs.Job) error {
		<-ctx.Done()
		cause <- context.Cause(ctx)
		return errors.New("interrupted") // would count as a failure, were it recorded
	})
	b := jobs.New(jobs.Config{Store: open(), Owner: "b", Poll: time.Millisecond, Lease: lease})
	b.Handle("review", func(ctx context.Context, j jobs.Job) error {
		if j.TakenFrom != "a" {
			return fmt.Errorf("taken from %q", j.TakenFrom)
		}
		return nil
	})
	a.Enqueue(t.Context(), "review", "ev1")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go a.Run(ctx)
	select {
	case err := <-cause:
		if !errors.Is(err, jobs.ErrLost) {
			t.Fatalf("a's job stopped for %v, want ErrLost", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("a's job kept running past its lease")
	}
	runUntil(t, b, func() bool {
		j, _, _ := b.Latest(t.Context(), "review", "ev1")
		return j.State == jobs.Done
	})
	if j, _, _ := b.Latest(t.Context(), "review", "ev1"); j.Attempts != 2 || j.LastError != "" {
		t.Fatalf("job %+v: a's outcome was recorded", j)
	}
}

// A job cut short by shutdown is queued again at once, its attempt not
// counted, for any server.
func TestShutdownReleasesTheJob(t *testing.T) { engines(t, testShutdownReleasesTheJob) }

func testShutdownReleasesTheJob(t *testing.T, open func() jobs.Store) {
	a := jobs.New(jobs.Config{Store: open(), Owner: "a", Poll: time.Millisecond})
	started := make(chan struct{})
	a.Handle("review", func(ctx context.Context, j jobs.Job) error { close(started); <-ctx.Done(); return ctx.Err() })
	a.Enqueue(t.Context(), "review", "ev1")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	<-started
	cancel()
	<-done
	j, _, _ := a.Latest(t.Context(), "review", "ev1")
	if j.State != jobs.Queued || j.Attempts != 0 {
		t.Fatalf("after shutdown: %+v, want queued with no attempt counted", j)
	}
	b := jobs.New(jobs.Config{Store: open(), Owner: "b", Poll: time.Millisecond})
	b.Handle("review", func(context.Context, jobs.Job) error { return nil })
	runUntil(t, b, func() bool {
		j, _, _ := b.Latest(t.Context(), "review", "ev1")
		return j.State == jobs.Done && j.Attempts == 1
	})
}
