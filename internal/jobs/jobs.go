// Package jobs runs background work that must survive a restart: a
// durable queue (kept by a Store, the database in production) and a pool
// of workers that run each job by its kind.
//
// A job is named by its kind and subject ("audio", an evidence id). Asking
// for a job while one of the same name waits is a no-op; asking while one
// runs queues one more run, so work asked for after a run started is never
// lost. Handlers must be idempotent: a job is run at least once, and again
// after a crash that interrupted it. A failing job is retried with growing
// delays, then marked failed with its error: reported, never dropped.
//
// Several servers may run one queue (PostgreSQL). A running job is held by
// its server under a lease the server renews while it works; no other
// server runs it meanwhile. A job whose server died is taken over by
// another once the lease has run out; the same server, restarted, takes
// back at once what it held (it alone holds its data folder, so its
// earlier run is surely dead). Every store write that ends a run names its
// owner, so a server that lost its lease (stalled past it) changes
// nothing: its handler's context is cancelled and its outcome dropped.
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
	// TakenFrom is the server whose lease on this run of the job ran
	// out, when Claim took it over; empty otherwise.
	TakenFrom string
}

// ErrLost is returned by a Store when the owner named no longer holds the
// running job: its lease ran out and another server took it over.
var ErrLost = errors.New("jobs: the job's lease is held by another server")

// Store keeps the queue. Every method is durable on return, and safe to
// call from several servers at once. The methods on a running job take
// its owner and return ErrLost, changing nothing, if the owner no longer
// holds it.
type Store interface {
	// Enqueue queues kind/subject to run at or after at, unless one waits.
	Enqueue(ctx context.Context, kind, subject string, at time.Time) error
	// Claim gives owner, until the lease ends at until, the oldest due job
	// of one of kinds: a queued one whose time has come, or a running one
	// whose lease has ended (its server died). It counts an attempt; ok
	// is false when none is due.
	Claim(ctx context.Context, kinds []string, owner string, now, until time.Time) (j Job, ok bool, err error)
	// Renew moves the lease of a running job on to until.
	Renew(ctx context.Context, id int64, owner string, until time.Time) error
	// Finish marks a running job done.
	Finish(ctx context.Context, id int64, owner string, now time.Time) error
	// Retry queues a running job again for at, keeping its error. If
	// another run of the same job already waits, this one is dropped in
	// its favour.
	Retry(ctx context.Context, id int64, owner string, at time.Time, msg string) error
	// Release queues a running job again, as Retry does, without counting
	// the run cut short (by shutdown) as an attempt.
	Release(ctx context.Context, id int64, owner string, now time.Time) error
	// Fail marks a running job failed with its error.
	Fail(ctx context.Context, id int64, owner string, now time.Time, msg string) error
	// Requeue queues again every job owner holds, and any left running
	// before jobs had owners: at owner's start, what its previous run
	// (which died) left.
	Requeue(ctx context.Context, owner string, now time.Time) (int, error)
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
	// Poll is how often idle workers look for jobs due later, or for
	// jobs whose lease ran out. Default 1 s.
	Poll time.Duration
	// Owner names this server among those sharing the store; it must be
	// the same after a restart, and no two running servers may share it.
	// A random name if empty (what it held is then taken over only when
	// its lease runs out).
	Owner string
	// Lease is how long a running job stays held without a renewal; it
	// is renewed every third of it. Default 1 minute.
	Lease time.Duration
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
	if cfg.Lease <= 0 {
		cfg.Lease = time.Minute
	}
	if cfg.Owner == "" {
		var b [8]byte
		rand.Read(b[:])
		cfg.Owner = hex.EncodeToString(b[:])
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

// Run queues again what this server's previous run left running, then
// runs jobs until ctx ends, and waits for the running ones to return.
func (q *Queue) Run(ctx context.Context) error {
	n, err := q.cfg.Store.Requeue(ctx, q.cfg.Owner, q.cfg.Now())
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
		now := q.cfg.Now()
		j, ok, err := q.cfg.Store.Claim(ctx, q.kinds, q.cfg.Owner, now, now.Add(q.cfg.Lease))
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

// run runs one claimed job, holding its lease, and records how it ended.
// A job cut short by shutdown is queued again at once.
func (q *Queue) run(ctx context.Context, j Job) {
	log := q.cfg.Logger.With("job", j.ID, "kind", j.Kind, "subject", j.Subject, "attempt", j.Attempts)
	if j.TakenFrom != "" {
		log.Warn("job taken over from a server whose lease ran out", "server", j.TakenFrom)
	}
	bg := context.WithoutCancel(ctx)
	var err error
	if j.Attempts > q.cfg.Attempts {
		// Its servers died running it, again and again.
		err = fmt.Errorf("the job's server stopped while running it %d times", j.Attempts-1)
	} else {
		err = q.hold(ctx, j, log)
		if errors.Is(err, ErrLost) {
			log.Warn("job given up: its lease ran out and another server has it")
			return
		}
		if ctx.Err() != nil {
			if err := q.cfg.Store.Release(bg, j.ID, q.cfg.Owner, q.cfg.Now()); err != nil && !errors.Is(err, ErrLost) {
				log.Error("jobs: releasing a job cut short", "err", err)
			}
			return
		}
	}
	switch {
	case err == nil:
		err = q.cfg.Store.Finish(bg, j.ID, q.cfg.Owner, q.cfg.Now())
	case j.Attempts >= q.cfg.Attempts:
		log.Error("job failed", "err", err)
		j.State, j.LastError = Failed, err.Error()
		if q.cfg.Failed != nil {
			q.cfg.Failed(bg, j)
		}
		err = q.cfg.Store.Fail(bg, j.ID, q.cfg.Owner, q.cfg.Now(), j.LastError)
	default:
		wait := q.cfg.Backoff << (2 * (j.Attempts - 1))
		log.Warn("job will be retried", "err", err, "in", wait)
		err = q.cfg.Store.Retry(bg, j.ID, q.cfg.Owner, q.cfg.Now().Add(wait), err.Error())
	}
	if errors.Is(err, ErrLost) {
		log.Warn("job's outcome dropped: its lease ran out and another server has it")
	} else if err != nil {
		log.Error("jobs: recording the end of a job", "err", err)
	}
}

// hold runs the handler while renewing the job's lease. If the lease is
// lost (another server took the job over, or renewals failed until it
// ran out), the handler's context is cancelled and hold returns ErrLost.
func (q *Queue) hold(ctx context.Context, j Job, log *slog.Logger) error {
	hctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	wg.Go(func() {
		until := q.cfg.Now().Add(q.cfg.Lease)
		tick := time.NewTicker(q.cfg.Lease / 3)
		defer tick.Stop()
		for {
			select {
			case <-hctx.Done():
				return
			case <-tick.C:
			}
			next := q.cfg.Now().Add(q.cfg.Lease)
			err := q.cfg.Store.Renew(hctx, j.ID, q.cfg.Owner, next)
			switch {
			case err == nil:
				until = next
			case errors.Is(err, ErrLost):
				cancel(ErrLost)
				return
			case hctx.Err() != nil:
				return
			default:
				log.Error("jobs: renewing a lease", "err", err)
				if !q.cfg.Now().Before(until) {
					cancel(ErrLost)
					return
				}
			}
		}
	})
	err := q.call(hctx, j)
	cancel(nil) // ends the renewals; a lost lease stays the cause
	wg.Wait()
	if errors.Is(context.Cause(hctx), ErrLost) {
		return ErrLost
	}
	return err
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
