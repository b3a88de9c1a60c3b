// Package durable makes file system changes survive a crash or a power loss.
//
// A write is durable once its data and the directory entry that names it have
// both reached the disk. On Linux that means fsync(2) on the file and fsync(2)
// on every directory whose entries changed (creat, rename, link, unlink,
// mkdir). The helpers here issue exactly those calls and nothing more, so that
// callers can reason about what is on disk when they return.
package durable

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// SyncDir fsyncs the directory dir, making the creation, renaming or removal
// of its entries durable. Given a file instead, it fails: fsync of the file
// would not make its name durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if fi, err := d.Stat(); err != nil || !fi.IsDir() {
		d.Close()
		return fmt.Errorf("fsync %s: not a directory", dir)
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return d.Close()
}

// WriteFile replaces the file at path with data atomically and durably: it
// writes a temporary file in the same directory, fsyncs it, renames it over
// path and fsyncs the directory. A crash leaves either the old content or the
// new, never a mixture.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	cleanup := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if _, err := f.Write(data); err != nil {
		return cleanup(err)
	}
	if err := f.Chmod(perm); err != nil {
		return cleanup(err)
	}
	if err := f.Sync(); err != nil {
		return cleanup(fmt.Errorf("fsync %s: %w", tmp, err))
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(dir)
}

// MkdirAll creates dir and any missing parents with perm, fsyncing each
// parent whose entries it changed.
func MkdirAll(dir string, perm fs.FileMode) error {
	dir = filepath.Clean(dir)
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := MkdirAll(parent, perm); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, perm); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		return err
	}
	return SyncDir(parent)
}

// Remove unlinks path and fsyncs its directory. A missing file is not an
// error.
func Remove(path string) error {
	if err := os.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	return SyncDir(filepath.Dir(path))
}
