// Package blobtest is the conformance suite every blob.Store backend runs.
package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sightline/sightline/internal/blob"
)

// Run checks that the stores made by open keep the blob.Store contract, and
// the optional Lister and Adopter contracts where they are implemented. Each
// subtest gets a new, empty store.
func Run(t *testing.T, open func(t *testing.T) blob.Store) {
	t.Run("RoundTrip", func(t *testing.T) {
		s := open(t)
		for _, size := range []int{0, 1, 4096, 3<<20 + 17} {
			data := random(t, size)
			ref := blob.Sum(data)
			if err := s.Put(t.Context(), ref, bytes.NewReader(data)); err != nil {
				t.Fatalf("Put %d bytes: %v", size, err)
			}
			if got := read(t, s, ref); !bytes.Equal(got, data) {
				t.Fatalf("Open after Put of %d bytes returned %d different bytes", size, len(got))
			}
			n, err := s.Stat(t.Context(), ref)
			if err != nil || n != int64(size) {
				t.Fatalf("Stat = %d, %v; want %d", n, err, size)
			}
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		ref := blob.Sum([]byte("absent"))
		if _, err := s.Open(t.Context(), ref); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Open of absent blob: %v, want ErrNotFound", err)
		}
		if _, err := s.Stat(t.Context(), ref); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Stat of absent blob: %v, want ErrNotFound", err)
		}
	})

	t.Run("HashMismatchStoresNothing", func(t *testing.T) {
		s := open(t)
		data := random(t, 1000)
		wrong := blob.Sum([]byte("something else"))
		err := s.Put(t.Context(), wrong, bytes.NewReader(data))
		if !errors.Is(err, blob.ErrHashMismatch) {
			t.Fatalf("Put under the wrong ref: %v, want ErrHashMismatch", err)
		}
		for _, ref := range []blob.Ref{wrong, blob.Sum(data)} {
			if _, err := s.Stat(t.Context(), ref); !errors.Is(err, blob.ErrNotFound) {
				t.Errorf("after a refused Put, Stat(%s) = %v, want ErrNotFound", ref, err)
			}
		}
		assertEmpty(t, s)
	})

	t.Run("ReaderErrorStoresNothing", func(t *testing.T) {
		s := open(t)
		data := random(t, 1<<20)
		ref := blob.Sum(data)
		boom := errors.New("connection lost")
		r := io.MultiReader(bytes.NewReader(data[:len(data)/2]), errReader{boom})
		if err := s.Put(t.Context(), ref, r); !errors.Is(err, boom) {
			t.Fatalf("Put from a failing reader: %v, want %v", err, boom)
		}
		if _, err := s.Stat(t.Context(), ref); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("after a failed Put, Stat = %v, want ErrNotFound", err)
		}
		assertEmpty(t, s)
	})

	t.Run("CanceledContextStoresNothing", func(t *testing.T) {
		s := open(t)
		data := random(t, 1<<20)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := s.Put(ctx, blob.Sum(data), bytes.NewReader(data)); err == nil {
			t.Fatal("Put with a canceled context succeeded")
		}
		if _, err := s.Stat(t.Context(), blob.Sum(data)); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("after a canceled Put, Stat = %v, want ErrNotFound", err)
		}
	})

	t.Run("SameBytesStoredOnce", func(t *testing.T) {
		s := open(t)
		data := random(t, 10000)
		ref := blob.Sum(data)
		for range 3 {
			if err := s.Put(t.Context(), ref, bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
		}
		if l, ok := s.(blob.Lister); ok {
			if refs := list(t, l); len(refs) != 1 || refs[0] != ref {
				t.Errorf("after three Puts of one blob, List = %v, want [%s]", refs, ref)
			}
		}
	})

	t.Run("ConcurrentPutsOfOneRef", func(t *testing.T) {
		s := open(t)
		data := random(t, 256<<10)
		ref := blob.Sum(data)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() { errs <- s.Put(t.Context(), ref, bytes.NewReader(data)) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if got := read(t, s, ref); !bytes.Equal(got, data) {
			t.Fatal("blob differs after concurrent Puts")
		}
	})

	t.Run("RangeRead", func(t *testing.T) {
		s := open(t)
		data := random(t, 100000)
		ref := blob.Sum(data)
		if err := s.Put(t.Context(), ref, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		rc, err := s.Open(t.Context(), ref)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		end, err := rc.Seek(0, io.SeekEnd)
		if err != nil || end != int64(len(data)) {
			t.Fatalf("Seek to end = %d, %v; want %d", end, err, len(data))
		}
		if _, err := rc.Seek(54321, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1000)
		if _, err := io.ReadFull(rc, buf); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf, data[54321:55321]) {
			t.Fatal("range read returned the wrong bytes")
		}
		// Back, then on to the end: a player seeks both ways.
		if _, err := rc.Seek(-2000, io.SeekCurrent); err != nil {
			t.Fatal(err)
		}
		rest, err := io.ReadAll(rc)
		if err != nil || !bytes.Equal(rest, data[53321:]) {
			t.Fatalf("reading on after seeking back: %d bytes, %v; want the last %d", len(rest), err, len(data)-53321)
		}
	})

	t.Run("PutFromFile", func(t *testing.T) {
		// Ingest and derived files hand Put an open file.
		s := open(t)
		data := random(t, 300000)
		path := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := s.Put(t.Context(), blob.Sum(data[1:]), f); !errors.Is(err, blob.ErrHashMismatch) {
			t.Fatalf("Put of a file under the wrong ref: %v, want ErrHashMismatch", err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(t.Context(), blob.Sum(data), f); err != nil {
			t.Fatal(err)
		}
		if got := read(t, s, blob.Sum(data)); !bytes.Equal(got, data) {
			t.Fatal("blob put from a file reads back differently")
		}
		if err := blob.StoreFile(t.Context(), s, blob.Sum(data), path); err != nil {
			t.Fatalf("StoreFile of a stored blob: %v", err)
		}
	})

	t.Run("Adopt", func(t *testing.T) {
		s := open(t)
		a, ok := s.(blob.Adopter)
		if !ok {
			t.Skip("store does not implement blob.Adopter")
		}
		data := random(t, 200000)
		ref := blob.Sum(data)
		for i := range 2 {
			path := filepath.Join(t.TempDir(), "upload")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := a.Adopt(t.Context(), ref, path); err != nil {
				t.Fatalf("Adopt #%d: %v", i+1, err)
			}
			// The caller removes its file once its records are durable; the
			// blob must not go with it.
			if err := os.Remove(path); err != nil {
				t.Fatalf("removing the adopted file: %v", err)
			}
		}
		if got := read(t, s, ref); !bytes.Equal(got, data) {
			t.Fatal("adopted blob reads back differently")
		}
		if l, ok := s.(blob.Lister); ok {
			if refs := list(t, l); len(refs) != 1 {
				t.Errorf("after adopting one blob twice, List has %d entries", len(refs))
			}
		}
	})

	t.Run("List", func(t *testing.T) {
		s := open(t)
		l, ok := s.(blob.Lister)
		if !ok {
			t.Skip("store does not implement blob.Lister")
		}
		want := map[blob.Ref]bool{}
		for i := range 20 {
			data := random(t, i*100)
			ref := blob.Sum(data)
			want[ref] = true
			if err := s.Put(t.Context(), ref, bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
		}
		got := list(t, l)
		if len(got) != len(want) {
			t.Fatalf("List returned %d refs, want %d", len(got), len(want))
		}
		for _, r := range got {
			if !want[r] {
				t.Errorf("List returned unknown ref %s", r)
			}
		}
	})
}

func random(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func read(t *testing.T, s blob.Store, ref blob.Ref) []byte {
	t.Helper()
	rc, err := s.Open(t.Context(), ref)
	if err != nil {
		t.Fatalf("Open %s: %v", ref, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", ref, err)
	}
	return b
}

func list(t *testing.T, l blob.Lister) []blob.Ref {
	t.Helper()
	var refs []blob.Ref
	for ref, err := range l.List(t.Context()) {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		refs = append(refs, ref)
	}
	return refs
}

func assertEmpty(t *testing.T, s blob.Store) {
	t.Helper()
	if l, ok := s.(blob.Lister); ok {
		if refs := list(t, l); len(refs) != 0 {
			t.Errorf("store holds %d blobs, want none", len(refs))
		}
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
