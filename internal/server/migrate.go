package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/db"
	"github.com/sightline/sightline/internal/durable"
)

// Move says what `sightline migrate` moves where.
type Move struct {
	// From is the data folder of an embedded installation (SQLite and
	// blobs/), whose server is stopped. It is only read.
	From string
	// To is the new data folder: empty or missing. It receives what
	// still lives in a local folder (the log and its key, the checkpoint
	// history, uploads in progress, the server's name).
	To string
	// Database is the new records' database, a postgres:// URL; the
	// SQLite file sightline.db in To if empty.
	Database string
	// Blobs is the new blob store, an s3:// URL; To's blobs/ if empty.
	Blobs string
}

// Moved is what a Move copied.
type Moved struct {
	Rows  map[string]int64 // records, by table
	Blobs int              // blobs copied, each checked against its SHA-256
	Bytes int64            // their size
	Files int              // files copied from folder to folder
}

// Migrate copies the installation in m.From to the backends m names,
// verifying every blob's SHA-256 on the way, and leaves m.From as it was.
// It fails if either folder is in use, or if the destination already
// holds records.
func Migrate(ctx context.Context, m Move) (*Moved, error) {
	if _, err := os.Stat(KeyFile(m.From)); err != nil {
		return nil, fmt.Errorf("%s is not a Sightline data folder: %w", m.From, err)
	}
	src, err := lockData(m.From)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	if err := os.MkdirAll(m.To, 0o700); err != nil {
		return nil, err
	}
	dst, err := lockData(m.To)
	if err != nil {
		return nil, err
	}
	defer dst.Close()
	to := AuditPaths(m.To)
	for _, p := range []string{to.KeyFile, to.DB, to.Log} {
		if _, err := os.Stat(p); err == nil {
			return nil, fmt.Errorf("%s already holds an installation (%s)", m.To, filepath.Base(p))
		}
	}
	out := &Moved{}

	// Records: a copy of the SQLite file (and its write-ahead log; the
	// source is not even opened, which would change its -shm), brought up
	// to the current schema, then copied into PostgreSQL (or kept as the
	// new SQLite file).
	snapshot := to.DB
	if m.Database != "" {
		snapshot = filepath.Join(m.To, "sightline-moving.db")
		defer os.Remove(snapshot)
		defer os.Remove(snapshot + "-wal")
		defer os.Remove(snapshot + "-shm")
	}
	for _, suffix := range []string{"", "-wal"} {
		if _, err := copyTree(AuditPaths(m.From).DB+suffix, snapshot+suffix); err != nil {
			return nil, err
		}
	}
	records, err := db.OpenSQLite(ctx, snapshot)
	if err != nil {
		return nil, err
	}
	defer records.Close()
	if m.Database != "" {
		pg, err := db.OpenPostgres(ctx, m.Database)
		if err != nil {
			return nil, err
		}
		out.Rows, err = records.CopyTo(ctx, pg)
		if err = errors.Join(err, pg.Close()); err != nil {
			return nil, err
		}
	}

	// Blobs, four at a time; Put checks each against its address.
	blobs, err := OpenBlobs(ctx, m.To, m.Blobs)
	if err != nil {
		return nil, err
	}
	if err := copyBlobs(ctx, blob.ReadLocal(AuditPaths(m.From).Blobs), blobs, out); err != nil {
		return nil, err
	}

	// What lives in the data folder.
	from := AuditPaths(m.From)
	for _, c := range []struct{ from, to string }{
		{from.Log, to.Log}, {from.KeyFile, to.KeyFile}, {from.History, to.History},
		{filepath.Join(m.From, "uploads"), filepath.Join(m.To, "uploads")},
		{filepath.Join(m.From, "server-name"), filepath.Join(m.To, "server-name")},
	} {
		n, err := copyTree(c.from, c.to)
		if err != nil {
			return nil, err
		}
		out.Files += n
	}
	return out, nil
}

func copyBlobs(ctx context.Context, from *blob.Local, to blob.Store, out *Moved) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	refs := make(chan blob.Ref)
	var wg sync.WaitGroup
	var n, bytes atomic.Int64
	for range 4 {
		wg.Go(func() {
			for ref := range refs {
				f, err := os.Open(from.Path(ref))
				if err == nil {
					var fi os.FileInfo
					if fi, err = f.Stat(); err == nil {
						if err = to.Put(ctx, ref, f); err == nil {
							n.Add(1)
							bytes.Add(fi.Size())
						}
					}
					f.Close()
				}
				if err != nil {
					cancel(fmt.Errorf("blob %s: %w", ref, err))
				}
			}
		})
	}
	var err error
	for ref, lerr := range from.List(ctx) {
		if err = lerr; err != nil {
			break
		}
		select {
		case refs <- ref:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(refs)
	wg.Wait()
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	if err == nil {
		err = ctx.Err()
	}
	out.Blobs, out.Bytes = int(n.Load()), bytes.Load()
	return err
}

// copyTree copies the file or folder from to to, each file synced, and
// returns how many files it copied; nothing if from does not exist.
func copyTree(from, to string) (int, error) {
	n := 0
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == from {
			return fs.SkipAll
		}
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(to, rel)
		switch {
		case d.IsDir():
			return durable.MkdirAll(dst, 0o700)
		case d.Type().IsRegular():
			n++
			return copyFile(p, dst)
		}
		return nil // sockets, links: nothing a new server needs
	})
	return n, err
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if err = errors.Join(err, out.Close()); err != nil {
		return err
	}
	return durable.SyncDir(filepath.Dir(to))
}
