package blob

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"syscall"

	"github.com/sightline/sightline/internal/durable"
)

// Local is a Store in a directory of the local file system:
//
//	ROOT/sha256/ab/abcdef…   one read-only file per blob (fan-out by the first byte)
//	ROOT/tmp/                 blobs being written; removed or renamed, never read
//
// It must be on a file system with POSIX rename and link semantics and
// honest fsync (ext4, XFS, ZFS; not NFS).
type Local struct {
	root string
}

var (
	_ Store   = (*Local)(nil)
	_ Lister  = (*Local)(nil)
	_ Adopter = (*Local)(nil)
)

// NewLocal opens or creates a Local store rooted at dir.
func NewLocal(dir string) (*Local, error) {
	l := &Local{root: dir}
	for _, d := range []string{l.objects(), l.tmp()} {
		if err := durable.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("blob: %w", err)
		}
	}
	// Leftovers of Puts cut short by a crash were never visible; drop them.
	if ents, err := os.ReadDir(l.tmp()); err == nil {
		for _, e := range ents {
			os.Remove(filepath.Join(l.tmp(), e.Name()))
		}
	}
	return l, nil
}

// ReadLocal is the Local store in dir, for reading what it holds: unlike
// NewLocal it creates and clears nothing.
func ReadLocal(dir string) *Local { return &Local{root: dir} }

func (l *Local) objects() string { return filepath.Join(l.root, "sha256") }
func (l *Local) tmp() string     { return filepath.Join(l.root, "tmp") }

// Path returns where ref's file is, whether or not it exists. Media tools
// read blobs through it rather than through a pipe, so they can seek.
func (l *Local) Path(ref Ref) string {
	h := ref.String()
	return filepath.Join(l.objects(), h[:2], h)
}

// Put implements Store.
func (l *Local) Put(ctx context.Context, ref Ref, r io.Reader) error {
	if _, err := os.Stat(l.Path(ref)); err == nil {
		return nil
	}
	f, err := os.CreateTemp(l.tmp(), "put-*")
	if err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once the file has been linked and unlinked
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), ctxReader{ctx, r})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("blob: put %s: %w", ref, err)
	}
	if got := Ref(h.Sum(nil)); got != ref {
		return fmt.Errorf("blob: put %s: content hashes to %s: %w", ref, got, ErrHashMismatch)
	}
	return l.place(ref, tmp)
}

// Adopt implements Adopter.
func (l *Local) Adopt(ctx context.Context, ref Ref, path string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Chmod(path, 0o400); err != nil {
		return fmt.Errorf("blob: adopt %s: %w", ref, err)
	}
	err := l.link(ref, path)
	if errors.Is(err, syscall.EXDEV) {
		// Another file system: fall back to a verified copy.
		f, oerr := os.Open(path)
		if oerr != nil {
			return fmt.Errorf("blob: adopt %s: %w", ref, oerr)
		}
		defer f.Close()
		return l.Put(ctx, ref, f)
	}
	return err
}

// place links the complete, fsynced temporary file src into place as ref
// and removes src.
func (l *Local) place(ref Ref, src string) error {
	if err := os.Chmod(src, 0o400); err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	if err := l.link(ref, src); err != nil {
		return err
	}
	return os.Remove(src) // a leftover would be cleared at the next start
}

// link makes src durably visible as ref. Linking, unlike renaming, never
// replaces a blob that is already there, so concurrent writers of one ref
// cannot disturb a reader.
func (l *Local) link(ref Ref, src string) error {
	dst := l.Path(ref)
	if err := durable.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	if err := os.Link(src, dst); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("blob: store %s: %w", ref, err)
	}
	if err := durable.SyncDir(filepath.Dir(dst)); err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	return nil
}

// Open implements Store.
func (l *Local) Open(ctx context.Context, ref Ref) (io.ReadSeekCloser, error) {
	f, err := os.Open(l.Path(ref))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", ref, ErrNotFound)
	}
	return f, err
}

// Stat implements Store.
func (l *Local) Stat(ctx context.Context, ref Ref) (int64, error) {
	fi, err := os.Stat(l.Path(ref))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("blob %s: %w", ref, ErrNotFound)
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// List implements Lister.
func (l *Local) List(ctx context.Context) iter.Seq2[Ref, error] {
	return func(yield func(Ref, error) bool) {
		fans, err := os.ReadDir(l.objects())
		if err != nil {
			yield(Ref{}, err)
			return
		}
		for _, fan := range fans {
			ents, err := os.ReadDir(filepath.Join(l.objects(), fan.Name()))
			if err != nil {
				if !yield(Ref{}, err) {
					return
				}
				continue
			}
			for _, e := range ents {
				if err := ctx.Err(); err != nil {
					yield(Ref{}, err)
					return
				}
				ref, err := ParseRef(e.Name())
				if err != nil {
					err = fmt.Errorf("blob: stray file %s: %w", filepath.Join(fan.Name(), e.Name()), err)
				}
				if !yield(ref, err) {
					return
				}
			}
		}
	}
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
