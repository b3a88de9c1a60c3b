package jobs_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/db"
	"github.com/sightline/sightline/internal/jobs"
)

func openStore(t *testing.T, dir string) (*db.DB, jobs.Store) {
	t.Helper()
	d, err := db.OpenSQLite(t.Context(), filepath.Join(dir, "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, d.Jobs()
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
	_, store := openStore(t, t.TempDir())
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
	_, store := openStore(t, t.TempDir())
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
	_, store := openStore(t, t.TempDir())
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

func TestJobsLeftRunningAreRunAgainAfterARestart(t *testing.T) {
	dir := t.TempDir()
	d, store := openStore(t, dir)
	q := jobs.New(jobs.Config{Store: store, Poll: time.Millisecond})
	q.Handle("audio", func(context.Context, jobs.Job) error { return nil })
	q.Enqueue(t.Context(), "audio", "ev1")
	// A process claimed it and died.
	if _, ok, err := store.Claim(t.Context(), []string{"audio"}, time.Now()); !ok || err != nil {
		t.Fatal(ok, err)
	}
	d.Close()
	_, store = openStore(t, dir)
	q = jobs.New(jobs.Config{Store: store, Poll: time.Millisecond})
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
