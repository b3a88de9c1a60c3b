package blobtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"iter"
	"sync"

	"github.com/sightline/sightline/internal/blob"
)

// Memory is a blob.Store held in memory, for unit tests that need a store
// but not its durability. It keeps the rest of the contract (the suite in
// Run checks it).
type Memory struct {
	mu    sync.Mutex
	blobs map[blob.Ref][]byte
}

var (
	_ blob.Store  = (*Memory)(nil)
	_ blob.Lister = (*Memory)(nil)
)

// NewMemory returns an empty Memory store.
func NewMemory() *Memory { return &Memory{blobs: map[blob.Ref][]byte{}} }

// Put implements blob.Store.
func (m *Memory) Put(ctx context.Context, ref blob.Ref, r io.Reader) error {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(r)
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("blob: put %s: %w", ref, err)
	}
	if got := blob.Sum(buf.Bytes()); got != ref {
		return fmt.Errorf("blob: put %s: content hashes to %s: %w", ref, got, blob.ErrHashMismatch)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.blobs[ref]; !ok {
		m.blobs[ref] = buf.Bytes()
	}
	return nil
}

// Open implements blob.Store.
func (m *Memory) Open(ctx context.Context, ref blob.Ref) (io.ReadSeekCloser, error) {
	m.mu.Lock()
	b, ok := m.blobs[ref]
	m.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", ref, blob.ErrNotFound)
	}
	return nopCloser{bytes.NewReader(b)}, nil
}

// Stat implements blob.Store.
func (m *Memory) Stat(ctx context.Context, ref blob.Ref) (int64, error) {
	m.mu.Lock()
	b, ok := m.blobs[ref]
	m.mu.Unlock()
	if !ok {
		return 0, fmt.Errorf("blob %s: %w", ref, blob.ErrNotFound)
	}
	return int64(len(b)), nil
}

// List implements blob.Lister.
func (m *Memory) List(ctx context.Context) iter.Seq2[blob.Ref, error] {
	m.mu.Lock()
	refs := make([]blob.Ref, 0, len(m.blobs))
	for ref := range m.blobs {
		refs = append(refs, ref)
	}
	m.mu.Unlock()
	return func(yield func(blob.Ref, error) bool) {
		for _, ref := range refs {
			if !yield(ref, ctx.Err()) {
				return
			}
		}
	}
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
