package bag_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/bag"
	"github.com/sightline/sightline/internal/bag/bagtest"
)

func plan(files [][2]string) bag.Bag {
	b := bag.Bag{Top: "package-1", Date: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		Info: [][2]string{{"Source-Organization", "Sightline test"}, {"External-Identifier", "case 2026-000001"}}}
	for _, f := range files {
		b.Files = append(b.Files, bag.Bytes(f[0], []byte(f[1])))
	}
	return b
}

func write(t *testing.T, b bag.Bag) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := b.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	want, err := b.Length()
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) || n != want {
		t.Fatalf("wrote %d bytes (counted %d), Length said %d", buf.Len(), n, want)
	}
	return buf.Bytes()
}

var files = [][2]string{{"originals/a.mp4", "the first original"}, {"originals/b.webm", strings.Repeat("b", 1<<20+17)}, {"custody/entries.jsonl", "{}\n"}}

// A bag is valid by the RFC's rules, its length is known before it is
// written, and the same plan gives the same bytes.
func TestBagIsValidAndDeterministic(t *testing.T) {
	one := write(t, plan(files))
	if err := bagtest.Validate(one); err != nil {
		t.Fatal(err)
	}
	if two := write(t, plan(files)); !bytes.Equal(one, two) {
		t.Error("the same bag twice differs")
	}
	var buf bytes.Buffer
	if _, sum, err := plan(files).Write(&buf); err != nil || sum != sha256.Sum256(one) {
		t.Errorf("Write's SHA-256 is not the zip's: %v", err)
	}
	if _, err := plan([][2]string{{"../escape", ""}}).WriteTo(io.Discard); err == nil {
		t.Error("a payload name outside data/ was taken")
	}
	if _, err := plan([][2]string{{"a", ""}, {"a", ""}}).Length(); err == nil {
		t.Error("a repeated name was taken")
	}
}

// Length is exact for bags of every shape: empty files, names that need
// percent-encoding in the manifests, names outside ASCII, many files.
func TestLength(t *testing.T) {
	shapes := map[string][][2]string{
		"none":    nil,
		"empty":   {{"e", ""}},
		"encoded": {{"odd%name\nwith line", "x"}, {"ünïcödé/名前.txt", "y"}},
	}
	var many [][2]string
	for i := range 300 {
		many = append(many, [2]string{fmt.Sprintf("f/%04d", i), strings.Repeat("z", i)})
	}
	shapes["many"] = many
	for name, files := range shapes {
		b := plan(files)
		b.Info = append(b.Info, [2]string{"Internal-Sender-Description", "two\nlines"})
		if err := bagtest.Validate(write(t, b)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A file whose bytes are not the ones planned fails the write: longer,
// shorter, or another SHA-256. A SHA-512 given is used as it is.
func TestPlannedBytes(t *testing.T) {
	data := []byte("the original bytes")
	sum := sha256.Sum256(data)
	f := bag.Bytes("o", data)
	f.SHA256 = hex.EncodeToString(sum[:])
	for name, change := range map[string]func(*bag.File){
		"longer":  func(f *bag.File) { f.Size-- },
		"shorter": func(f *bag.File) { f.Size++ },
		"other":   func(f *bag.File) { f.SHA256 = strings.Repeat("0", 64) },
	} {
		g := f
		change(&g)
		if _, err := (bag.Bag{Top: "t", Files: []bag.File{g}}).WriteTo(io.Discard); !errors.Is(err, bag.ErrChanged) {
			t.Errorf("%s: %v, want ErrChanged", name, err)
		}
	}
	f.SHA512 = strings.Repeat("ab", 64)
	var buf bytes.Buffer
	if _, err := (bag.Bag{Top: "t", Files: []bag.File{f}}).WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(buf.Bytes(), []byte(f.SHA512+"  data/o\n")) {
		t.Error("the SHA-512 given is not in the manifest")
	}
}

// Each tamper with a zipped bag is caught by the validator: a byte of a
// payload file, a file added to data/.
func TestValidatorCatchesTampering(t *testing.T) {
	good := write(t, plan(files))
	flip := bytes.Clone(good)
	i := bytes.Index(flip, []byte("the first original"))
	flip[i] ^= 1
	// A stored entry's CRC no longer matches: the zip reader refuses it,
	// or the manifest does.
	if bagtest.Validate(flip) == nil {
		t.Error("a changed payload byte passed")
	}
	extra := write(t, plan(append(files[:len(files):len(files)], [2]string{"originals/unlisted.mp4", "x"})))
	// Drop the added file's lines from the manifests by rebuilding them
	// from the good bag's: the file is then in data/ but not listed.
	zr, _ := zip.NewReader(bytes.NewReader(extra), int64(len(extra)))
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	goodR, _ := zip.NewReader(bytes.NewReader(good), int64(len(good)))
	manifests := map[string]*zip.File{}
	for _, f := range goodR.File {
		manifests[f.Name] = f
	}
	for _, f := range zr.File {
		src := f
		if strings.Contains(f.Name, "manifest") {
			src = manifests[f.Name]
		}
		w, _ := zw.Create(f.Name)
		rc, _ := src.Open()
		io.Copy(w, rc)
		rc.Close()
	}
	zw.Close()
	if err := bagtest.Validate(buf.Bytes()); err == nil || !strings.Contains(err.Error(), "not listed") {
		t.Errorf("a file added to data/: %v", err)
	}
}
