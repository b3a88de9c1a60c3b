package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	tusd "github.com/tus/tusd/v2/pkg/handler"

	"github.com/sightline/sightline/internal/durable"
)

// A spool keeps uploads in progress: each one's state (uploadState) and
// the bytes acknowledged so far. One server keeps them in a folder
// (fileSpool); servers that continue each other's uploads keep the
// states in their shared database and the bytes in their bucket
// (sharedSpool). Every method but read is called with the upload's lock
// held.
type spool interface {
	// create makes a new upload with no bytes yet.
	create(ctx context.Context, st *uploadState) error
	// read returns an upload's saved state, tusd.ErrNotFound if there is
	// none; it changes nothing.
	read(ctx context.Context, id string) (uploadState, error)
	// prepare readies the bytes of the upload st for a writer: bytes
	// past the saved offset (never acknowledged) are dropped.
	prepare(ctx context.Context, st *uploadState) error
	// save replaces the upload's state, durably and whole.
	save(ctx context.Context, st *uploadState) error
	// drop removes the upload's bytes and keeps its state (a tombstone).
	drop(ctx context.Context, id string) error
	// remove removes the upload's state and bytes.
	remove(ctx context.Context, id string) error
	// ids lists the uploads.
	ids(ctx context.Context) ([]string, error)
	// head reads the first n acknowledged bytes (n at most the offset).
	head(ctx context.Context, st *uploadState, n int64) ([]byte, error)
	// file is a file holding the acknowledged bytes, for the tools that
	// read it and the blob store; done lets go of it.
	file(ctx context.Context, st *uploadState) (path string, done func(), err error)
	// sink opens the upload's bytes for appending at its offset.
	sink(ctx context.Context, st *uploadState) (sink, error)
	// clean removes what a crash left that belongs to no upload.
	clean(ctx context.Context) error
	// contents names what the spool holds, as file names (Spooled).
	contents(ctx context.Context) ([]string, error)
}

// A sink appends one request's bytes to an upload.
type sink interface {
	// write appends p (which the caller reuses once write returns).
	write(p []byte) error
	// sync makes every byte written durable, and records in st where
	// they are kept; st is saved next.
	sync(ctx context.Context, st *uploadState) error
	// discard drops the bytes written since the state saved, st.
	discard(ctx context.Context, st *uploadState) error
	close() error
}

// fileSpool keeps each upload in two files in a folder:
//
//	<id>.bin   the bytes received so far
//	<id>.json  the upload's state, replaced atomically
//
// The state is written after the data is fsynced; bytes past the saved
// offset (never acknowledged) are cut off when the upload is next
// written.
type fileSpool struct{ dir string }

func (s fileSpool) binPath(id string) string   { return filepath.Join(s.dir, id+".bin") }
func (s fileSpool) statePath(id string) string { return filepath.Join(s.dir, id+".json") }

func (s fileSpool) create(_ context.Context, st *uploadState) error {
	f, err := os.OpenFile(s.binPath(st.Info.ID), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	// The state file is what makes an upload exist; the empty data file
	// before it is harmless if we crash in between.
	if err := s.save(context.Background(), st); err != nil {
		os.Remove(s.binPath(st.Info.ID))
		return err
	}
	return nil
}

func (s fileSpool) read(_ context.Context, id string) (uploadState, error) {
	b, err := os.ReadFile(s.statePath(id))
	if errors.Is(err, fs.ErrNotExist) {
		err = tusd.ErrNotFound
	}
	return decodeState(id, b, err)
}

// decodeState reads an upload's saved state, as read with err.
func decodeState(id string, b []byte, err error) (uploadState, error) {
	var st uploadState
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("ingest: upload %s: corrupt state: %w", id, err)
	}
	return st, nil
}

func (s fileSpool) prepare(_ context.Context, st *uploadState) error {
	id := st.Info.ID
	fi, err := os.Stat(s.binPath(id))
	if err != nil {
		return fmt.Errorf("ingest: upload %s: %w", id, err)
	}
	if fi.Size() < st.Info.Offset {
		return fmt.Errorf("ingest: upload %s: %d bytes on disk, %d acknowledged", id, fi.Size(), st.Info.Offset)
	}
	if fi.Size() > st.Info.Offset {
		return os.Truncate(s.binPath(id), st.Info.Offset)
	}
	return nil
}

func (s fileSpool) save(_ context.Context, st *uploadState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return durable.WriteFile(s.statePath(st.Info.ID), b, 0o600)
}

func (s fileSpool) drop(_ context.Context, id string) error { return durable.Remove(s.binPath(id)) }

func (s fileSpool) remove(_ context.Context, id string) error {
	if err := durable.Remove(s.statePath(id)); err != nil {
		return err
	}
	return durable.Remove(s.binPath(id))
}

func (s fileSpool) ids(context.Context) ([]string, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range ents {
		if id, ok := strings.CutSuffix(e.Name(), ".json"); ok && validID(id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func (s fileSpool) head(_ context.Context, st *uploadState, n int64) ([]byte, error) {
	f, err := os.Open(s.binPath(st.Info.ID))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	_, err = io.ReadFull(f, b)
	return b, err
}

func (s fileSpool) file(_ context.Context, st *uploadState) (string, func(), error) {
	return s.binPath(st.Info.ID), func() {}, nil
}

func (s fileSpool) sink(_ context.Context, st *uploadState) (sink, error) {
	f, err := os.OpenFile(s.binPath(st.Info.ID), os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	return &fileSink{f: f, off: st.Info.Offset, writebackFrom: st.Info.Offset}, nil
}

// clean removes state writes cut short and data files of uploads whose
// state was never written (created, never acknowledged).
func (s fileSpool) clean(ctx context.Context) error {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		name := e.Name()
		id, isBin := strings.CutSuffix(name, ".bin")
		switch {
		case strings.HasPrefix(name, ".tmp-"):
			os.Remove(filepath.Join(s.dir, name))
		case isBin:
			if _, err := s.read(ctx, id); errors.Is(err, tusd.ErrNotFound) {
				os.Remove(filepath.Join(s.dir, name))
			}
		}
	}
	return nil
}

func (s fileSpool) contents(context.Context) ([]string, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, nil
}

// fileSink appends to an upload's data file. Every few MiB it asks the
// kernel to start writing back, so that the fsync that acknowledges the
// chunk waits for little.
type fileSink struct {
	f             *os.File
	off           int64 // where the next write goes
	writebackFrom int64 // start of the range not yet sent to writeback
}

func (w *fileSink) write(p []byte) error {
	n, err := w.f.WriteAt(p, w.off)
	w.off += int64(n)
	if err != nil {
		return err
	}
	if w.off-w.writebackFrom >= writebackEvery {
		startWriteback(w.f, w.writebackFrom, w.off-w.writebackFrom)
		w.writebackFrom = w.off
	}
	return nil
}

func (w *fileSink) sync(context.Context, *uploadState) error {
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("ingest: fsync: %w", err)
	}
	return nil
}

func (w *fileSink) discard(_ context.Context, st *uploadState) error {
	w.off = st.Info.Offset
	return w.f.Truncate(st.Info.Offset)
}

func (w *fileSink) close() error { return w.f.Close() }
