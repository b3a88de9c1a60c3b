// Package blob keeps originals and derived files, addressed by the SHA-256 of
// their content.
//
// A blob never changes once stored: its address is its hash, so a store can
// only hold the right bytes under a name or nothing at all. Storing the same
// bytes twice keeps one copy. Backends live in this package (Local) and in
// later ones (S3); each must pass the conformance suite in blobtest.
package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
)

// Ref is the address of a blob: the SHA-256 of its content.
type Ref [sha256.Size]byte

// String returns the lower-case hex form used in paths, URLs and JSON.
func (r Ref) String() string { return hex.EncodeToString(r[:]) }

// IsZero reports whether r is the zero Ref, which addresses nothing.
func (r Ref) IsZero() bool { return r == Ref{} }

// MarshalText implements encoding.TextMarshaler.
func (r Ref) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *Ref) UnmarshalText(b []byte) error {
	p, err := ParseRef(string(b))
	if err != nil {
		return err
	}
	*r = p
	return nil
}

// ParseRef parses the 64-character lower-case hex form of a Ref.
func ParseRef(s string) (Ref, error) {
	var r Ref
	if len(s) != 2*len(r) {
		return r, fmt.Errorf("blob: ref %q: want %d hex characters", s, 2*len(r))
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return r, fmt.Errorf("blob: ref %q: not lower-case hex", s)
		}
	}
	if _, err := hex.Decode(r[:], []byte(s)); err != nil {
		return r, fmt.Errorf("blob: ref %q: %w", s, err)
	}
	return r, nil
}

// Sum returns the Ref of b.
func Sum(b []byte) Ref { return Ref(sha256.Sum256(b)) }

var (
	// ErrNotFound is returned when no blob has the requested Ref.
	ErrNotFound = errors.New("blob: not found")
	// ErrHashMismatch is returned by Put when the content does not hash to
	// the Ref it was stored under. Nothing is stored.
	ErrHashMismatch = errors.New("blob: content does not match its ref")
)

// Store is the contract every blob backend keeps.
//
// Durability: when Put returns nil the blob survives a crash or power loss of
// the machine holding it. Consistency: once Put has returned, Open and Stat
// from any process sharing the store see the blob (read-after-write). A blob
// is never modified or partially visible: Open returns either the complete
// content or ErrNotFound. Concurrency: all methods are safe for concurrent
// use, including concurrent Puts of the same Ref.
type Store interface {
	// Put stores the content read from r under ref. If the content does
	// not hash to ref it returns an error wrapping ErrHashMismatch and stores
	// nothing. If ref is already stored, Put returns nil and leaves the
	// stored blob untouched; it may do so without reading r to the end. An
	// error from r or ctx stores nothing.
	Put(ctx context.Context, ref Ref, r io.Reader) error

	// Open returns the content of ref, positioned at its start. Seek
	// supports range reads. It returns an error wrapping ErrNotFound if the
	// blob is absent.
	Open(ctx context.Context, ref Ref) (io.ReadSeekCloser, error)

	// Stat returns the size of ref, or an error wrapping ErrNotFound.
	Stat(ctx context.Context, ref Ref) (size int64, err error)
}

// Lister is implemented by stores that can enumerate their blobs, as the
// audit must. The order is unspecified; blobs stored during the iteration may
// or may not appear.
type Lister interface {
	List(ctx context.Context) iter.Seq2[Ref, error]
}

// Adopter is implemented by stores on the local file system. It lets ingest
// hand over a file it has already written, fsynced and hashed, without
// copying or re-reading it.
type Adopter interface {
	// Adopt makes the file at path the blob ref, typically by linking it.
	// The caller vouches that the file's SHA-256 is ref (the audit re-checks
	// it) and must not modify the file afterwards. On success the blob is
	// durable and the file is still at path, for the caller to remove once
	// its own records are durable too; if ref was already stored, the
	// stored blob is kept. The file is made read-only.
	Adopt(ctx context.Context, ref Ref, path string) error
}

// LocalPath returns a path to ref's content for a program that reads files
// (ffmpeg): the blob's own file when the store keeps one on the local
// file system, else a copy made in tmp that cleanup removes. The file
// must only be read.
func LocalPath(ctx context.Context, s Store, ref Ref, tmp string) (path string, cleanup func(), err error) {
	if p, ok := s.(interface{ Path(Ref) string }); ok {
		return p.Path(ref), func() {}, nil
	}
	r, err := s.Open(ctx, ref)
	if err != nil {
		return "", nil, err
	}
	defer r.Close()
	f, err := os.CreateTemp(tmp, "original-")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.Remove(f.Name()) }
	_, err = io.Copy(f, r)
	if err = errors.Join(err, f.Close()); err != nil {
		cleanup()
		return "", nil, err
	}
	return f.Name(), cleanup, nil
}

// StoreFile puts the finished file at path into s as ref, linking it when
// the store is on the local file system.
func StoreFile(ctx context.Context, s Store, ref Ref, path string) error {
	if a, ok := s.(Adopter); ok {
		return a.Adopt(ctx, ref, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return s.Put(ctx, ref, f)
}

// HashFile hashes a finished file that is to be stored and makes it
// durable (fsync) first, so that the ref it returns is of bytes that
// survive a crash.
func HashFile(path string) (Ref, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return Ref{}, 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err == nil {
		err = f.Sync()
	}
	return Ref(h.Sum(nil)), n, err
}
