package ledger

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/sightline/sightline/internal/durable"
	"github.com/sightline/sightline/verify"
)

// HistoryStore keeps the checkpoints of a log's history: a file for one
// server (HistoryFile), a table of the shared database for several.
type HistoryStore interface {
	// KeepCheckpoint adds cp, of the given size, kept at at, durably
	// before it returns; one of a size already kept is not added again.
	KeepCheckpoint(ctx context.Context, size uint64, cp []byte, at time.Time) error
	// LastCheckpoint is the size of the largest checkpoint kept and when
	// it was kept; 0 if none is.
	LastCheckpoint(ctx context.Context) (uint64, time.Time, error)
	// Checkpoints yields the checkpoints kept, in the order of their
	// sizes.
	Checkpoints(ctx context.Context) iter.Seq2[KeptNote, error]
}

// A KeptNote is a checkpoint as a history keeps it: its signed note,
// verbatim, and when it was kept.
type KeptNote struct {
	Note []byte
	At   time.Time
}

// history keeps checkpoints the log has published in its HistoryStore:
// the log's memory of its own past roots, so that an audit can show each
// is consistent with the next: a log whose tiles were rewritten, even
// under a freshly signed checkpoint, cannot be.
//
// Not every checkpoint is kept: a busy log signs one every interval. The
// history keeps the first the log sees after it opens, each one a receipt
// hands out, and otherwise at most one per Config.HistoryEvery (per
// server, when several share a log).
type history struct {
	store    HistoryStore
	every    time.Duration
	mu       sync.Mutex
	lastSize uint64
	lastAt   time.Time
	known    bool // lastSize is meaningful
}

// record keeps cp if it is larger than the last one kept and either force
// is set or the last one kept is older than the history's interval.
func (h *history) record(ctx context.Context, cp []byte, force bool, now time.Time) error {
	size, err := checkpointSize(cp)
	if err != nil {
		return err
	}
	if size == 0 {
		return nil // an empty tree proves nothing
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.known {
		if h.lastSize, h.lastAt, err = h.store.LastCheckpoint(ctx); err != nil {
			return fmt.Errorf("ledger: history: %w", err)
		}
		h.known = true
	}
	if size <= h.lastSize {
		return nil
	}
	if !force && now.Sub(h.lastAt) < h.every {
		return nil
	}
	if err := h.store.KeepCheckpoint(ctx, size, cp, now.UTC()); err != nil {
		return fmt.Errorf("ledger: history: %w", err)
	}
	h.lastSize, h.lastAt = size, now
	return nil
}

// HistoryFile keeps a history in an append-only file: one JSON line per
// checkpoint, fsynced before it counts. The file is opened when a
// checkpoint is first kept, and a last line cut short by a crash is
// removed then (it was never acknowledged); reading it changes nothing.
type HistoryFile struct {
	path string
	mu   sync.Mutex
	f    *os.File
	last historyLine
	size uint64
}

var _ HistoryStore = (*HistoryFile)(nil)

// NewHistoryFile names a history file; nothing is opened yet.
func NewHistoryFile(path string) *HistoryFile { return &HistoryFile{path: path} }

// historyLine is one line of the history file.
type historyLine struct {
	Checkpoint string `json:"checkpoint"`
	// At is when it was kept (lines written before it existed lack it).
	At time.Time `json:"at,omitzero"`
}

// open opens the file for appending, creating it if needed, and drops a
// partial last line. Called with mu held.
func (h *HistoryFile) open() error {
	if h.f != nil {
		return nil
	}
	f, err := os.OpenFile(h.path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	var good int64
	var last []byte
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			break // a partial line (or none) is dropped below
		}
		if err != nil {
			f.Close()
			return err
		}
		good += int64(len(line))
		last = line
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return err
	}
	if last != nil {
		var hl historyLine
		if err := json.Unmarshal(last, &hl); err == nil {
			if size, err := checkpointSize([]byte(hl.Checkpoint)); err == nil {
				h.last, h.size = hl, size
			}
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	// The file may be new: its name is made durable with its folder.
	if err := durable.SyncDir(filepath.Dir(h.path)); err != nil {
		f.Close()
		return err
	}
	h.f = f
	return nil
}

// KeepCheckpoint implements HistoryStore.
func (h *HistoryFile) KeepCheckpoint(_ context.Context, size uint64, cp []byte, at time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.open(); err != nil {
		return err
	}
	if size <= h.size {
		return nil
	}
	hl := historyLine{string(cp), at}
	line, err := json.Marshal(hl)
	if err != nil {
		return err
	}
	if _, err := h.f.Write(append(line, '\n')); err != nil {
		return err
	}
	if err := h.f.Sync(); err != nil {
		return err
	}
	h.last, h.size = hl, size
	return nil
}

// LastCheckpoint implements HistoryStore.
func (h *HistoryFile) LastCheckpoint(context.Context) (uint64, time.Time, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.open(); err != nil {
		return 0, time.Time{}, err
	}
	return h.size, h.last.At, nil
}

// Close closes the file, if it was opened.
func (h *HistoryFile) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.f == nil {
		return nil
	}
	err := h.f.Close()
	h.f = nil
	return err
}

// Checkpoints implements HistoryStore: the file's lines in order. A
// missing file is an empty history; a line that is not JSON is yielded
// as an error with its line number, and reading goes on.
func (h *HistoryFile) Checkpoints(context.Context) iter.Seq2[KeptNote, error] {
	return func(yield func(KeptNote, error) bool) {
		f, err := os.Open(h.path)
		if errors.Is(err, os.ErrNotExist) {
			return
		}
		if err != nil {
			yield(KeptNote{}, err)
			return
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for n := 1; sc.Scan(); n++ {
			var hl historyLine
			if err := json.Unmarshal(sc.Bytes(), &hl); err != nil {
				if !yield(KeptNote{}, fmt.Errorf("line %d: %w", n, err)) {
					return
				}
				continue
			}
			if !yield(KeptNote{[]byte(hl.Checkpoint), hl.At}, nil) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			yield(KeptNote{}, err)
		}
	}
}

// checkpointSize reads the tree size of a checkpoint note without checking
// its signature: the history only keeps checkpoints the log itself signed.
func checkpointSize(cp []byte) (uint64, error) {
	lines := bytes.SplitN(cp, []byte("\n"), 3)
	if len(lines) < 3 {
		return 0, errors.New("ledger: malformed checkpoint")
	}
	var size uint64
	if _, err := fmt.Sscan(string(lines[1]), &size); err != nil {
		return 0, fmt.Errorf("ledger: malformed checkpoint size: %w", err)
	}
	return size, nil
}

// History reads a checkpoint history, verifying each checkpoint with v,
// in the store's order. A checkpoint that is not signed with v is yielded
// as an error, with its place in the history, and reading goes on.
func History(ctx context.Context, store HistoryStore, v note.Verifier) iter.Seq2[Kept, error] {
	return func(yield func(Kept, error) bool) {
		n := 0
		for kn, err := range store.Checkpoints(ctx) {
			n++
			if err != nil {
				if !yield(Kept{}, err) {
					return
				}
				continue
			}
			cp, err := verify.OpenCheckpoint(kn.Note, v)
			if err != nil {
				err = fmt.Errorf("checkpoint %d of the history: %w", n, err)
			}
			if !yield(Kept{kn.Note, cp, kn.At}, err) {
				return
			}
		}
	}
}
