//go:build !linux

package bag

import "io"

// prefetch does nothing where posix_fadvise(2) does not exist.
func prefetch(r io.Reader, off, n int64) {}
