package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/transparency-dev/tessera/client"

	"github.com/sightline/sightline/verify"
)

// Pin is the log held at one checkpoint, for a document that must come out
// the same each time it is made (an evidence package): every proof it
// gives is against that checkpoint, whatever the log has grown to since.
type Pin struct {
	Kept

	l  *Log
	mu sync.Mutex // a ProofBuilder is not safe for concurrent use
	pb *client.ProofBuilder
}

// Kept is a checkpoint from the log's history.
type Kept struct {
	// Note is the signed checkpoint note, verbatim.
	Note []byte
	verify.Checkpoint
	At time.Time
}

// ErrNotKept says no checkpoint of that size is in the log's history: a
// pin can only be made again at a checkpoint the log kept.
var ErrNotKept = errors.New("the log kept no checkpoint of that size")

// Pin holds the log at a checkpoint that covers every entry sequenced so
// far (it waits at most a checkpoint interval for one), and keeps it in
// the history so that PinAt can find it again.
func (l *Log) Pin(ctx context.Context) (*Pin, error) {
	if l.history == nil {
		return nil, errors.New("ledger: pinning needs a checkpoint history")
	}
	next, err := l.NextIndex(ctx)
	if err != nil {
		return nil, err
	}
	if next == 0 {
		return nil, errors.New("ledger: the log is empty")
	}
	raw, err := l.awaitWitnessed(ctx, next-1)
	if err != nil {
		return nil, err
	}
	if err := l.history.record(ctx, raw, true, time.Now()); err != nil {
		return nil, err
	}
	cp, err := verify.OpenCheckpoint(raw, l.verifier)
	if err != nil {
		return nil, fmt.Errorf("ledger: own checkpoint: %w", err)
	}
	return l.PinAt(ctx, cp.Size)
}

// PinAt holds the log at the checkpoint of the given size that its history
// kept, or fails with ErrNotKept.
func (l *Log) PinAt(ctx context.Context, size uint64) (*Pin, error) {
	kept, err := l.Kept(ctx)
	if err != nil {
		return nil, err
	}
	for _, k := range kept {
		if k.Size == size {
			pb, err := client.NewProofBuilder(ctx, size, l.reader.ReadTile)
			if err != nil {
				return nil, fmt.Errorf("ledger: %w", err)
			}
			return &Pin{Kept: k, l: l, pb: pb}, nil
		}
	}
	return nil, fmt.Errorf("%w: %d", ErrNotKept, size)
}

// Kept lists the checkpoints in the log's history, smallest first, each
// checked against the log's key.
func (l *Log) Kept(ctx context.Context) ([]Kept, error) {
	if l.history == nil {
		return nil, nil
	}
	var out []Kept
	for k, err := range History(ctx, l.history.store, l.verifier) {
		if err != nil {
			return nil, fmt.Errorf("ledger: history: %w", err)
		}
		out = append(out, k)
	}
	return out, nil
}

// Entry returns the entry at index, which the pinned checkpoint must
// cover.
func (p *Pin) Entry(ctx context.Context, index uint64) ([]byte, error) {
	if index >= p.Size {
		return nil, fmt.Errorf("ledger: entry %d is not in the pinned checkpoint of %d", index, p.Size)
	}
	return p.l.Entry(ctx, index)
}

// Receipt proves the entry at index is in the pinned checkpoint.
func (p *Pin) Receipt(ctx context.Context, index uint64, sha256 string, size int64) (verify.Receipt, error) {
	entry, err := p.Entry(ctx, index)
	if err != nil {
		return verify.Receipt{}, err
	}
	p.mu.Lock()
	hashes, err := p.pb.InclusionProof(ctx, index)
	p.mu.Unlock()
	if err != nil {
		return verify.Receipt{}, fmt.Errorf("ledger: inclusion proof: %w", err)
	}
	return verify.Receipt{
		Format: verify.Format, SHA256: sha256, Size: size,
		Entry: string(entry), Index: index, InclusionProof: encodeHashes(hashes),
		Checkpoint: string(p.Note), Origin: p.l.origin, VerifierKey: p.l.vkey,
	}, nil
}

// Consistency proves the pinned checkpoint extends an earlier one of the
// given size.
func (p *Pin) Consistency(ctx context.Context, from uint64) ([]string, error) {
	if from > p.Size {
		return nil, fmt.Errorf("ledger: checkpoint %d is newer than the pinned %d", from, p.Size)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	hashes, err := p.pb.ConsistencyProof(ctx, from, p.Size)
	if err != nil {
		return nil, fmt.Errorf("ledger: consistency proof: %w", err)
	}
	return encodeHashes(hashes), nil
}

// VerifierKey is the key of the pinned log.
func (p *Pin) VerifierKey() string { return p.l.vkey }

// Earlier lists the checkpoints the log kept before the pinned one,
// smallest first.
func (p *Pin) Earlier(ctx context.Context) ([]Kept, error) {
	kept, err := p.l.Kept(ctx)
	var out []Kept
	for _, k := range kept {
		if k.Size < p.Size {
			out = append(out, k)
		}
	}
	return out, err
}
