// Package bag writes a BagIt bag (RFC 8493) into a zip file as it goes:
// one top folder holding bagit.txt, bag-info.txt, a SHA-256 and a SHA-512
// manifest of every payload file under data/, and a SHA-256 tag manifest.
// Payload files are streamed into the zip as they are read (stored, not
// compressed: footage does not compress) and hashed on the way, so a bag
// of many gigabytes needs no temporary copy and bounded memory.
//
// A bag is planned before it is written: its files' names and sizes are
// known, so its length is known before a byte is written (Length), and
// the same plan gives the same bytes: entries carry one fixed time and no
// extra fields, and the tag files come in a fixed order. A download can
// then resume with Range, and two parties can compare one hash.
package bag

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"iter"
	"path"
	"strings"
	"sync"
	"time"
)

// Bag is the plan of one bag.
type Bag struct {
	// Top is the bag's folder in the zip.
	Top string
	// Info are the lines of bag-info.txt (Source-Organization, External-
	// Identifier, …), in order, after Bagging-Date; Payload-Oxum ends it.
	Info [][2]string
	// Date is the Bagging-Date.
	Date time.Time
	// Files are the payload, in the order written.
	Files []File
}

// File is one payload file.
type File struct {
	// Name is its slash-separated path under data/.
	Name string
	Size int64
	Open func() (io.ReadCloser, error)
	// SHA256, if set, is what the file must hash to: bytes that differ
	// fail the write with ErrChanged (they are hashed in any case).
	SHA256 string
	// SHA512, if set, is taken as the file's SHA-512 without hashing it
	// again (it was computed from these bytes before).
	SHA512 string
}

// ErrChanged says a payload file's bytes are not the ones planned: their
// size or SHA-256 differ.
var ErrChanged = errors.New("bag: a file is not the one planned")

// Bytes is a File holding b.
func Bytes(name string, b []byte) File {
	return File{Name: name, Size: int64(len(b)), Open: func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}}
}

// check refuses names that are not clean relative paths, or repeated.
func (b Bag) check() error {
	seen := map[string]bool{}
	for _, f := range b.Files {
		n := f.Name
		if path.Clean(n) != n || strings.HasPrefix(n, "/") || strings.HasPrefix(n, "../") || n == "." || n == ".." || seen[n] {
			return fmt.Errorf("bag: bad or repeated payload name %q", n)
		}
		if f.Size < 0 {
			return fmt.Errorf("bag: %s: negative size", n)
		}
		seen[n] = true
	}
	return nil
}

// The zip format's sizes, as archive/zip writes them: a local header and
// a data descriptor per entry, a directory header per entry, an end
// record, and the zip64 forms past 4 GiB or 65,535 entries.
const (
	localHeader   = 30
	descriptor    = 16
	descriptor64  = 24
	dirHeader     = 46
	zip64Extra    = 28
	end           = 22
	end64         = 56 + 20
	uint32max     = 1<<32 - 1
	uint16max     = 1<<16 - 1
	sha256HexLen  = 64
	sha512HexLen  = 128
	manifestSpace = 2 + 1 // "  " and "\n"
)

// Length is how many bytes WriteTo writes for b, known before any is.
func (b Bag) Length() (int64, error) {
	if err := b.check(); err != nil {
		return 0, err
	}
	var offset int64
	var dir int64
	entry := func(name string, size int64) {
		name = b.Top + "/" + name
		start := offset
		offset += localHeader + int64(len(name)) + size
		if size >= uint32max {
			offset += descriptor64
		} else {
			offset += descriptor
		}
		dir += dirHeader + int64(len(name))
		if size >= uint32max || start >= uint32max {
			dir += zip64Extra
		}
	}
	var m256, m512, tagm int64
	for _, f := range b.Files {
		entry("data/"+f.Name, f.Size)
		p := int64(len(encodePath("data/" + f.Name)))
		m256 += sha256HexLen + manifestSpace + p
		m512 += sha512HexLen + manifestSpace + p
	}
	for _, t := range []struct {
		name string
		size int64
	}{{"bagit.txt", int64(len(bagitTxt))}, {"bag-info.txt", int64(len(b.info()))}, {"manifest-sha256.txt", m256}, {"manifest-sha512.txt", m512}} {
		entry(t.name, t.size)
		tagm += sha256HexLen + manifestSpace + int64(len(t.name))
	}
	entry("tagmanifest-sha256.txt", tagm)
	records := int64(len(b.Files) + 5)
	total := offset + dir + end
	if records >= uint16max || dir >= uint32max || offset >= uint32max {
		total += end64
	}
	return total, nil
}

const bagitTxt = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"

func (b Bag) info() string {
	var octets int64
	for _, f := range b.Files {
		octets += f.Size
	}
	info := "Bagging-Date: " + b.Date.UTC().Format("2006-01-02") + "\n"
	for _, kv := range b.Info {
		info += kv[0] + ": " + strings.NewReplacer("\r", " ", "\n", " ").Replace(kv[1]) + "\n"
	}
	return info + fmt.Sprintf("Payload-Oxum: %d.%d\n", octets, len(b.Files))
}

// WriteTo writes the zipped bag to w, reading each payload file once.
func (b Bag) WriteTo(w io.Writer) (int64, error) {
	n, _, err := b.Write(w)
	return n, err
}

// Write writes the zipped bag to w, as WriteTo, and returns the zip's
// SHA-256 too, hashed on another core as it is written.
func (b Bag) Write(w io.Writer) (int64, [sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	if err := b.check(); err != nil {
		return 0, sum, err
	}
	h := newAsyncSum()
	n, err := b.write(io.MultiWriter(h, w))
	return n, [sha256.Size]byte(h.sum()), err
}

func (b Bag) write(w io.Writer) (int64, error) {
	cw := &counter{w: w}
	z := zip.NewWriter(cw)
	create := func(name string) (io.Writer, error) {
		// The MS-DOS time fields directly: Modified would add an extra
		// field with the Unix time. 0x21 is 1980-01-01, the earliest.
		return z.CreateHeader(&zip.FileHeader{Name: b.Top + "/" + name, Method: zip.Store, ModifiedDate: 0x21})
	}
	var m256, m512 strings.Builder
	for _, f := range b.Files {
		s256, s512, err := b.add(create, f)
		if err != nil {
			return cw.n, err
		}
		p := encodePath("data/" + f.Name)
		m256.WriteString(s256 + "  " + p + "\n")
		m512.WriteString(s512 + "  " + p + "\n")
	}
	tags := []struct{ name, body string }{
		{"bagit.txt", bagitTxt},
		{"bag-info.txt", b.info()},
		{"manifest-sha256.txt", m256.String()},
		{"manifest-sha512.txt", m512.String()},
	}
	var tagmanifest strings.Builder
	for _, t := range tags {
		if err := writeTag(create, t.name, t.body); err != nil {
			return cw.n, err
		}
		sum := sha256.Sum256([]byte(t.body))
		tagmanifest.WriteString(hex.EncodeToString(sum[:]) + "  " + t.name + "\n")
	}
	if err := writeTag(create, "tagmanifest-sha256.txt", tagmanifest.String()); err != nil {
		return cw.n, err
	}
	err := z.Close()
	return cw.n, err
}

// add streams f into the zip, hashing it on other cores while it is
// written and reading ahead while it is hashed, and returns its SHA-256
// and SHA-512.
func (b Bag) add(create func(string) (io.Writer, error), f File) (string, string, error) {
	w, err := create("data/" + f.Name)
	if err != nil {
		return "", "", err
	}
	rc, err := f.Open()
	if err != nil {
		return "", "", fmt.Errorf("bag: %s: %w", f.Name, err)
	}
	defer rc.Close()
	hs := []hash.Hash{sha256.New()}
	if f.SHA512 == "" {
		hs = append(hs, sha512.New())
	}
	var n int64
	for chunk, err := range readAhead(rc) {
		if err != nil {
			return "", "", fmt.Errorf("bag: %s: %w", f.Name, err)
		}
		n += int64(len(chunk))
		if n > f.Size {
			return "", "", fmt.Errorf("%w: %s is longer than %d bytes", ErrChanged, f.Name, f.Size)
		}
		if err := writeHashing(w, hs, chunk); err != nil {
			return "", "", err
		}
	}
	if n != f.Size {
		return "", "", fmt.Errorf("%w: %s is %d bytes, planned %d", ErrChanged, f.Name, n, f.Size)
	}
	s256 := hex.EncodeToString(hs[0].Sum(nil))
	if f.SHA256 != "" && s256 != f.SHA256 {
		return "", "", fmt.Errorf("%w: %s hashes to %s, planned %s", ErrChanged, f.Name, s256, f.SHA256)
	}
	s512 := f.SHA512
	if s512 == "" {
		s512 = hex.EncodeToString(hs[1].Sum(nil))
	}
	return s256, s512, nil
}

// chunk is how much is read at a time, and ahead is how many chunks are
// read ahead of the one being hashed and written: a disk and the hashes
// then work at the same time.
const (
	chunk          = 1 << 20
	ahead          = 4
	prefetchWindow = 16 * chunk
)

// readAhead yields r's bytes in chunks, read by a goroutine up to ahead
// chunks before the one yielded; a yielded chunk is valid until the next.
func readAhead(r io.Reader) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		type read struct {
			buf []byte
			err error
		}
		full := make(chan read, ahead)
		free := make(chan []byte, ahead+1)
		for range ahead + 1 {
			free <- make([]byte, chunk)
		}
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			defer close(full)
			var off int64
			for {
				// The kernel reads the window after the next chunks
				// while this goroutine waits for a free buffer.
				if off%prefetchWindow == 0 {
					prefetch(r, off+prefetchWindow, prefetchWindow)
				}
				var buf []byte
				select {
				case buf = <-free:
				case <-done:
					return
				}
				if off == 0 {
					prefetch(r, 0, prefetchWindow)
				}
				n, err := io.ReadFull(r, buf)
				off += int64(n)
				if err == io.EOF {
					return
				}
				short := err == io.ErrUnexpectedEOF
				if short {
					err = nil
				}
				select {
				case full <- read{buf[:n], err}:
				case <-done:
					return
				}
				if err != nil || short {
					return
				}
			}
		})
		// No read may be in flight once the caller closes r.
		defer func() { close(done); wg.Wait() }()
		for rd := range full {
			if !yield(rd.buf, rd.err) || rd.err != nil {
				return
			}
			free <- rd.buf[:cap(rd.buf)]
		}
	}
}

// writeHashing writes p to w while each hash takes it on a goroutine of
// its own: on a machine with cores to spare the hashes cost no time.
func writeHashing(w io.Writer, hs []hash.Hash, p []byte) error {
	var wg sync.WaitGroup
	for _, h := range hs {
		wg.Go(func() { h.Write(p) })
	}
	_, err := w.Write(p)
	wg.Wait()
	return err
}

func writeTag(create func(string) (io.Writer, error), name, body string) error {
	w, err := create(name)
	if err == nil {
		_, err = io.WriteString(w, body)
	}
	return err
}

// encodePath writes a manifest path as RFC 8493 §2.1.3 asks: CR, LF and
// % percent-encoded.
func encodePath(p string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(p)
}

// asyncSum is a SHA-256 of what is written to it, hashed by a goroutine
// of its own in chunks, so a writer that hashes what it writes is not
// slowed by it on a machine with a core to spare.
type asyncSum struct {
	cur  []byte
	in   chan []byte
	free chan []byte
	done chan []byte
	sumd []byte
}

func newAsyncSum() *asyncSum {
	a := &asyncSum{in: make(chan []byte, ahead), free: make(chan []byte, ahead+1), done: make(chan []byte, 1)}
	for range ahead + 1 {
		a.free <- make([]byte, 0, chunk)
	}
	a.cur = <-a.free
	go func() {
		h := sha256.New()
		for b := range a.in {
			h.Write(b)
			a.free <- b[:0]
		}
		a.done <- h.Sum(nil)
	}()
	return a
}

func (a *asyncSum) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := copy(a.cur[len(a.cur):cap(a.cur)], p)
		a.cur, p = a.cur[:len(a.cur)+k], p[k:]
		if len(a.cur) == cap(a.cur) {
			a.in <- a.cur
			a.cur = <-a.free
		}
	}
	return n, nil
}

// sum ends the hash and returns it; later calls return it again.
func (a *asyncSum) sum() []byte {
	if a.sumd == nil {
		a.in <- a.cur
		close(a.in)
		a.sumd = <-a.done
	}
	return a.sumd
}

type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
