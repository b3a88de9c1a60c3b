// Package jobs runs background work that must survive a restart: a
// durable queue (kept by a Store, the database in production) and a pool
// of workers that run each job by its kind.
//
// A job is named by its kind and subject ("audio", an evidence id). Asking
// for a job while one of the same name waits is a no-op; asking while one
// runs queues one more run, so work asked for after a run started is never
// lost. Handlers must be idempotent: a job is run at least once, and again
// after a crash that interrupted it (jobs found running at start-up are
// queued again). A failing job is retried with growing delays, then
// marked failed with its error: reported, never dropped.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// State is where a job is in its life.
type State string

// The states of a job.
const (
	Queued  State = "queued"
	Running State = "running"
	Done    State = "done"
	Failed  State = "failed"
)

// Job is one run of work.
type Job struct {
	ID        int64
	Kind      string
	Subject   string
	State     State
	Attempts  int // runs started, this one included
	LastError string
}

// Store keeps the queue. Every method is durable on return.
type Store interface {
	// Enqueue queues kind/subject to run at or after at, unless one waits.
	Enqueue(ctx context.Context, kind, subject string, at time.Time) error
	// Claim marks the oldest due queued job of one of kinds running,
	// counting an attempt, and returns it; ok is false when none is due.
	Claim(ctx context.Context, kinds []string, now time.Time) (j Job, ok bool, err error)
	// Finish marks a running job done.
	Finish(ctx context.Context, id int64, now time.Time) error
	// Retry queues a running job again for at, keeping its error. If
	// another run of the same job already waits, this one is dropped in
	// its favour.
	Retry(ctx context.Context, id int64, at time.Time, msg string) error
	// Fail marks a running job failed with its error.
	Fail(ctx context.Context, id int64, now time.Time, msg string) error
	// Requeue queues again every job left running (by a process that
	// died), at start-up.
	Requeue(ctx context.Context, now time.Time) (int, error)
	// Latest returns the newest job of kind on subject; ok false if none.
	Latest(ctx context.Context, kind, subject string) (j Job, ok bool, err error)
	// Counts says how many jobs are in each state.
	Counts(ctx context.Context) (map[State]int, error)
}

// Handler runs one job. Returning an error retries it.
type Handler func(ctx context.Context, j Job) error

// Config configures a Queue.
type Config struct {
	Store Store
	// Workers is how many jobs run at once. Default 1 (media jobs run
	// ffmpeg, which uses every core it is given).
	Workers int
	// Attempts is how many times a job runs before it is marked failed.
	// Default 3.
	Attempts int
	// Backoff is the wait before the first retry; each later one waits
	// four times longer. Default 10 s.
	Backoff time.Duration
	// Poll is how often idle workers look for jobs due later. Default 1 s.
	Poll time.Duration
	// Failed, if set, is told of each job about to be marked failed:
	// before it is, so that whoever sees the job failed also sees what
	// Failed did (a crash between the two runs the job again, and tells
	// Failed again).
	Failed func(ctx context.Context, j Job)
	Logger *slog.Logger
	Now    func() time.Time
}

// Queue runs jobs from a Store.
type Queue struct {
	cfg      Config
	handlers map[string]Handler
	kinds    []string
	wake     chan struct{}
}

// New returns a queue; register handlers with Handle before Run.
func New(cfg Config) *Queue {
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 3
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 10 * time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Queue{cfg: cfg, handlers: map[string]Handler{}, wake: make(chan struct{}, 1)}
}

// Handle registers the handler of a kind of job.
func (q *Queue) Handle(kind string, h Handler) {
	q.handlers[kind] = h
	q.kinds = append(q.kinds, kind)
}

// Enqueue asks for kind to run on subject, now.
func (q *Queue) Enqueue(ctx context.Context, kind, subject string) error {
	if _, ok := q.handlers[kind]; !ok {
		return fmt.Errorf("jobs: no handler for %q", kind)
	}
	if err := q.cfg.Store.Enqueue(ctx, kind, subject, q.cfg.Now()); err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return nil
}

// Latest returns the newest job of kind on subject.
func (q *Queue) Latest(ctx context.Context, kind, subject string) (Job, bool, error) {
	return q.cfg.Store.Latest(ctx, kind, subject)
}

// Outstanding is how many jobs wait or run: 0 means every job asked for
// so far has ended (done or failed).
func (q *Queue) Outstanding(ctx context.Context) (int, error) {
	n, err := q.cfg.Store.Counts(ctx)
	if err != nil {
		return 0, fmt.Errorf("jobs: %w", err)
	}
	return n[Queued] + n[Running], nil
}

// Run queues again what a dead process left running, then runs jobs until
// ctx ends, and waits for the running ones to return.
func (q *Queue) Run(ctx context.Context) error {
	n, err := q.cfg.Store.Requeue(ctx, q.cfg.Now())
	if err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	if n > 0 {
		q.cfg.Logger.Info("jobs interrupted by a restart queued again", "jobs", n)
	}
	var wg sync.WaitGroup
	for range q.cfg.Workers {
		wg.Go(func() { q.work(ctx) })
	}
	wg.Wait()
	return nil
}

func (q *Queue) work(ctx context.Context) {
	for ctx.Err() == nil {
		j, ok, err := q.cfg.Store.Claim(ctx, q.kinds, q.cfg.Now())
		if err != nil && ctx.Err() == nil {
			q.cfg.Logger.Error("jobs: claiming", "err", err)
		}
		if !ok {
			select {
			case <-ctx.Done():
			case <-q.wake:
			case <-time.After(q.cfg.Poll):
			}
			continue
		}
		q.run(ctx, j)
		// Others may be waiting too.
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// run runs one claimed job and records how it ended. A job cut short by
// shutdown stays running in the store and is queued again at the next
// start.
func (q *Queue) run(ctx context.Context, j Job) {
	log := q.cfg.Logger.With("job", j.ID, "kind", j.Kind, "subject", j.Subject, "attempt", j.Attempts)
	err := q.call(ctx, j)
	if ctx.Err() != nil {
		return
	}
	bg := context.WithoutCancel(ctx)
	switch {
	case err == nil:
		err = q.cfg.Store.Finish(bg, j.ID, q.cfg.Now())
	case j.Attempts >= q.cfg.Attempts:
		log.Error("job failed", "err", err)
		j.State, j.LastError = Failed, err.Error()
		if q.cfg.Failed != nil {
			q.cfg.Failed(bg, j)
		}
		err = q.cfg.Store.Fail(bg, j.ID, q.cfg.Now(), j.LastError)
	default:
		wait := q.cfg.Backoff << (2 * (j.Attempts - 1))
		log.Warn("job will be retried", "err", err, "in", wait)
		err = q.cfg.Store.Retry(bg, j.ID, q.cfg.Now().Add(wait), err.Error())
	}
	if err != nil {
		log.Error("jobs: recording the end of a job", "err", err)
	}
}

// call runs the handler, turning a panic into an error.
func (q *Queue) call(ctx context.Context, j Job) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	h := q.handlers[j.Kind]
	if h == nil {
		return errors.New("no handler")
	}
	return h(ctx, j)
}
