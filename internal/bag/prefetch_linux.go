package bag

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// prefetch asks the kernel to start reading [off, off+n) of r if it is a
// file, so that a disk works ahead of a reader that is busy hashing.
func prefetch(r io.Reader, off, n int64) {
	if f, ok := r.(*os.File); ok {
		unix.Fadvise(int(f.Fd()), off, n, unix.FADV_WILLNEED)
	}
}
