package ledger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/sightline/sightline/verify"
)

// ErrUnwitnessed says no published checkpoint covers an entry yet: under a
// witness policy, the quorum has not cosigned one in time (witnesses
// down, or refusing). The entry is sequenced and durable; a checkpoint
// covering it is published once the quorum cosigns.
var ErrUnwitnessed = errors.New("the log's witnesses have not cosigned a checkpoint covering it yet")

// awaitWitnessed waits for a published checkpoint covering index: under a
// witness policy for at most waitLimit, then ErrUnwitnessed.
func (l *Log) awaitWitnessed(ctx context.Context, index uint64) ([]byte, error) {
	wctx := ctx
	if l.witnessed != nil {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, l.waitLimit)
		defer cancel()
	}
	cp, err := l.AwaitCheckpoint(wctx, index)
	switch {
	case err != nil && ctx.Err() == nil && l.witnessed != nil:
		st, _ := l.Status(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("%w (%s)", ErrUnwitnessed, st.Why)
	case err != nil:
		return nil, fmt.Errorf("ledger: await checkpoint: %w", err)
	}
	return cp, nil
}

// Status is how the log stands, for /readyz and the operator.
type Status struct {
	// Witnessed says a witness policy is set.
	Witnessed bool
	// Size is the published checkpoint's; Pending, how many entries are
	// sequenced that it does not cover.
	Size, Pending uint64
	// Signed are the policy's witnesses that cosigned the published
	// checkpoint.
	Signed []string
	// Stalled says entries have waited past the witness timeout for a
	// checkpoint; Why says why, in words.
	Stalled bool
	Why     string
}

// Status reads the published checkpoint and how far behind it is.
func (l *Log) Status(ctx context.Context) (Status, error) {
	st := Status{Witnessed: l.witnessed != nil}
	raw, err := l.reader.ReadCheckpoint(ctx)
	if errors.Is(err, os.ErrNotExist) {
		// A new shared log publishes its first checkpoint a moment after
		// it opens: until then it is empty.
		next, err := l.NextIndex(ctx)
		st.Pending = next
		return st, err
	}
	if err != nil {
		return st, fmt.Errorf("ledger: read checkpoint: %w", err)
	}
	cp, err := verify.OpenCheckpoint(raw, l.verifier)
	if err != nil {
		return st, fmt.Errorf("ledger: own checkpoint: %w", err)
	}
	next, err := l.NextIndex(ctx)
	if err != nil {
		return st, err
	}
	st.Size, st.Pending = cp.Size, next-min(next, cp.Size)
	if l.witnessed == nil {
		return st, nil
	}
	w, qerr := l.witnessed.Check(raw)
	st.Signed = w.Signed
	l.growMu.Lock()
	waited := time.Since(l.grewAt)
	if cp.Size != l.grewSize {
		waited = 0
	}
	l.growMu.Unlock()
	if st.Pending > 0 && waited > l.stallAfter {
		st.Stalled = true
		st.Why = fmt.Sprintf("no checkpoint published for %d entries in %s: the witness quorum has not cosigned one", st.Pending, waited.Round(time.Second))
		if qerr != nil {
			st.Why += "; the last published: " + qerr.Error()
		}
	} else {
		st.Why = fmt.Sprintf("the published checkpoint (size %d) is cosigned by %d of the policy's %d witnesses", cp.Size, len(w.Signed), len(l.witnessed.Witnesses))
	}
	return st, nil
}

// noteGrowth records the last time the published checkpoint grew or
// covered every entry: how long entries have waited is counted from it.
func (l *Log) noteGrowth(ctx context.Context) {
	raw, err := l.reader.ReadCheckpoint(ctx)
	if err != nil {
		return
	}
	size, err := checkpointSize(raw)
	if err != nil {
		return
	}
	next, err := l.NextIndex(ctx)
	if err != nil {
		return
	}
	l.growMu.Lock()
	if size != l.grewSize || size >= next {
		l.grewSize, l.grewAt = size, time.Now()
	}
	l.growMu.Unlock()
}

// Witnesses names the witnesses of the log's policy; none if the log is
// not witnessed.
func (l *Log) Witnesses() []string {
	if l.witnessed == nil {
		return nil
	}
	var names []string
	for _, w := range l.witnessed.Witnesses {
		names = append(names, w.Name)
	}
	return names
}
