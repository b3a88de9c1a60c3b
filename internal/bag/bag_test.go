package bag_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/bag"
)

func write(t *testing.T, files [][2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	b := bag.New(&buf, "package-1")
	b.Info("Source-Organization", "Sightline test")
	b.Info("External-Identifier", "case 2026-000001")
	for _, f := range files {
		if _, err := b.Add(f[0], strings.NewReader(f[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// validate checks a zipped bag by RFC 8493's rules alone, written apart
// from the writer: one top folder; bagit.txt as §2.1.1 gives it; every
// payload file in every manifest with the right digest, and no manifest
// line without its file; the tag manifest holds for the tag files; the
// Payload-Oxum counts the payload.
func validate(zipped []byte) error {
	zr, err := zip.NewReader(bytes.NewReader(zipped), int64(len(zipped)))
	if err != nil {
		return err
	}
	files := map[string][]byte{}
	top := ""
	for _, f := range zr.File {
		first, rest, ok := strings.Cut(f.Name, "/")
		if !ok || rest == "" {
			return fmt.Errorf("%s: not inside a top folder", f.Name)
		}
		if top == "" {
			top = first
		} else if first != top {
			return fmt.Errorf("two top folders: %s and %s", top, first)
		}
		rc, err := f.Open()
		if err != nil {
			return err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		files[rest] = b
	}
	if string(files["bagit.txt"]) != "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n" {
		return fmt.Errorf("bagit.txt: %q", files["bagit.txt"])
	}
	digest := map[string]func([]byte) string{
		"sha256": func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) },
		"sha512": func(b []byte) string { s := sha512.Sum512(b); return hex.EncodeToString(s[:]) },
	}
	check := func(manifest string, alg string, payload bool) error {
		listed := map[string]bool{}
		for _, line := range strings.Split(strings.TrimSuffix(string(files[manifest]), "\n"), "\n") {
			sum, name, ok := strings.Cut(line, "  ")
			if !ok {
				return fmt.Errorf("%s: line %q", manifest, line)
			}
			b, ok := files[name]
			if !ok {
				return fmt.Errorf("%s lists %s, which is not in the bag", manifest, name)
			}
			if digest[alg](b) != sum {
				return fmt.Errorf("%s: %s does not hash to %s", manifest, name, sum)
			}
			listed[name] = true
		}
		if payload {
			for name := range files {
				if strings.HasPrefix(name, "data/") && !listed[name] {
					return fmt.Errorf("%s: %s is in data/ but not listed", manifest, name)
				}
			}
		}
		return nil
	}
	for _, m := range []struct{ file, alg string }{{"manifest-sha256.txt", "sha256"}, {"manifest-sha512.txt", "sha512"}} {
		if err := check(m.file, m.alg, true); err != nil {
			return err
		}
	}
	if err := check("tagmanifest-sha256.txt", "sha256", false); err != nil {
		return err
	}
	octets, count := 0, 0
	for name, b := range files {
		if strings.HasPrefix(name, "data/") {
			octets += len(b)
			count++
		}
	}
	if want := fmt.Sprintf("Payload-Oxum: %d.%d\n", octets, count); !strings.Contains(string(files["bag-info.txt"]), want) {
		return fmt.Errorf("bag-info.txt lacks %q:\n%s", want, files["bag-info.txt"])
	}
	return nil
}

var files = [][2]string{{"originals/a.mp4", "the first original"}, {"originals/b.webm", strings.Repeat("b", 1<<20)}, {"custody/entries.jsonl", "{}\n"}}

// A bag is valid by the RFC's rules, and the same files in the same
// order give the same bytes.
func TestBagIsValidAndDeterministic(t *testing.T) {
	one := write(t, files)
	if err := validate(one); err != nil {
		t.Fatal(err)
	}
	if two := write(t, files); !bytes.Equal(one, two) {
		t.Error("the same bag twice differs")
	}
	if _, err := bag.New(io.Discard, "x").Add("../escape", strings.NewReader("")); err == nil {
		t.Error("a payload name outside data/ was taken")
	}
}

// Each tamper with a zipped bag is caught by the validator: a byte of a
// payload file, a manifest line, a file added to data/.
func TestValidatorCatchesTampering(t *testing.T) {
	good := write(t, files)
	flip := bytes.Clone(good)
	i := bytes.Index(flip, []byte("the first original"))
	flip[i] ^= 1
	// A stored entry's CRC no longer matches: the zip reader refuses it,
	// or the manifest does.
	if validate(flip) == nil {
		t.Error("a changed payload byte passed")
	}
	extra := write(t, append(files[:len(files):len(files)], [2]string{"originals/unlisted.mp4", "x"}))
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
	if err := validate(buf.Bytes()); err == nil || !strings.Contains(err.Error(), "not listed") {
		t.Errorf("a file added to data/: %v", err)
	}
}
