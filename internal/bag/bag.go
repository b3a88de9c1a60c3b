// Package bag writes a BagIt bag (RFC 8493) into a zip file as it goes:
// one top folder holding bagit.txt, bag-info.txt, a SHA-256 and a SHA-512
// manifest of every payload file under data/, and a SHA-256 tag manifest.
// Payload files are streamed into the zip as they are read (stored, not
// compressed: footage does not compress) and hashed on the way, so a bag
// of many gigabytes needs no temporary copy and bounded memory.
//
// The same files added in the same order give the same bytes: entries
// carry one fixed time and no extra fields, and the tag files are written
// in a fixed order. A download can then resume with Range, and two
// parties can compare one hash.
package bag

import (
	"archive/zip"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

// epoch is the time every entry carries: the zip format's earliest.
var epoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// Writer writes one bag.
type Writer struct {
	z        *zip.Writer
	top      string
	info     [][2]string
	payload  []sums // in the order added
	octets   int64
	closed   bool
	seenPath map[string]bool
}

type sums struct {
	path           string // under the top folder: data/…
	sha256, sha512 string
}

// New starts a bag whose top folder is top, written to w.
func New(w io.Writer, top string) *Writer {
	return &Writer{z: zip.NewWriter(w), top: top, seenPath: map[string]bool{}}
}

// Info adds a line to bag-info.txt (Source-Organization, External-
// Identifier, …), in the order given; Bagging-Date and Payload-Oxum are
// added by Close.
func (b *Writer) Info(label, value string) {
	b.info = append(b.info, [2]string{label, value})
}

// Add streams r into the bag as the payload file data/name and hashes it.
// Names are slash-separated paths; each may be added once.
func (b *Writer) Add(name string, r io.Reader) (int64, error) {
	if b.closed {
		return 0, errors.New("bag: closed")
	}
	clean := path.Clean(name)
	if clean != name || strings.HasPrefix(name, "/") || strings.HasPrefix(name, "../") || name == "." || b.seenPath[name] {
		return 0, fmt.Errorf("bag: bad or repeated payload name %q", name)
	}
	b.seenPath[name] = true
	w, err := b.create("data/" + name)
	if err != nil {
		return 0, err
	}
	h256, h512 := sha256.New(), sha512.New()
	n, err := io.Copy(io.MultiWriter(w, h256, h512), r)
	if err != nil {
		return n, fmt.Errorf("bag: %s: %w", name, err)
	}
	b.octets += n
	b.payload = append(b.payload, sums{"data/" + name, hex.EncodeToString(h256.Sum(nil)), hex.EncodeToString(h512.Sum(nil))})
	return n, nil
}

func (b *Writer) create(name string) (io.Writer, error) {
	return b.z.CreateHeader(&zip.FileHeader{Name: b.top + "/" + name, Method: zip.Store, Modified: epoch})
}

// Close writes the tag files and the zip's directory. date is the
// Bagging-Date (a fixed one keeps the bytes the same).
func (b *Writer) Close(date time.Time) error {
	if b.closed {
		return nil
	}
	b.closed = true
	info := "Bagging-Date: " + date.UTC().Format("2006-01-02") + "\n"
	for _, kv := range b.info {
		info += kv[0] + ": " + strings.ReplaceAll(kv[1], "\n", " ") + "\n"
	}
	info += fmt.Sprintf("Payload-Oxum: %d.%d\n", b.octets, len(b.payload))
	manifest := func(pick func(sums) string) string {
		var m strings.Builder
		for _, s := range b.payload {
			m.WriteString(pick(s) + "  " + encodePath(s.path) + "\n")
		}
		return m.String()
	}
	tags := []struct{ name, body string }{
		{"bagit.txt", "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"},
		{"bag-info.txt", info},
		{"manifest-sha256.txt", manifest(func(s sums) string { return s.sha256 })},
		{"manifest-sha512.txt", manifest(func(s sums) string { return s.sha512 })},
	}
	var tagmanifest strings.Builder
	for _, t := range tags {
		if err := b.writeTag(t.name, t.body); err != nil {
			return err
		}
		sum := sha256.Sum256([]byte(t.body))
		tagmanifest.WriteString(hex.EncodeToString(sum[:]) + "  " + t.name + "\n")
	}
	if err := b.writeTag("tagmanifest-sha256.txt", tagmanifest.String()); err != nil {
		return err
	}
	return b.z.Close()
}

func (b *Writer) writeTag(name, body string) error {
	w, err := b.create(name)
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
