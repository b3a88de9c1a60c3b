package ledger

import (
	"bufio"
	"bytes"
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

// history keeps checkpoints the log has published, in the order they were
// published, in an append-only file: one JSON line per checkpoint, fsynced
// before it counts. It is the log's memory of its own past roots, so that
// an audit can show each is consistent with the next: a log whose tiles
// were rewritten, even under a freshly signed checkpoint, cannot be.
//
// Not every checkpoint is kept: a busy log signs one every interval. The
// history keeps the first the log sees after it opens, each one a receipt
// hands out, and otherwise at most one per Config.HistoryEvery.
type history struct {
	mu       sync.Mutex
	path     string
	f        *os.File
	every    time.Duration
	lastSize uint64
	lastAt   time.Time
	known    bool // lastSize is meaningful
}

// historyLine is one line of the history file.
type historyLine struct {
	Checkpoint string `json:"checkpoint"`
	// At is when it was kept (lines written before it existed lack it).
	At time.Time `json:"at,omitzero"`
}

// openHistory opens the history file at path for appending, creating it if
// needed. A last line cut short by a crash is removed: it was never
// acknowledged.
func openHistory(path string, every time.Duration) (*history, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("ledger: history: %w", err)
	}
	h := &history{path: path, f: f, every: every}
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
			return nil, fmt.Errorf("ledger: history: %w", err)
		}
		good += int64(len(line))
		last = line
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, fmt.Errorf("ledger: history: %w", err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	if last != nil {
		var hl historyLine
		if err := json.Unmarshal(last, &hl); err == nil {
			if size, err := checkpointSize([]byte(hl.Checkpoint)); err == nil {
				h.lastSize, h.known = size, true
			}
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	// The file may be new: its name is made durable with its folder.
	if err := durable.SyncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, err
	}
	return h, nil
}

// record appends cp if it is larger than the last one kept and either force
// is set or the last one kept is older than the history's interval.
func (h *history) record(cp []byte, force bool, now time.Time) error {
	size, err := checkpointSize(cp)
	if err != nil {
		return err
	}
	if size == 0 {
		return nil // an empty tree proves nothing
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.known && size <= h.lastSize {
		return nil
	}
	if h.known && !force && now.Sub(h.lastAt) < h.every {
		return nil
	}
	line, err := json.Marshal(historyLine{string(cp), now.UTC()})
	if err != nil {
		return err
	}
	if _, err := h.f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("ledger: history: %w", err)
	}
	if err := h.f.Sync(); err != nil {
		return fmt.Errorf("ledger: history: %w", err)
	}
	h.lastSize, h.lastAt, h.known = size, now, true
	return nil
}

func (h *history) close() error { return h.f.Close() }

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

// History reads the checkpoint history at path, verifying each with v. It
// yields them in the order they were kept; a line that is not a checkpoint
// signed with v is yielded as an error with its line number, and reading
// goes on. A missing file is an empty history.
func History(path string, v note.Verifier) iter.Seq2[verify.Checkpoint, error] {
	return func(yield func(verify.Checkpoint, error) bool) {
		f, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			return
		}
		if err != nil {
			yield(verify.Checkpoint{}, err)
			return
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for n := 1; sc.Scan(); n++ {
			var hl historyLine
			if err := json.Unmarshal(sc.Bytes(), &hl); err != nil {
				if !yield(verify.Checkpoint{}, fmt.Errorf("line %d: %w", n, err)) {
					return
				}
				continue
			}
			cp, err := verify.OpenCheckpoint([]byte(hl.Checkpoint), v)
			if err != nil {
				err = fmt.Errorf("line %d: %w", n, err)
			}
			if !yield(cp, err) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			yield(verify.Checkpoint{}, err)
		}
	}
}
